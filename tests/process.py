"""The server as a real child process, for tests that kill or restart it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from tests.http.conftest import TEST_SECRET

READY = re.compile(rb"Running on (http://[\d.]+:\d+)")
START_SECONDS = 30


@dataclass
class ServerProcess:
    process: trio.Process
    base_url: str
    output: bytearray = field(default_factory=bytearray)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)


@asynccontextmanager
async def server_process(database_url: str, **settings: str) -> AsyncIterator[ServerProcess]:
    env = {**os.environ, "SECRET_KEY": TEST_SECRET, "DATABASE_URL": database_url}
    env.update({key.upper(): value for key, value in settings.items()})
    command = [sys.executable, "-m", "codeinterview.cli", "serve", "--port", "0"]
    process = await trio.lowlevel.open_process(command, env=env, stderr=subprocess.PIPE)
    output = bytearray()
    try:
        async with trio.open_nursery() as nursery:
            base_url = await nursery.start(_read_until_ready, process, output)
            yield ServerProcess(process, base_url, output)
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def _read_until_ready(
    process: trio.Process, output: bytearray, *, task_status: trio.TaskStatus[str]
) -> None:
    assert process.stderr is not None
    with trio.fail_after(START_SECONDS):
        while (match := READY.search(output)) is None:
            chunk = await process.stderr.receive_some()
            if not chunk:
                raise RuntimeError(f"server exited before it was ready:\n{output.decode(errors='replace')}")
            output.extend(chunk)
    task_status.started(match.group(1).decode())
    while chunk := await process.stderr.receive_some():
        output.extend(chunk)
