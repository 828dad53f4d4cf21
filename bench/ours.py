"""Set-up through our REST API (sessions, participant tokens) and reading /metrics."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import trio

from bench.servers import Server


class RateLimited(Exception):
    pass


@dataclass
class SetupStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "rate_limited_429": self.statuses.get(429, 0),
            "seconds": round(self.seconds, 2),
        }


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, object], stats: SetupStats) -> dict:
    for _ in range(8):
        response = await client.post(url, json=body)
        stats.requests += 1
        stats.statuses[response.status_code] += 1
        if response.status_code == 429:  # rate limited: wait a little, then give up loudly
            retry_after = float(response.headers.get("Retry-After", 1))
            if retry_after > 5:
                break
            await trio.sleep(retry_after)
            continue
        response.raise_for_status()
        return response.json()["data"]  # type: ignore[no-any-return]
    raise RateLimited(
        f"POST {url}: 429 rate limited (Retry-After {response.headers.get('Retry-After')} s); "
        "run with --server-env RATE_LIMITS_ENABLED=false or raise the server's RATE_LIMIT_* settings"
    )


async def _make_session(
    client: httpx.AsyncClient, server: Server, participants: int, stats: SetupStats
) -> dict[str, object]:
    created = await _post(
        client,
        "/api/v1/sessions",
        {
            "creator": {"id": str(uuid.uuid4()), "name": "interviewer", "color": "#ff0000"},
            "code": "",
            "language": "javascript",
        },
        stats,
    )
    session_id = created["id"]
    tokens = [created["token"]]
    for index in range(participants - 1):
        joined = await _post(
            client,
            f"/api/v1/sessions/{session_id}/participants",
            {"invite": created["invites"]["candidate"], "name": f"candidate-{index}", "color": "#00ff00"},
            stats,
        )
        tokens.append(joined["token"])
    return {"id": session_id, "tokens": tokens}


async def _make_sessions(
    server: Server, count: int, participants: int, concurrency: int
) -> tuple[list, SetupStats]:
    stats = SetupStats()
    started = trio.current_time()
    out: list[dict[str, object] | None] = [None] * count
    limiter = trio.CapacityLimiter(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.http, timeout=60, limits=limits) as client:

        async def one(index: int) -> None:
            async with limiter:
                out[index] = await _make_session(client, server, participants, stats)

        async with trio.open_nursery() as nursery:
            for index in range(count):
                nursery.start_soon(one, index)
    stats.seconds = trio.current_time() - started
    return out, stats


def make_sessions(
    server: Server, count: int, participants: int, concurrency: int = 16
) -> tuple[list, SetupStats]:
    """`count` sessions, each with `participants` tokens (the creator's first)."""
    return trio.run(_make_sessions, server, count, participants, concurrency)


def client_specs(server: Server, sessions: list[dict]) -> list[list[dict[str, object]]]:
    return [
        [{"url": f"{server.ws}/ws/sessions/{s['id']}?token={token}", "doc": None} for token in s["tokens"]]
        for s in sessions
    ]


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)$")


def scrape_metrics(server: Server) -> dict[str, float]:
    response = httpx.get(f"{server.http}/metrics", timeout=10)
    response.raise_for_status()
    values: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line.strip())
        if match:
            values[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return values
