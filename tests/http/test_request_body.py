"""Answers that never read the request body (codeinterview/http/request_body.py): the keep-alive
connection carries the next request; a body too big to wait for gets `Connection: close`."""

from __future__ import annotations

import json
from typing import cast

import pytest
import trio
import trio.testing
from hypercorn.typing import ASGIReceiveCallable, ASGIReceiveEvent, ASGISendCallable, ASGISendEvent, Scope

from codeinterview.http.request_body import ResponseAfterBody
from tests.http.conftest import Server, StartServer
from tests.http.raw import raw_http

ANSWER_SECONDS = 5  # milliseconds in fact; without the repair, never
JSON_BODY = json.dumps({"code": "", "language": None}).encode()
MULTIPART = "multipart/form-data; boundary=xyz"
MULTIPART_BODY = b'--xyz\r\nContent-Disposition: form-data; name="code"\r\n\r\nx\r\n--xyz--\r\n'


@pytest.mark.parametrize(
    ("method", "path", "content_type", "body", "status"),
    [
        pytest.param("PATCH", "/api/v1/sessions", "application/json", JSON_BODY, 405, id="405"),
        pytest.param("TRACE", "/api/v1/sessions", "application/json", JSON_BODY, 405, id="TRACE"),
        pytest.param("OPTIONS", "/api/v1/sessions", "application/json", JSON_BODY, 200, id="OPTIONS"),
        pytest.param("POST", "/api/v1/sessions", MULTIPART, MULTIPART_BODY, 422, id="multipart"),
    ],
)
async def test_keep_alive_after_an_answer_that_did_not_wait_for_the_body(
    server: Server, method: str, path: str, content_type: str, body: bytes, status: int
) -> None:
    async with raw_http(server.base_url) as http:
        with trio.fail_after(ANSWER_SECONDS):
            headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            await http.send_head(method, path, headers)
            # The body is late (its own TCP segment): the app has answered, or is waiting.
            await trio.testing.wait_all_tasks_blocked()
            await http.send_body(body)
            answer = await http.answer()
            assert answer.status == status, answer
            assert answer.headers.get(b"connection") != b"close"
            assert (await http.request("GET", "/api/v1/health")).status == 200


async def test_a_body_over_the_limit_is_refused_without_waiting(start_server: StartServer) -> None:
    server = await start_server(max_body_bytes=1024)
    async with raw_http(server.base_url) as http:
        with trio.fail_after(ANSWER_SECONDS):
            headers = [("Content-Type", "application/json"), ("Content-Length", "4096")]
            await http.send_head("POST", "/api/v1/sessions", headers)
            answer = await http.answer()  # before any of the body was sent
    assert answer.status == 413, answer
    assert answer.headers.get(b"connection") == b"close"


# -- the middleware alone, on trio's mock clock ---------------------------------------------


async def answer_at_once(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Answers without reading the body, which goes on being received meanwhile, as in Quart."""

    async def drain() -> None:
        while True:
            await receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain)
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        nursery.cancel_scope.cancel()


async def answer_to_a_late_body(rest_after: float | None) -> ASGISendEvent:
    """The response start sent for a 10-byte body whose second half comes `rest_after`
    seconds later (or never)."""
    body, pending = trio.open_memory_channel[ASGIReceiveEvent](2)
    sent: list[ASGISendEvent] = []

    async def send(message: ASGISendEvent) -> None:
        sent.append(message)

    scope = cast(Scope, {"type": "http", "http_version": "1.1", "headers": [(b"content-length", b"10")]})
    middleware = ResponseAfterBody(answer_at_once, max_body_bytes=1024, timeout=10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(middleware, scope, pending.receive, send)
        await body.send({"type": "http.request", "body": b"12345", "more_body": True})
        if rest_after is not None:
            await trio.sleep(rest_after)
            assert not sent, "answered before the body was in"
            await body.send({"type": "http.request", "body": b"67890", "more_body": False})
    return sent[0]


async def test_the_answer_waits_for_the_rest_of_the_body(autojump_clock: trio.testing.MockClock) -> None:
    started = trio.current_time()
    start = await answer_to_a_late_body(rest_after=3)
    assert trio.current_time() - started == pytest.approx(3)
    assert start["type"] == "http.response.start"
    assert (b"connection", b"close") not in list(start["headers"])


async def test_a_client_that_stops_sending_its_body_is_answered_and_let_go(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started = trio.current_time()
    start = await answer_to_a_late_body(rest_after=None)
    assert trio.current_time() - started == pytest.approx(10)
    assert start["type"] == "http.response.start"
    assert (b"connection", b"close") in list(start["headers"])
