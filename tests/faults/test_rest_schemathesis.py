"""Schemathesis drives the REST API from its own OpenAPI document: no request, however odd,
may get a 5xx, hang, or an answer that breaks the documented schema or content type."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from tests.faults.support import NO_RATE_LIMITS_ENV
from tests.http.api import create_session
from tests.process import server_process

MAX_EXAMPLES = 10  # per operation and phase; the whole run stays well under a minute
REQUEST_TIMEOUT_SECONDS = 5  # every endpoint answers in milliseconds; a hang is a failure
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def schemathesis_command() -> list[str]:
    beside = Path(sys.executable).with_name("st")
    found = str(beside) if beside.exists() else shutil.which("st")
    assert found, "schemathesis is not installed: pip install -e '.[dev]'"
    return [found]


async def test_rest_api_honours_its_openapi_document(sqlite_url: str, tmp_path: Path) -> None:
    async with server_process(sqlite_url, **NO_RATE_LIMITS_ENV) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            created = await create_session(http, code="print('hello')\n")
        # Path parameters that name this session reach the handlers instead of 401/404 only.
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'[parameters]\n"path.session_id" = "{created.id}"\n')
        command = [
            *schemathesis_command(),
            "--config-file",
            str(config),
            "run",
            f"{server.base_url}/api/v1/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {created.token}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--request-timeout",
            str(REQUEST_TIMEOUT_SECONDS),
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ]
        with trio.fail_after(150):
            result = await trio.run_process(
                command, cwd=tmp_path, capture_stdout=True, stderr=subprocess.STDOUT, check=False
            )
    report = result.stdout.decode(errors="replace")
    print(report)
    headers = (report.find(" ERRORS ="), report.find(" FAILURES ="))
    problems = report[min((at for at in headers if at >= 0), default=0) :]
    assert result.returncode == 0, (
        f"schemathesis found problems (exit {result.returncode}):\n{problems[-12_000:]}"
    )
