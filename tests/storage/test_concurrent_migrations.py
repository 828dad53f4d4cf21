"""Several nodes starting at once all migrate the same PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import make_url

from tests.conftest import DEFAULT_TEST_DATABASE_URL, _admin


def test_concurrent_migrations_all_succeed(postgres_url: str) -> None:
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    name = f"codeinterview_migrate_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    command = [sys.executable, "-m", "codeinterview.cli", "migrate", "--database-url", url]
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: subprocess.run(command, capture_output=True, text=True, timeout=120), range(4)))
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr[-800:] for r in results]
