"""Hypothesis fuzzes the WebSocket endpoint of one real server (a child process for the module).

Each example opens a fresh session and sends what clients should not: malformed JSON, wrong
types, huge numbers, deep nesting, lone surrogates, truncated and mutated y-protocols frames,
invalid UTF-8 inside binary frames, frames of the other protocol, oversized messages, and
garbage before authentication. After each example:

- the fuzzed connection got an `error` event for every message it sent that is certainly
  invalid (JSON), stayed open where the protocol says so, or was closed with a documented code
  (1009 for oversize, 4xxx), never 1011;
- a JSON connection only ever received text frames and a y-websocket connection only binary
  ones, each strictly valid (JSON as `JSON.parse` reads it: no NaN or Infinity), on the fuzzed
  connection and on two bystanders in the same session, which still converge on one text;
- a Yjs pair in another session still converges, `/api/v1/health` answers, and no session
  actor crashed (`codeinterview_actor_crashes`); the server log since the example is shown if
  anything failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import trio
from hypothesis import HealthCheck, Phase, currently_in_test_context, given, note, settings
from hypothesis import strategies as st
from pycrdt import (
    Doc,
    Map,
    Text,
    create_awareness_message,
    create_sync_message,
    create_update_message,
)
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from tests.clients import WAIT_SECONDS, YjsClient, _varuint, socket_url, yjs_client
from tests.faults.support import NO_RATE_LIMITS_ENV, parse_metrics
from tests.http.api import Created, create_session
from tests.http.conftest import TEST_SECRET
from tests.process import READY

# A failing example's arguments can be long (oversized frames); Hypothesis warns as it prints them.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)

WS_MAX_MESSAGE_BYTES = 64 * 1024
KNOWN_LANGUAGES = ("javascript", "python", "html")
# What the server may close a misbehaving connection with (docs/protocol.md); never 1011.
DOCUMENTED_REFUSALS = frozenset({1009, 4400, 4401, 4403, 4404, 4408, 4410, 4429})
# No shrinking: every example costs real round trips to the server, and shrinking one failure
# takes minutes. A failure prints its (small) example and the server's log of it.
FUZZ = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


# -- the server, one per module -------------------------------------------------------------


@dataclass(repr=False)
class FuzzServer:
    base_url: str
    lines: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def __repr__(self) -> str:
        return f"FuzzServer({self.base_url})"

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            self.log_path.write_text("".join(self.lines))
            tail = "".join(_readable(line) for line in self.lines[-40:])
            raise AssertionError(
                f"the server process exited with {self.process.returncode}; log in {self.log_path}:\n{tail}"
            )

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)

    def problems_since(self, mark: int) -> str:
        """Warnings, errors and tracebacks the server logged since `mark`."""
        wanted = ("error", "warning", "traceback", "exception", "critical")
        lines = [
            _readable(line) for line in self.lines[mark:] if any(word in line.lower() for word in wanted)
        ]
        return "".join(lines)[-20_000:]


def _readable(line: str) -> str:
    """A structured (JSON) log line as a person reads it; other lines as they are."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    text = f"{record.get('level', '?').upper()} {record.get('logger', '')}: {record.get('event', '')}\n"
    return text + (str(record["exception"]) + "\n" if "exception" in record else "")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[FuzzServer]:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    shutil.copyfile(_sqlite_template, path)
    env = {
        **os.environ,
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": f"sqlite:///{path}",
        "WS_MAX_MESSAGE_BYTES": str(WS_MAX_MESSAGE_BYTES),
        "IDLE_TIMEOUT_SECONDS": "1",
        "WS_AUTH_TIMEOUT_SECONDS": "0.5",  # sockets that never authenticate cost no more
        "SHUTDOWN_GRACE_SECONDS": "2",
        **{key.upper(): value for key, value in NO_RATE_LIMITS_ENV.items()},
    }
    command = [sys.executable, "-m", "codeinterview.cli", "serve", "--port", "0"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    assert process.stderr is not None
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            lines.append(raw.decode(errors="replace"))
            if not found and (match := READY.search(raw)) is not None:
                found.append(match.group(1).decode())
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(30) or not found:
            raise RuntimeError("fuzz server did not start:\n" + "".join(lines))
        yield FuzzServer(found[0], lines, process, path.with_name("server.log"))
    finally:
        path.with_name("server.log").write_text("".join(lines))
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        process.stderr.close()


# -- strict views of what the server sends ----------------------------------------------------


def _reject_constant(token: str) -> object:
    raise ValueError(f"{token} is not JSON (JSON.parse refuses it)")


def strict_json(text: str) -> object:
    """Parse as a browser's JSON.parse would: Python's NaN/Infinity extensions refused, and
    nesting deeper than this test's own stack allows still read (JSON.parse reads it)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 20_000)
        try:
            return json.loads(text, parse_constant=_reject_constant)
        finally:
            sys.setrecursionlimit(limit)


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def varuint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.data[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def varbytes(self) -> bytes:
        length = self.varuint()
        chunk = self.data[self.at : self.at + length]
        assert len(chunk) == length, "truncated"
        self.at += length
        return chunk

    def end(self) -> None:
        assert self.at == len(self.data), "trailing bytes"


def check_binary_from_server(message: bytes) -> None:
    """Every y-protocols message the server sends must be well formed; awareness states must
    be JSON that the npm client can JSON.parse."""
    reader = Reader(message)
    kind = reader.varuint()
    if kind == 0:
        sub = reader.varuint()
        assert sub in (0, 1, 2), f"sync message of unknown type {sub}"
        reader.varbytes()
        reader.end()
    elif kind == 1:
        payload = Reader(reader.varbytes())
        reader.end()
        for _ in range(payload.varuint()):
            payload.varuint()
            payload.varuint()
            strict_json(payload.varbytes().decode("utf-8"))
        payload.end()
    else:
        assert kind == 3 and len(message) == 1, f"unexpected message type {kind}: {message[:40]!r}"


def check_text_from_server(message: str) -> dict[str, object]:
    event = strict_json(message)
    assert isinstance(event, dict) and isinstance(event.get("type"), str), message[:200]
    assert isinstance(event.get("data", {}), dict), message[:200]
    return event


@dataclass
class Seen:
    """What one connection received, checked as it arrived."""

    protocol: str
    who: str
    texts: list[dict[str, object]] = field(default_factory=list)
    binaries: list[bytes] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def take(self, message: bytes | str) -> None:
        # docs/protocol.md: a y-websocket connection never receives text frames, and a JSON
        # connection never receives binary frames.
        if isinstance(message, bytes):
            assert self.protocol != "json", f"{self.who} received a binary frame: {message[:80]!r}"
            try:
                check_binary_from_server(message)
            except (ValueError, AssertionError, IndexError) as error:
                raise AssertionError(
                    f"{self.who} received a bad frame ({error}): {message[:300]!r}"
                ) from None
            self.binaries.append(message)
        else:
            assert self.protocol != "yjs", f"{self.who} received a text frame: {message[:200]!r}"
            try:
                self.texts.append(check_text_from_server(message))
            except (ValueError, AssertionError) as error:
                raise AssertionError(
                    f"{self.who} received a bad text frame ({error}): {message[:300]!r}"
                ) from None

    def errors(self) -> int:
        return sum(1 for event in self.texts if event["type"] == "error")


class StrictYjs(YjsClient):
    """The test suite's y-websocket client, checking every frame strictly as it arrives."""

    def __init__(self, socket: WebSocketConnection) -> None:
        super().__init__(socket)
        self.seen = Seen("yjs", "the y-websocket bystander")

    async def handle(self, message: bytes | str) -> None:
        self.seen.take(message)
        await super().handle(message)

    async def settle(self) -> None:
        """Ask for sync step 2 and read until it comes: everything queued before is read."""
        self.synced = False
        await self.socket.send_message(create_sync_message(self.doc))
        await self.wait_until(lambda: self.synced)


class StrictJson:
    def __init__(self, socket: WebSocketConnection) -> None:
        self.socket = socket
        self.seen = Seen("json", "the JSON bystander")
        self.code: str | None = None

    async def receive_one(self) -> dict[str, object]:
        message = await self.socket.get_message()
        self.seen.take(message)
        event = self.seen.texts[-1]
        data = event.get("data")
        if isinstance(data, dict) and event["type"] in ("session_state", "code_update"):
            self.code = str(data["code"])
        return event

    async def until(self, kind: str) -> None:
        with trio.fail_after(WAIT_SECONDS):
            while (await self.receive_one())["type"] != kind:
                pass


# -- strategies -------------------------------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ANY_TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=16)
PLAIN_TEXT = st.text(max_size=16)  # no surrogates: what a well-behaved client can encode
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**53, max_value=2**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=16,
)
PLAIN_KEYS = st.text(st.characters(codec="ascii"), max_size=8)
SPECIAL_NUMBERS = (
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0])
    | st.integers(min_value=2**53, max_value=2**300)
    | st.floats(allow_nan=True, allow_infinity=True)
)
PLAIN_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | SPECIAL_NUMBERS | PLAIN_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(PLAIN_KEYS, children, max_size=3),
    max_leaves=8,
)
NUMBER_LITERALS = st.one_of(
    st.integers(min_value=2**53, max_value=2**400).map(str),
    st.integers(min_value=4301, max_value=6000).map(lambda digits: "9" * digits),  # past Python's limit
    st.sampled_from(["1e400", "-1e400", "1e-400", "-0", "0.0e-999999", "NaN", "Infinity", "-Infinity"]),
)
MESSAGE_TYPES = (
    st.sampled_from(["code_update", "cursor_update", "language_change", "auth", "pong"]) | ANY_TEXT
)


