"""JSON text frames: parsing what simple clients send into actor messages."""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from codeinterview.actors.messages import ChangeLanguage, ClientMessage, MoveCursor, Ping, ReplaceCode
from codeinterview.http.models import Language, Text

MAX_CURSOR_FIELDS = 16
MAX_CURSOR_BYTES = 2048  # relayed to every JSON client of the session, so kept small
MAX_CURSOR_DEPTH = 16


class BadMessage(Exception):
    """A text frame that is not a message this server understands."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _CodeData(_Loose):
    code: Text


class _LanguageData(_Loose):
    language: Language


class CodeUpdate(_Loose):
    type: Literal["code_update"]
    data: _CodeData


class CursorUpdate(_Loose):
    type: Literal["cursor_update"]
    data: dict[str, object] = Field(max_length=MAX_CURSOR_FIELDS)


class LanguageChange(_Loose):
    type: Literal["language_change"]
    data: _LanguageData


class PingMessage(_Loose):
    type: Literal["ping", "pong"]


class AuthMessage(_Loose):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=4096)


Incoming = Annotated[
    CodeUpdate | CursorUpdate | LanguageChange | PingMessage | AuthMessage,
    Field(discriminator="type"),
]
_incoming: TypeAdapter[Incoming] = TypeAdapter(Incoming)


def _refuse_constant(name: str) -> object:
    # NaN and Infinity are Python's extensions; relayed, they would break browsers' JSON.parse.
    raise ValueError(f"{name} is not JSON")


def _finite(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):
        raise ValueError(f"{literal} is out of range")  # 1e999 would be relayed as Infinity
    return number


def parse(text: str) -> Incoming:
    try:
        raw = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError) as error:
        raise BadMessage(f"invalid JSON: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BadMessage("a message is an object with a string 'type'")
    try:
        return _incoming.validate_python(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadMessage(f"{where or 'message'}: {first['msg']}") from None


def to_client_message(message: Incoming) -> ClientMessage | None:
    """The actor's view of a parsed message; `None` for ones answered at the edge."""
    if isinstance(message, CodeUpdate):
        return ReplaceCode(message.data.code)
    if isinstance(message, LanguageChange):
        return ChangeLanguage(message.data.language)
    if isinstance(message, CursorUpdate):
        return MoveCursor(_storable_cursor(message.data))
    if isinstance(message, PingMessage) and message.type == "ping":
        return Ping()
    return None


def _storable_cursor(cursor: dict[str, object]) -> dict[str, object]:
    # Cursor payloads are relayed verbatim; make sure they re-encode (no lone surrogates).
    if _depth(cursor) > MAX_CURSOR_DEPTH:
        # Re-encoding happens again deeper in the actor's stack: a depth that only just
        # fitted here could overflow there and take the whole session down.
        raise BadMessage(f"cursor_update data nested deeper than {MAX_CURSOR_DEPTH}")
    try:
        encoded = json.dumps(cursor, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError, RecursionError):
        raise BadMessage("cursor_update data must be plain JSON text") from None
    if len(encoded) > MAX_CURSOR_BYTES:
        raise BadMessage(f"cursor_update data over {MAX_CURSOR_BYTES} bytes")
    return cursor


def _depth(value: object) -> int:
    """Nesting depth, without recursion (the point is to refuse what recursion cannot take)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        else:
            continue
        deepest = max(deepest, depth + 1)
    return deepest
