"""Reading what a server stored, from the test's side, with one store for the whole wait."""

from __future__ import annotations

import trio

from codeinterview.config import parse_database_url
from codeinterview.storage import open_store

POLL_SECONDS = 0.02


async def stored_code(database_url: str, session_id: str) -> str:
    async with open_store(parse_database_url(database_url)) as store:
        state = await store.load_document(session_id)
    assert state is not None
    return state.code


async def wait_until_stored(database_url: str, session_id: str, expected: str, timeout: float = 10) -> float:
    """Seconds until `expected` was the stored code (polled: a row appearing has no event)."""
    started = trio.current_time()
    async with open_store(parse_database_url(database_url)) as store:
        with trio.fail_after(timeout):
            while True:
                state = await store.load_document(session_id)
                if state is not None and state.code == expected:
                    return trio.current_time() - started
                await trio.sleep(POLL_SECONDS)