def certainly_invalid(text: str) -> bool:
    """Whether the server must answer this JSON-protocol text frame with an `error` event."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return True
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return True
    kind, data = message["type"], message.get("data")
    if kind == "code_update":
        code = data.get("code") if isinstance(data, dict) else None
        return not isinstance(code, str) or "\x00" in code or _has_surrogate(code)
    if kind == "language_change":
        return not isinstance(data, dict) or data.get("language") not in KNOWN_LANGUAGES
    if kind == "cursor_update":
        return not isinstance(data, dict) or len(data) > 16
    if kind == "auth":
        token = message.get("token")
        return not isinstance(token, str) or not 1 <= len(token) <= 4096
    return kind not in ("ping", "pong")


def _is_ping(text: str) -> bool:
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(message, dict) and message.get("type") == "ping"


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def _dumps(value: object) -> str:
    return json.dumps(value)  # ASCII-escaped (lone surrogates as \ud8xx), NaN/Infinity as words


@st.composite
def json_messages(draw: st.DrawFn) -> object:
    kind = draw(MESSAGE_TYPES)
    if kind == "code_update":
        data = draw(st.fixed_dictionaries({"code": ANY_TEXT | JSON_VALUES}) | JSON_VALUES)
    elif kind == "language_change":
        data = draw(
            st.fixed_dictionaries({"language": st.sampled_from(KNOWN_LANGUAGES) | ANY_TEXT}) | JSON_VALUES
        )
    elif kind == "cursor_update":
        data = draw(st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=20) | JSON_VALUES)
    elif kind == "auth":
        return {"type": "auth", "token": draw(ANY_TEXT | JSON_VALUES)}
    else:
        data = draw(JSON_VALUES)
    return {"type": kind, "data": data} if draw(st.booleans()) else {"type": kind}


@st.composite
def plausible_messages(draw: st.DrawFn) -> object:
    """The shapes real clients send, with surprising contents."""
    kind = draw(st.sampled_from(["code_update", "cursor_update", "language_change"]))
    if kind == "code_update":
        data: object = {"code": draw(PLAIN_TEXT | ANY_TEXT | st.sampled_from(["a\x00b", "\U0001f600" * 3]))}
    elif kind == "cursor_update":
        data = draw(st.dictionaries(PLAIN_KEYS, PLAIN_VALUES, max_size=5))
    else:
        data = {"language": draw(st.sampled_from(KNOWN_LANGUAGES) | ANY_TEXT)}
    return {"type": kind, "data": data}


@st.composite
def truncated_json(draw: st.DrawFn) -> str:
    text = _dumps(draw(json_messages()))
    return text[: draw(st.integers(1, len(text) - 1))]


@st.composite
def huge_numbers(draw: st.DrawFn) -> str:
    literal = draw(NUMBER_LITERALS)
    return draw(
        st.sampled_from(
            [
                '{"type":"cursor_update","data":{"position":'
                + literal
                + ',"selection":['
                + literal
                + ",1]}}",
                '{"type":"code_update","data":{"code":' + literal + "}}",
                '{"type":"language_change","data":{"language":' + literal + "}}",
                "[" + literal + "]",
                literal,
            ]
        )
    )


@st.composite
def deep_nesting(draw: st.DrawFn) -> list[str]:
    """A run of cursor updates nested one level deeper each, around the recursion limit."""
    start = draw(st.integers(0, 1100))
    count = draw(st.integers(1, 40))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return [
        '{"type":"cursor_update","data":{"x":' + opener * depth + "0" + closer * depth + "}}"
        for depth in range(start, start + count)
    ]


JSON_FRAMES = (
    st.one_of(
        plausible_messages().map(_dumps),
        json_messages().map(_dumps),
        truncated_json(),
        huge_numbers(),
        JSON_VALUES.map(_dumps),
        st.text(max_size=64),  # raw text frames cannot carry lone surrogates (they must be UTF-8)
        st.just('{"type":"ping","data":{}}'),
    ).map(lambda text: [text])
    | deep_nesting()
)


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    # A drawn client id: a random one would change the encoding's length between replays.
    doc = Doc(client_id=draw(st.integers(0, 2**32 - 1)))
    text = doc.get("code", type=Text)
    meta = doc.get("meta", type=Map)
    for piece in draw(st.lists(PLAIN_TEXT, max_size=4)):
        chars = str(text)
        at = draw(st.integers(0, len(chars)))
        text.insert(len(chars[:at].encode()), piece)
    if draw(st.booleans()):
        meta["language"] = draw(st.sampled_from(KNOWN_LANGUAGES) | PLAIN_TEXT)
    chars = str(text)
    if chars and draw(st.booleans()):
        start = draw(st.integers(0, len(chars) - 1))
        end = draw(st.integers(start + 1, len(chars)))
        del text[len(chars[:start].encode()) : len(chars[:end].encode())]
    return doc


def _awareness(entries: list[tuple[int, int, bytes]]) -> bytes:
    payload = _varuint(len(entries)) + b"".join(
        _varuint(client) + _varuint(clock) + _varuint(len(state)) + state for client, clock, state in entries
    )
    return create_awareness_message(payload)


AWARENESS_STATES = st.one_of(
    JSON_VALUES.map(lambda value: _dumps(value).encode()),
    st.sampled_from(
        [b"NaN", b'{"cursor": Infinity}', b"-Infinity", b"null", b"{}", b'{"user":{"name":"x"}}']
    ),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.binary(max_size=24).map(lambda raw: b"\xff" + raw),  # never UTF-8
    st.binary(max_size=24),
)


@st.composite
def valid_yjs_messages(draw: st.DrawFn) -> bytes:
    doc = draw(documents())
    kind = draw(st.sampled_from(["step1", "step2", "update", "awareness", "query", "auth"]))
    if kind == "step1":
        return create_sync_message(doc)
    if kind == "step2":
        update = doc.get_update()
        return b"\x00\x01" + _varuint(len(update)) + update
    if kind == "update":
        return create_update_message(doc.get_update())
    if kind == "awareness":
        entries = draw(
            st.lists(
                st.tuples(st.integers(0, 2**53 + 5), st.integers(0, 2**53 + 5), AWARENESS_STATES), max_size=3
            )
        )
        return _awareness(entries)
    if kind == "query":
        return b"\x03"
    reason = draw(PLAIN_TEXT).encode()
    return b"\x02" + _varuint(len(reason)) + reason


@st.composite
def invalid_utf8_update(draw: st.DrawFn) -> bytes:
    """A Yjs update whose inserted string is replaced, byte for byte, by invalid UTF-8."""
    doc = Doc(client_id=draw(st.integers(0, 2**32 - 1)))
    doc.get("code", type=Text).insert(0, "QQQQ")
    update = doc.get_update()
    bad = draw(st.sampled_from([b"\xff\xfe\xfd\xfc", b"\xed\xa0\x80A", b"\xc0\xafAA", b"A\xe2\x82\x28"]))
    return create_update_message(update.replace(b"QQQQ", bad))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(valid_yjs_messages() | invalid_utf8_update()))
    how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "append", "bomb", "double"]))
    if how == "truncate" and len(data) > 1:
        return bytes(data[: draw(st.integers(1, len(data) - 1))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=8))
    elif how == "delete" and len(data) > 1:
        at = draw(st.integers(0, len(data) - 1))
        del data[at : at + draw(st.integers(1, 8))]
    elif how == "append":
        data += draw(st.binary(min_size=1, max_size=8))
    elif how == "bomb":  # a length or count field that claims far too much
        at = draw(st.integers(0, len(data) - 1))
        data[at:at] = b"\xff" * draw(st.integers(1, 10)) + b"\x0f"
    elif how == "double":
        data.extend(bytes(data))
    return bytes(data)


PLAUSIBLE_AWARENESS = st.lists(
    st.tuples(st.integers(0, 2**32), st.integers(1, 100), AWARENESS_STATES), min_size=1, max_size=3
).map(_awareness)
YJS_FRAMES = st.one_of(
    valid_yjs_messages(), PLAUSIBLE_AWARENESS, mutated(), invalid_utf8_update(), st.binary(max_size=256)
)


# -- one example ------------------------------------------------------------------------------


@dataclass
class Outcome:
    seen: Seen
    must_error: int = 0
    lingered: bool = False  # the TCP connection outlived its closing handshake


CLOSE_SECONDS = 5  # a closing handshake, then the TCP connection ends: milliseconds, normally


@asynccontextmanager
async def connection(url: str, outcome: Outcome) -> AsyncIterator[WebSocketConnection]:
    """A client connection whose ending is bounded: once the body is done, the connection must
    be gone within `CLOSE_SECONDS`, whoever closed it (else `outcome.lingered`)."""
    with trio.CancelScope() as scope:
        async with open_websocket_url(url, max_message_size=2**24) as socket:
            yield socket
            scope.deadline = trio.current_time() + CLOSE_SECONDS
    outcome.lingered = scope.cancelled_caught


async def metric_value(http: httpx.AsyncClient, name: str) -> float:
    values = parse_metrics((await http.get("/metrics")).text)
    return values.get(f"{name}_total", values.get(name, 0.0))


async def read_until_closed(socket: WebSocketConnection, seen: Seen) -> None:
    with trio.fail_after(WAIT_SECONDS):
        try:
            while True:
                seen.take(await socket.get_message())
        except ConnectionClosed as closed:
            seen.closed = (closed.reason.code, closed.reason.reason or "")


EXCHANGE_SECONDS = 30  # a whole batch of frames, up to and including its barrier's answer


async def exchange(
    socket: WebSocketConnection,
    seen: Seen,
    frames: list[str | bytes],
    barrier_answered: Callable[[bytes | str], bool],
) -> None:
    """Send the frames (the last ones a barrier) while reading everything the server sends
    into `seen`, until the barrier's answer arrives or the server closes the connection."""

    async def send_all() -> None:
        try:
            for frame in frames:
                await socket.send_message(frame)
        except ConnectionClosed:
            pass  # the reader reports how

    with trio.fail_after(EXCHANGE_SECONDS):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_all)
            try:
                while True:
                    message = await socket.get_message()
                    seen.take(message)
                    if barrier_answered(message):
                        break
            except ConnectionClosed as closed:
                seen.closed = (closed.reason.code, closed.reason.reason or "")
            nursery.cancel_scope.cancel()


