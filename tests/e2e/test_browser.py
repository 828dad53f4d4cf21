"""Browser end-to-end test: two Chromium contexts (interviewer and candidate) drive the real web
client against a real server (Hypercorn, SQLite), through tests/e2e/browser.mjs (playwright-core).

Needs /usr/bin/chromium and Node.js >= 20 with web/node_modules; scripts/browser-deps.sh installs
what is missing where it can. Without them this test fails; it never skips.
Screenshots and the browser log are kept in test-artifacts/e2e/ (git-ignored) for CI to collect.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from codeinterview.config import Settings
from codeinterview.http.app import create_app
from codeinterview.server import drain_then_stop, hypercorn_config, serve_app

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SCRIPT = Path(__file__).resolve().with_name("browser.mjs")
DEPS_SCRIPT = ROOT / "scripts" / "browser-deps.sh"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
SECRET = "e2e-secret-key-that-is-long-enough-for-hs256"
# browser.mjs gives up by itself after 100 s; this bound also covers Node's and Chromium's start.
RUN_SECONDS = 120
# apt-get install chromium + npm ci on a fresh machine.
DEPS_SECONDS = 1800
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OUTPUT_FILES = ("interviewer.png", "candidate.png", "failure-interviewer.png", "failure-candidate.png", "browser.log")


@pytest.fixture(scope="session")
def node() -> str:
    """Runs scripts/browser-deps.sh once per session; fails (never skips) with its message."""
    try:
        result = subprocess.run(
            ["bash", str(DEPS_SCRIPT)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=DEPS_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"scripts/browser-deps.sh did not finish in {DEPS_SECONDS} s:\n{error.output or ''}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(
            f"scripts/browser-deps.sh exited with {result.returncode}; the browser test cannot run:\n{result.stdout}",
            pytrace=False,
        )
    if result.stdout:
        print(result.stdout)  # what it installed; shown with -rP or on failure
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH after scripts/browser-deps.sh", pytrace=False)
    return found


@pytest.fixture
async def base_url(sqlite_url: str) -> AsyncIterator[str]:
    """A real server over a fresh SQLite database, on the real clock (the browser waits in real time)."""
    async with trio.open_nursery() as nursery:
        settings = Settings(database_url=sqlite_url, secret_key=SECRET)
        app = create_app(settings)
        stop = trio.Event()
        config = hypercorn_config(settings, "127.0.0.1", 0)
        binds = await nursery.start(partial(serve_app, app, config, shutdown_trigger=drain_then_stop(app, stop.wait)))
        yield binds[0]
        stop.set()


async def run_browser(node: str, base_url: str) -> dict[str, object]:
    """Runs browser.mjs; returns its JSON line, or fails with its log (kept in browser.log)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        (ARTIFACTS / name).unlink(missing_ok=True)
    log_path = ARTIFACTS / "browser.log"
    command = [node, str(SCRIPT), base_url, str(ARTIFACTS)]
    try:
        with log_path.open("wb") as log, trio.fail_after(RUN_SECONDS):
            result = await trio.run_process(command, cwd=WEB, stderr=log, capture_stdout=True, check=False)
    except trio.TooSlowError:
        pytest.fail(
            f"browser.mjs did not finish in {RUN_SECONDS} s\n--- browser log ---\n{log_path.read_text(errors='replace')}",
            pytrace=False,
        )
    stdout = result.stdout.decode(errors="replace")
    report = f"\n--- browser log ({log_path}) ---\n{log_path.read_text(errors='replace')}\n--- stdout ---\n{stdout}"
    if result.returncode != 0:
        pytest.fail(f"browser.mjs exited with {result.returncode}{report}", pytrace=False)
    lines = stdout.strip().splitlines()
    assert lines, f"browser.mjs printed nothing{report}"
    output: dict[str, object] = json.loads(lines[-1])
    return output


async def test_interviewer_and_candidate_collaborate_in_two_browsers(node: str, base_url: str) -> None:
    result = await run_browser(node, base_url)
    typed = result["typed"]
    assert isinstance(typed, dict)
    text_a, text_b = result["textA"], result["textB"]

    # Both editors converged on one text holding both concurrent edits, each where it was typed.
    assert text_a == text_b
    assert isinstance(text_a, str) and typed["a"] in text_a and typed["b"] in text_a
    assert text_a == typed["a"] + typed["seed"] + typed["b"]
    # ... and the two typing runs really overlapped in time.
    timings = result["timings"]
    assert isinstance(timings, dict)
    typing = timings["typing"]
    assert typing["interviewer"]["start"] < typing["candidate"]["end"], typing
    assert typing["candidate"]["start"] < typing["interviewer"]["end"], typing
    assert result["languages"] == {"interviewer": "html", "candidate": "html"}

    # The server holds what the browsers show, and the language the interviewer picked last.
    session_id = result["sessionId"]
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        for token in (result["token"], result["candidateToken"]):
            response = await http.get(
                f"/api/v1/sessions/{session_id}/code", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            assert data["code"] == text_a
            assert data["language"] == "html"

    for name in ("interviewer.png", "candidate.png"):
        screenshot = ARTIFACTS / name
        assert screenshot.is_file(), f"missing screenshot {screenshot}"
        assert screenshot.read_bytes()[:8] == PNG_MAGIC, f"{screenshot} is not a PNG"

    # No uncaught exception in either page; Chromium's "Failed to load resource" lines for 4xx
    # API replies are expected and ignored.
    assert result["pageErrors"] == []
    console_errors = result["consoleErrors"]
    assert isinstance(console_errors, list)
    assert [e for e in console_errors if "Failed to load resource" not in e["text"]] == []
