"""Fault and fuzz tests reuse the real in-process servers of `tests/http` (fixtures re-exported)."""

from __future__ import annotations

from tests.http.conftest import clock, start_server  # noqa: F401  (fixtures)