async def fuzz_json(server: FuzzServer, created: Created, frames: list[str | bytes]) -> Outcome:
    """Send the frames on a JSON connection, then ping: every frame was handled by the pong."""
    outcome = Outcome(Seen("json", "the fuzzed JSON connection"))
    outcome.must_error = sum(1 for frame in frames if isinstance(frame, str) and certainly_invalid(frame))
    pongs = [1 + sum(1 for frame in frames if isinstance(frame, str) and _is_ping(frame))]

    def answered(message: bytes | str) -> bool:
        if outcome.seen.texts[-1]["type"] == "pong":
            pongs[0] -= 1
        return not pongs[0]

    url = socket_url(server.ws_url, created.id, created.token, protocol="json")
    async with connection(url, outcome) as socket:
        await exchange(socket, outcome.seen, [*frames, '{"type":"ping"}'], answered)
    return outcome


async def fuzz_yjs(server: FuzzServer, created: Created, frames: list[str | bytes]) -> Outcome:
    """Send the frames on a y-websocket connection, then a marker edit and sync step 1: the
    step 2 that holds the marker proves every earlier frame was handled."""
    outcome = Outcome(Seen("yjs", "the fuzzed y-websocket connection"))
    marker = f"<{uuid.uuid4().hex}>"
    probe = Doc()
    probe.get("code", type=Text).insert(0, marker)
    barrier = [create_update_message(probe.get_update()), create_sync_message(Doc())]

    def answered(message: bytes | str) -> bool:
        return isinstance(message, bytes) and message[:2] == b"\x00\x01" and _holds(message, marker)

    url = socket_url(server.ws_url, created.id, created.token, protocol="yjs")
    async with connection(url, outcome) as socket:
        await exchange(socket, outcome.seen, [*frames, *barrier], answered)
    return outcome


