"""Two repairs to Hypercorn's WebSocket stream, for the versions whose source they were checked
against (`SUPPORTED_VERSIONS`); `install` refuses any other version, so an upgrade re-reads
hypercorn/protocol/ws_stream.py instead of silently keeping a stale copy of it.

1. `WebsocketBuffer.extend` (ws_stream.py:143-151) types the buffer by the first data written
   to it and raises TypeError, outside any handler, for data of the other kind; that ends the
   whole server process. It happened after a 1009: Hypercorn leaves the refused message in the
   buffer (repair 2), so a binary message after an oversized text one (or the reverse) was
   written into it. The guard refuses that data the way Hypercorn refuses an oversized message,
   with 1009. Safe: it only adds a refusal where the original would crash. Since repair 2 it
   cannot trigger (wsproto itself refuses a message that mixes kinds); it stays as the cheap
   second line.
2. `WSStream._handle_events` (ws_stream.py:307-326), after sending 1009 for an oversized message,
   neither empties the buffer nor goes on reading: it `break`s out of the event loop (:312-316).
   Every later data frame overflows the stale buffer again and breaks again, so a close frame
   that arrives behind one is never parsed, and the TCP connection outlives the closing
   handshake until the app's heartbeat gives up. The replacement is Hypercorn's loop with two
   changes: on 1009 it empties the buffer and carries on, and it drops data frames that arrive
   once our close frame is out (wsproto no longer OPEN), which nothing could answer. The peer's
   close reply then ends the connection as for any other close. Safe: frames from an OPEN
   connection take Hypercorn's own path; after our close frame the app is no longer fed, which
   is also what keeps Hypercorn from queueing frames for an app that has stopped reading
   (see `socket`).
"""

from __future__ import annotations

from importlib.metadata import version
from io import StringIO

from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import StreamClosed
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

# 0.17.0 through 0.18.0 share ws_stream.py's WebsocketBuffer and _handle_events line for line.
SUPPORTED_VERSIONS = ("0.17.", "0.18.")

_original_extend = ws_stream.WebsocketBuffer.extend


class UnsupportedHypercorn(RuntimeError):
    """The installed Hypercorn is not a version these repairs were checked against."""


def _extend_same_kind(self: ws_stream.WebsocketBuffer, event: Message) -> None:  # type: ignore[type-arg]
    if self.value is not None and isinstance(self.value, StringIO) != isinstance(event, TextMessage):
        raise ws_stream.FrameTooLargeError()
    _original_extend(self, event)


async def _handle_events_until_closed(self: ws_stream.WSStream) -> None:
    for event in self.connection.events():
        if isinstance(event, Message):
            if self.connection.state is not ConnectionState.OPEN:
                continue  # our close frame is out; only the peer's close frame matters now
            try:
                self.buffer.extend(event)
            except ws_stream.FrameTooLargeError:
                self.buffer.clear()
                await self._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                continue
            if event.message_finished:
                assert self.app_put is not None  # set before the handshake is accepted
                await self.app_put(self.buffer.to_message())
                self.buffer.clear()
        elif isinstance(event, Ping):
            await self._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if self.connection.state is ConnectionState.REMOTE_CLOSING:
                await self._send_wsproto_event(event.response())
            await self.send(StreamClosed(stream_id=self.stream_id))


def install() -> None:
    """Apply both repairs (idempotent); raises `UnsupportedHypercorn` on an unchecked version."""
    installed = version("hypercorn")
    if not installed.startswith(SUPPORTED_VERSIONS):
        raise UnsupportedHypercorn(
            f"Hypercorn {installed} is not one of {SUPPORTED_VERSIONS}: compare its "
            "protocol/ws_stream.py with codeinterview/http/hypercorn_guard.py, then update both"
        )
    ws_stream.WebsocketBuffer.extend = _extend_same_kind  # type: ignore[method-assign]
    ws_stream.WSStream._handle_events = _handle_events_until_closed  # type: ignore[method-assign]
