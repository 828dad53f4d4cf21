"""Less memory per open WebSocket in Hypercorn: what an idle connection keeps but no longer needs.

An idle connection holds everything its coroutines and Hypercorn's per-connection objects refer
to for as long as it is open, and a server holds thousands of them (bench/RESULTS.md, scenario 2).
Measured with tracemalloc per idle connection:

1. `ASGIWrapper.__call__` awaits the app, so its coroutine frame (240 B) sits on every
   connection's stack. The replacement returns the app's coroutine for Hypercorn's `_handle` to
   await, which every caller of the wrapper does.
2. Once a WebSocket is accepted, Hypercorn's HTTP/1.1 side keeps the h11 parser (about 1.3 KB
   with its buffer and state tables) only to send HTTP responses, which an accepted WebSocket
   never sends again (frames go out as raw data), and the handshake (the request headers, key
   and offered extensions), of which only `accepted` is read again. `release_handshake` lets
   both go.
3. Two queues that hold a few items at most are deques, and an empty deque keeps a 64-slot
   block (about 600 bytes): wsproto's pending events (one close event at most) and the app's
   inbound queue (Hypercorn's `max_app_queue_size`, 10). `release_handshake` moves both into a
   list that answers `popleft`; popping the front of so short a list costs nothing to speak of.

The ASGI scope is trimmed by our socket itself (`Socket.settle`), which calls `release_handshake`.

Checked against the source of the versions `hypercorn_guard` supports; any other version keeps
Hypercorn's own code, as with `hypercorn_fastpath`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from hypercorn import app_wrappers
from hypercorn.protocol.h11 import H11WSConnection
from trio._channel import MemoryChannelState

from codeinterview.http.hypercorn_fastpath import h11_websocket
from codeinterview.http.hypercorn_guard import SUPPORTED_VERSIONS


class _Accepted:
    """Stands in for an accepted handshake: `WSStream` only reads `accepted` afterwards."""

    __slots__ = ()
    accepted = True


_ACCEPTED = _Accepted()


class _ShortQueue(list[Any]):
    """A deque's `append`, `popleft` and `clear` on a list, for queues of a few items."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def _call_app(
    self: app_wrappers.ASGIWrapper,
    scope: Any,
    receive: Any,
    send: Any,
    sync_spawn: Callable[..., Any],
    call_soon: Callable[..., Any],
) -> Awaitable[None]:
    return self.app(scope, receive, send)


def release_handshake(asgi_send: Any) -> None:
    """Let go of the handshake state of an accepted WebSocket whose ASGI `send` is Hypercorn's
    own over HTTP/1.1; anything else is left as it is."""
    found = h11_websocket(asgi_send)
    if not _installed or found is None:
        return
    stream, h11 = found
    if not stream.handshake.accepted or type(h11.connection) is not H11WSConnection:
        return
    h11.connection.h11_connection = None  # type: ignore[assignment]
    stream.handshake = _ACCEPTED  # type: ignore[assignment]
    _shorten(stream.connection, "_events")
    app_queue = getattr(getattr(stream.app_put, "__self__", None), "_state", None)
    if type(app_queue) is MemoryChannelState and app_queue.max_buffer_size <= _SHORT:
        _shorten(app_queue, "data")


_SHORT = 16  # the longest queue `_ShortQueue` stands in for


def _shorten(holder: object, name: str) -> None:
    queue = getattr(holder, name, None)
    if type(queue) is deque:
        setattr(holder, name, _ShortQueue(queue))


_installed = False


def install() -> None:
    global _installed
    if version("hypercorn").startswith(SUPPORTED_VERSIONS):
        app_wrappers.ASGIWrapper.__call__ = _call_app  # type: ignore[assignment, method-assign]
        _installed = True