def _holds(step2: bytes, marker: str) -> bool:
    reader = Reader(step2)
    reader.varuint(), reader.varuint()
    doc = Doc()
    text = doc.get("code", type=Text)
    try:
        doc.apply_update(reader.varbytes())
    except ValueError:
        return False
    return marker in str(text)


async def fuzz_before_auth(
    server: FuzzServer, created: Created, params: dict[str, str], first: str | bytes | None
) -> Outcome:
    outcome = Outcome(Seen("any", "the unauthenticated connection"))
    query = "&".join(f"{key}={value}" for key, value in params.items())
    url = f"{server.ws_url}/ws/sessions/{created.id}" + (f"?{query}" if query else "")
    async with connection(url, outcome) as socket:
        if first is not None:
            try:
                await socket.send_message(first)
            except ConnectionClosed:
                pass
        await read_until_closed(socket, outcome.seen)
    return outcome


async def after_example(
    server: FuzzServer, http: httpx.AsyncClient, created: Created, bystanders: tuple[StrictYjs, StrictJson]
) -> None:
    """The fuzzed session still works for everyone else, and so does the rest of the server."""
    yjs, watcher = bystanders
    await yjs.settle()  # everything the fuzzing caused has reached this bystander
    marker = f"[{uuid.uuid4().hex}]"
    await yjs.insert(0, marker)
    await yjs.settle()
    expected = yjs.code
    assert marker in expected
    with trio.fail_after(WAIT_SECONDS):
        while watcher.code != expected:
            await watcher.receive_one()
    live = await http.get(
        f"/api/v1/sessions/{created.id}/code", headers={"Authorization": f"Bearer {created.token}"}
    )
    assert live.status_code == 200, live.text
    assert live.json()["data"]["code"] == expected

    elsewhere = await create_session(http, code="elsewhere\n")
    async with (
        yjs_client(server.ws_url, elsewhere.id, elsewhere.token) as first,
        yjs_client(server.ws_url, elsewhere.id, elsewhere.token) as second,
    ):
        await first.insert(0, "still converging: ")
        await second.wait_until(lambda: second.code == "still converging: elsewhere\n")

    health = await http.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text


