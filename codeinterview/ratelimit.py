"""Per-client rate limits (the `limits` library, in-memory moving windows).

The memory storage is synchronous and guarded by its own locks, so calling it from trio tasks
is safe: a check never awaits, so no other task can interleave with it.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from codeinterview.config import Settings
from codeinterview.errors import ApiError


class RateLimited(ApiError):
    """Too many requests from one client; `retry_after` says when to come back."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits: dict[str, list[RateLimitItem]] = {
            "sessions": parse_many(settings.rate_limit_sessions),
            "joins": parse_many(settings.rate_limit_joins),
            "failures": parse_many(settings.rate_limit_failures),
            "ws_messages": parse_many(settings.rate_limit_ws_messages),
        }

    def hit(self, scope: str, key: str) -> int | None:
        """Count one event; the seconds to wait if that went over a limit, else `None`."""
        if not self.enabled:
            return None
        for item in self._limits[scope]:
            if not self._limiter.hit(item, scope, key):
                return self._retry_after(item, scope, key)
        return None

    def blocked(self, scope: str, key: str) -> int | None:
        """Like `hit`, without counting: is this client already over the limit?"""
        if not self.enabled:
            return None
        for item in self._limits[scope]:
            if not self._limiter.test(item, scope, key):
                return self._retry_after(item, scope, key)
        return None

    def forget(self, scope: str, key: str) -> None:
        for item in self._limits[scope]:
            self._limiter.clear(item, scope, key)

    def _retry_after(self, item: RateLimitItem, scope: str, key: str) -> int:
        reset = self._limiter.get_window_stats(item, scope, key).reset_time
        return max(1, math.ceil(reset - time.time()))
