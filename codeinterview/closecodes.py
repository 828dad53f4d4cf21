"""WebSocket close codes this server uses, with the reason each one carries (see docs/protocol.md)."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011  # the session crashed; reconnecting starts it afresh from storage
    HEARTBEAT_TIMEOUT = 4002  # the peer stopped answering pings
    BAD_REQUEST = 4400  # malformed handshake or auth message
    UNAUTHORIZED = 4401  # missing, invalid or expired token
    FORBIDDEN = 4403  # token of another session, or the participant was removed
    NOT_FOUND = 4404  # unknown session
    AUTH_TIMEOUT = 4408  # no credential in time
    GONE = 4410  # session expired or ended
    TOO_SLOW = 4429  # outbound queue overflowed or message rate exceeded