async def keep_reading(client: StrictYjs | StrictJson, who: str) -> None:
    """Bystanders read (and check) everything while the fuzzing goes on, as real clients do."""
    try:
        while True:
            await client.receive_one()
    except ConnectionClosed as closed:
        raise AssertionError(
            f"{who} was disconnected: {closed.reason.code} {closed.reason.reason!r}"
        ) from None


async def run_example(
    server: FuzzServer, check: Callable[[Outcome], None], body: object, *args: object
) -> None:
    """Open the session and its two bystanders, fuzz, check the fuzzed connection's fate,
    then check the whole server."""
    if currently_in_test_context():
        note(f"fuzzing with {body.__name__}{tuple(_shorten(arg) for arg in args)!r}")  # type: ignore[attr-defined]
    server.check_alive()
    mark = len(server.lines)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT_SECONDS) as http:
            crashes = await metric_value(http, "codeinterview_actor_crashes")
            created = await create_session(http, code="fuzzed\n")
            yjs_url = socket_url(server.ws_url, created.id, created.token, protocol="yjs")
            json_url = socket_url(server.ws_url, created.id, created.token, protocol="json")
            async with open_websocket_url(yjs_url) as yjs_socket, open_websocket_url(json_url) as json_socket:
                yjs = StrictYjs(yjs_socket)
                await yjs.start()
                await yjs.wait_until(lambda: yjs.synced)
                watcher = StrictJson(json_socket)
                await watcher.until("session_state")
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(keep_reading, yjs, "the y-websocket bystander")
                    nursery.start_soon(keep_reading, watcher, "the JSON bystander")
                    outcome: Outcome = await body(server, created, *args)  # type: ignore[operator]
                    nursery.cancel_scope.cancel()
                if outcome.lingered:
                    raise AssertionError(
                        f"the fuzzed connection ({outcome.seen.closed or 'closed by the client'}) was still "
                        f"open at the TCP level {CLOSE_SECONDS} s after its closing handshake"
                    )
                if outcome.seen.closed is not None and outcome.seen.closed[0] == 1011:
                    raise AssertionError(
                        f"the fuzzed connection was closed with {outcome.seen.closed}: the session crashed"
                    )
                check(outcome)
                await after_example(server, http, created, (yjs, watcher))
            assert await metric_value(http, "codeinterview_actor_crashes") == crashes, (
                "a session actor crashed"
            )
    except Exception as error:
        # One failure, the same one each replay (tasks may fail in either order), so that
        # Hypothesis sees a consistent result; with the server's side of the story.
        failure = _canonical_leaf(error)
        if server.process.poll() is not None:
            failure.add_note(f"the server process exited with {server.process.returncode}")
        log = server.problems_since(mark)
        if log:
            failure.add_note(f"server log during this example:\n{log}")
        raise failure from None


