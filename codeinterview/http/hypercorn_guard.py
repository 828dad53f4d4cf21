"""A guard for Hypercorn's WebSocket message buffer.

Hypercorn 0.17/0.18 assembles fragmented messages in a buffer typed by the first fragment; a
client that follows a text fragment with a binary one (or the reverse) makes it raise TypeError
outside any handler, which ends the whole server process. The guard refuses such a message the
way Hypercorn refuses an oversized one (the connection is closed with 1009), and nothing else
changes. It is applied once, when the app is built.
"""

from __future__ import annotations

from io import StringIO

from hypercorn.protocol import ws_stream
from wsproto.events import Message, TextMessage

_original_extend = ws_stream.WebsocketBuffer.extend


def _extend_same_kind(self: ws_stream.WebsocketBuffer, event: Message) -> None:  # type: ignore[type-arg]
    if self.value is not None and isinstance(self.value, StringIO) != isinstance(event, TextMessage):
        raise ws_stream.FrameTooLargeError()
    _original_extend(self, event)


def install() -> None:
    ws_stream.WebsocketBuffer.extend = _extend_same_kind  # type: ignore[method-assign]
