"""Generator worker processes (bench/worker.py) seen from the orchestrator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

from bench.servers import REPO_DIR, Pinning


class WorkerError(RuntimeError):
    pass


def _together(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Receipts (latencies, expected and received counts) of several parts as one."""
    parts = list(parts)
    return {
        "latencies_ms": [x for part in parts for x in part["latencies_ms"]],
        "expected": sum(part["expected"] for part in parts),
        "received": sum(part["received"] for part in parts),
    }


class WorkerPool:
    """N worker processes; every session lives wholly in one worker (latency needs one clock)."""

    def __init__(self, count: int, pinning: Pinning) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.clients = [0] * count
        for index in range(count):
            env = {**os.environ, "BENCH_SEED": str(1000 + index), "PYTHONUNBUFFERED": "1"}
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.worker"],
                    cwd=REPO_DIR,
                    env=env,
                    text=True,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    preexec_fn=pinning.preexec("generator"),
                )
            )

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _send(self, index: int, cmd: dict[str, Any]) -> None:
        proc = self.procs[index]
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()

    def _receive(self, index: int) -> dict[str, Any]:
        proc = self.procs[index]
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise WorkerError(f"generator worker {proc.pid} exited ({proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"generator worker {proc.pid}: {reply['error']}")
        return reply

    def broadcast(self, commands: list[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
        for index, cmd in enumerate(commands):
            if cmd is not None:
                self._send(index, cmd)
        return [self._receive(i) if cmd is not None else None for i, cmd in enumerate(commands)]

    def connect(
        self,
        sessions: list[list[dict[str, Any]]],
        concurrency: int = 64,
        timeout: float = 60,
        waves: bool = True,
    ) -> dict[str, Any]:
        """Spread sessions round-robin over the workers and open them all.

        With `waves`, the k-th client of every session connects only once every (k-1)-th client
        is synced: the first participant opens the room, the others join it. (Also needed by
        pycrdt-websocket 0.16.5, which never answers a client that joins a room while that room
        is still starting; see README.)
        """
        shares: list[list[list[dict[str, Any]]]] = [[] for _ in self.procs]
        for index, session in enumerate(sessions):
            tagged = [
                {
                    **spec,
                    "receivers": len(session) - 1,
                    "remote_receivers": sum(other.get("node", 0) != spec.get("node", 0) for other in session),
                }
                for spec in session
            ]
            shares[index % len(self.procs)].append(tagged)
        for index, share in enumerate(shares):
            self.clients[index] += sum(len(s) for s in share)
        started = time.monotonic()
        rounds = max((len(s) for s in sessions), default=0) if waves else 1
        totals = {"connected": 0, "failed": 0}
        last_errors: dict[int, dict[str, int]] = {}
        for wave in range(rounds):
            commands: list[dict[str, Any] | None] = []
            for share in shares:
                part = [[s[wave]] for s in share if wave < len(s)] if waves else share
                commands.append(
                    {"cmd": "connect", "sessions": part, "concurrency": concurrency, "timeout": timeout}
                    if part
                    else None
                )
            for index, reply in enumerate(self.broadcast(commands)):
                if reply is None:
                    continue
                totals["connected"] += reply["connected"]
                totals["failed"] += reply["failed"]
                last_errors[index] = reply["errors"]  # cumulative per worker
        errors: dict[str, int] = {}
        for per_worker in last_errors.values():
            for key, value in per_worker.items():
                errors[key] = errors.get(key, 0) + value
        return {**totals, "errors": errors, "seconds": round(time.monotonic() - started, 2)}

    def step(
        self,
        rate: float,
        awareness_rate: float,
        warmup: float,
        duration: float,
        drain: float = 3.0,
        lead: float = 0.5,
    ) -> dict[str, Any]:
        total = sum(self.clients) or 1
        start_at = time.monotonic() + lead
        commands: list[dict[str, Any] | None] = []
        for clients in self.clients:
            share = clients / total
            commands.append(
                {
                    "cmd": "step",
                    "rate": rate * share,
                    "awareness_rate": awareness_rate * share,
                    "start_at": start_at,
                    "warmup": warmup,
                    "duration": duration,
                    "drain": drain,
                }
                if clients
                else None
            )
        replies = [r for r in self.broadcast(commands) if r is not None]
        merged: dict[str, Any] = {
            "start_at": start_at,
            "measure_from": start_at + warmup,
            "measure_to": start_at + warmup + duration,
            "per_worker_generator_cpu": [round(r["generator_cpu"], 3) for r in replies],
        }
        merged["schedule_lag_ms"] = [x for r in replies for x in r["schedule_lag_ms"]]
        for key in ("open_connections", "clients"):
            merged[key] = sum(r[key] for r in replies)
        # Per kind of message: receipts on the sender's server node, on another node, and all.
        localities = list(replies[0]["receipts"]["edit"]) if replies else []
        merged["receipts"] = {}
        for kind in ("edit", "awareness"):
            parts = {where: _together(r["receipts"][kind][where] for r in replies) for where in localities}
            merged["receipts"][kind] = {**parts, "all": _together(parts.values())}
        merged["sent_edits"] = sum(r["sent"]["edits"] for r in replies)
        merged["sent_awareness"] = sum(r["sent"]["awareness"] for r in replies)
        codes: dict[str, int] = {}
        for r in replies:
            for key, value in r["close_codes"].items():
                codes[key] = codes.get(key, 0) + value
        merged["close_codes"] = codes
        return merged

    def joinstorm(self, clients: list[dict[str, Any]], window: float, timeout: float = 60) -> dict[str, Any]:
        start_at = time.monotonic() + 0.5
        commands: list[dict[str, Any] | None] = [
            {
                "cmd": "joinstorm",
                "clients": clients,
                "start_at": start_at,
                "window": window,
                "timeout": timeout,
            }
        ] + [None] * (len(self.procs) - 1)
        reply = self.broadcast(commands)[0]
        assert reply is not None
        return reply

    def stats(self) -> list[dict[str, Any]]:
        return [r for r in self.broadcast([{"cmd": "stats"}] * len(self.procs)) if r is not None]

    def close(self) -> None:
        for index, proc in enumerate(self.procs):
            if proc.poll() is None:
                try:
                    self._send(index, {"cmd": "close"})
                except (BrokenPipeError, OSError):
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