def _shorten(value: object) -> object:
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    if isinstance(value, (str, bytes)) and len(value) > 300:
        return value[:150] + value[-20:]  # type: ignore[operator]
    return value


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _canonical_leaf(error: BaseException) -> BaseException:
    def key(leaf: BaseException) -> tuple[str, str, int]:
        frames = traceback.extract_tb(leaf.__traceback__)
        last = frames[-1] if frames else None
        return (type(leaf).__name__, last.filename if last else "", last.lineno or 0 if last else 0)

    return min(_leaves(error), key=key)


def assert_open(what: str) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert outcome.seen.closed is None, (
            f"{what}: the server closed the connection with {outcome.seen.closed}"
        )

    return check


def assert_refused(codes: frozenset[int] = DOCUMENTED_REFUSALS) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert outcome.seen.closed is not None, "the connection was not closed"
        code, reason = outcome.seen.closed
        assert code in codes, f"closed with {code} ({reason!r}), expected one of {sorted(codes)}"

    return check


def open_or_refused(outcome: Outcome) -> None:
    if outcome.seen.closed is not None:
        assert_refused(DOCUMENTED_REFUSALS - {1009})(outcome)


def errors_for_invalid_messages(outcome: Outcome) -> None:
    # docs/protocol.md: `error` says what was wrong with the last message; the connection stays open.
    assert_open("a JSON connection sent malformed messages")(outcome)
    assert outcome.seen.errors() >= outcome.must_error, (
        f"{outcome.must_error} certainly invalid messages, only {outcome.seen.errors()} error events"
    )


