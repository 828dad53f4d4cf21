"""ASGI middleware: an HTTP response starts only once its request's body has arrived, so that a
keep-alive connection can carry the next request; when the body is too big to wait for, the
response says `Connection: close` instead.

Why: when a response ends before the request body has been received (a 405, an OPTIONS, a
refused content type: answers that never read the body), Hypercorn cannot start the next cycle
and closes the connection instead (hypercorn/protocol/h11.py:271-289, `_maybe_recycle`), without
having said so in the response. That close runs in the app's own task, just after the
`http.disconnect` put of `_close_stream` (h11.py:291-294), and quart-trio cancels the app's task
group as soon as that disconnect arrives (quart_trio/asgi.py:36-40); the cancellation lands at
the checkpoint in `send_eof` of TCPServer._close (trio/tcp_server.py:117-129), so the socket is
never closed. The stream is gone, `_handle_events` drops what follows (h11.py:179-180), and the
client sends its next request on that connection and waits for an answer that never comes.
Quart reads every body it is sent (its `handle_messages` drains it until the response is out),
so waiting here costs no buffering. A `Connection: close` answer still meets the cancelled
close, but the client then ends the connection itself.
"""

from __future__ import annotations

import trio
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Scope,
)

# HTTP/2 streams have no connection to close (and forbid the header).
KEEP_ALIVE_VERSIONS = frozenset({"1.0", "1.1"})
# Bodies arrive in milliseconds; a client still sending after this is answered and let go.
# Well under Quart's RESPONSE_TIMEOUT (60 s), which also bounds sending the response.
BODY_WAIT_SECONDS = 10.0


class _Body:
    """How much of one request's body has arrived; `settled` once all of it has, or too much."""

    def __init__(self, declared: int | None, max_bytes: int) -> None:
        self.received = 0
        self.max_bytes = max_bytes
        self.complete = False
        self.settled = trio.Event()
        if declared is not None and declared > max_bytes:
            self.settled.set()

    def saw(self, message: ASGIReceiveEvent) -> None:
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self.complete = True
        if self.complete or self.received > self.max_bytes:
            self.settled.set()


class ResponseAfterBody:
    """Wraps an ASGI app; WebSocket and lifespan pass through untouched."""

    def __init__(self, app: ASGIFramework, max_body_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes  # a bigger body is refused, not waited for
        self.timeout = timeout  # for a client that stops sending its body

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http" or scope["http_version"] not in KEEP_ALIVE_VERSIONS:
            await self.app(scope, receive, send)
            return
        body = _Body(_declared_length(scope), self.max_body_bytes)

        async def watched_receive() -> ASGIReceiveEvent:
            message = await receive()
            body.saw(message)
            return message

        async def send_after_body(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and not body.complete:
                with trio.move_on_after(self.timeout):
                    await body.settled.wait()
                if not body.complete:
                    message = _closing(message)
            await send(message)

        await self.app(scope, watched_receive, send_after_body)


def _declared_length(scope: HTTPScope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def _closing(message: HTTPResponseStartEvent) -> HTTPResponseStartEvent:
    return {**message, "headers": [*message["headers"], (b"connection", b"close")]}