# -- the fuzz tests ---------------------------------------------------------------------------


@settings(FUZZ, max_examples=60)
@given(batches=st.lists(JSON_FRAMES, min_size=1, max_size=5))
async def test_json_connection_survives_garbage(fuzz_server: FuzzServer, batches: list[list[str]]) -> None:
    frames: list[str | bytes] = [frame for batch in batches for frame in batch]
    await run_example(fuzz_server, errors_for_invalid_messages, fuzz_json, frames)


@settings(FUZZ, max_examples=60)
@given(frames=st.lists(YJS_FRAMES, min_size=1, max_size=6))
async def test_yjs_connection_survives_garbage(fuzz_server: FuzzServer, frames: list[bytes]) -> None:
    # docs/protocol.md: a malformed or truncated binary frame is dropped; the connection stays open.
    await run_example(
        fuzz_server, assert_open("a y-websocket connection sent malformed frames"), fuzz_yjs, list(frames)
    )


@settings(FUZZ, max_examples=25)
@given(protocol=st.sampled_from(["json", "yjs"]), data=st.data())
async def test_frames_of_the_other_protocol(
    fuzz_server: FuzzServer, protocol: str, data: st.DataObject
) -> None:
    """Binary frames on a JSON connection and text frames on a y-websocket one: whatever the
    server does with them, it never answers in the other protocol's frames (the strict
    `Seen` checks), and closes, if at all, with a documented code."""
    if protocol == "json":
        frames: list[str | bytes] = data.draw(st.lists(YJS_FRAMES, min_size=1, max_size=4))
        await run_example(fuzz_server, open_or_refused, fuzz_json, frames)
    else:
        batches = data.draw(st.lists(JSON_FRAMES, min_size=1, max_size=3))
        await run_example(
            fuzz_server, open_or_refused, fuzz_yjs, [frame for batch in batches for frame in batch]
        )


@settings(FUZZ, max_examples=10)
@given(protocol=st.sampled_from(["json", "yjs"]), binary=st.booleans(), excess=st.integers(1, 4096))
async def test_oversized_messages_close_with_1009(
    fuzz_server: FuzzServer, protocol: str, binary: bool, excess: int
) -> None:
    size = WS_MAX_MESSAGE_BYTES + excess
    if binary:
        frame: str | bytes = b"\x00\x02" + _varuint(size) + b"\x00" * size
    else:
        frame = '{"type":"code_update","data":{"code":"' + "x" * size + '"}}'
    body = fuzz_json if protocol == "json" else fuzz_yjs
    first: str | bytes = '{"type":"pong"}' if protocol == "json" else b"\x03"
    await run_example(fuzz_server, assert_refused(frozenset({1009})), body, [first, frame])


URL_VALUE = st.text(st.one_of(st.characters(), SURROGATES), max_size=40).map(
    lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")
)
FIRST_FRAMES = st.one_of(
    st.none(),
    JSON_FRAMES.map(lambda batch: batch[0]),
    json_messages().map(lambda message: _dumps({**message, "type": "auth"})),  # type: ignore[dict-item]
    YJS_FRAMES,
    st.integers(8000, 20000).map(lambda size: '{"type":"auth","token":"' + "t" * size + '"}'),
)


def refused_without_leaking(outcome: Outcome) -> None:
    assert_refused()(outcome)
    assert not outcome.seen.binaries, "an unauthenticated socket was sent document data"
    assert not outcome.seen.texts, f"an unauthenticated socket was sent {outcome.seen.texts}"


@settings(FUZZ, max_examples=30)
@given(
    token=st.none() | URL_VALUE,
    protocol=st.none() | st.sampled_from(["json", "yjs", ""]) | URL_VALUE,
    first=FIRST_FRAMES,
)
async def test_garbage_before_authentication_is_refused(
    fuzz_server: FuzzServer, token: str | None, protocol: str | None, first: str | bytes | None
) -> None:
    """Without a valid token nothing joins the session: the socket is refused with a
    documented code, and is sent nothing before."""
    params = {key: value for key, value in (("protocol", protocol), ("token", token)) if value is not None}

    async def body(server: FuzzServer, created: Created) -> Outcome:
        return await fuzz_before_auth(server, created, params, first)

    await run_example(fuzz_server, refused_without_leaking, body)


async def test_nesting_depth_sweep(fuzz_server: FuzzServer) -> None:
    """Every nesting depth a cursor update can carry within its size cap, one after another,
    on one connection: each is relayed or refused; none crashes the session."""
    frames: list[str | bytes] = [
        '{"type":"cursor_update","data":{"x":' + "[" * depth + "0" + "]" * depth + "}}"
        for depth in range(0, 1100)
    ]
    await run_example(fuzz_server, assert_open("deeply nested cursor updates"), fuzz_json, frames)


async def test_awareness_nesting_depth_sweep(fuzz_server: FuzzServer) -> None:
    """The same for awareness states on a y-websocket connection (each state is parsed)."""
    frames: list[str | bytes] = [
        _awareness([(4242, depth + 1, b"[" * depth + b"]" * depth)]) for depth in range(0, 3000, 3)
    ]
    await run_example(fuzz_server, assert_open("deeply nested awareness states"), fuzz_yjs, frames)
