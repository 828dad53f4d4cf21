"""The scenarios: each function runs ONE trial against ONE started server and returns a dict."""

# ruff: noqa: E501  -- long user-facing strings and embedded Lua

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench import ours
from bench.pool import WorkerPool
from bench.servers import REPO_DIR, VENV_BIN, Cluster, Pinning, Server, log, start_cluster, start_server

SCENARIOS = ["interview", "saturation", "connections", "rest", "flush", "joinstorm", "cluster"]
PEER_SCENARIOS = {"interview", "saturation", "connections", "joinstorm"}
PYTHON_SERVERS = {"ours-pg", "ours-sqlite", "pycrdt-websocket"}
OURS_ONLY = {"rest": ["ours-pg", "ours-sqlite"], "flush": ["ours-pg"]}


@dataclass
class Options:
    quick: bool = False
    workers: int = 1
    pin: bool = True
    sessions: int = 500
    clients_per_session: int = 3
    rate: float = 350.0
    awareness_ratio: float = 0.5  # cursor updates per edit (total awareness rate = ratio x rate)
    warmup: float = 5.0
    duration: float = 30.0
    saturation_start: float = 100.0
    p99_limit_ms: float = 50.0
    reach_limit: float = 0.99
    idle_sessions: int = 1000
    join_clients: int = 200
    join_window: float = 1.0
    rest_connections: int = 32
    rest_seconds: float = 10.0
    flush_sizes: tuple[int, ...] = (1000, 10000)
    flush_e2e_sessions: int = 1000
    cluster_sessions: int = 200
    cluster_rate: float = 150.0
    profile: bool = False
    out_dir: Path | None = None

    def apply_quick(self) -> None:
        self.warmup, self.duration = 3.0, 10.0
        self.idle_sessions = 500
        self.rest_seconds = 5.0
        self.flush_e2e_sessions = 300


# -- statistics ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(values: list[float]) -> dict[str, float | None]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "p999": pct(values, 99.9),
        "max": max(values) if values else None,
    }


def receipts_summary(step: dict[str, Any], where: str = "all") -> dict[str, Any]:
    """Latency percentiles and reach (received / expected deliveries) of edits and awareness,
    for all receipts or only those on the sender's server node ("same_node") or not ("cross_node")."""
    out: dict[str, Any] = {}
    for kind in ("edit", "awareness"):
        part = step["receipts"][kind][where]
        out[f"{kind}_latency_ms"] = latency_summary(part["latencies_ms"])
        out[f"{kind}_reach"] = part["received"] / part["expected"] if part["expected"] else None
    return out


def load_summary(step: dict[str, Any], opts: Options) -> dict[str, Any]:
    """What the generator saw in one open-loop step: every receipt, and its own load."""
    receipts = receipts_summary(step)
    edit, reach = receipts["edit_latency_ms"], receipts["edit_reach"]
    lag = latency_summary(step["schedule_lag_ms"])
    gen_cpu = max(step["per_worker_generator_cpu"] or [0.0])
    ok = (
        edit["p99"] is not None
        and edit["p99"] <= opts.p99_limit_ms
        and reach is not None
        and reach >= opts.reach_limit
    )
    return {
        "offered_edits_per_s": step["rate"] if "rate" in step else None,
        "sent_edits": step["sent_edits"],
        "sent_awareness": step["sent_awareness"],
        **receipts,
        "schedule_lag_ms": lag,
        "generator_cpu_per_worker": step["per_worker_generator_cpu"],
        "generator_bound": gen_cpu > 0.9 or (lag["p99"] or 0) > 20.0,
        "open_connections": step["open_connections"],
        "clients": step["clients"],
        "close_codes": step["close_codes"],
        "passes_slo": ok,
    }


def server_usage(server: Server, step: dict[str, Any]) -> dict[str, Any]:
    """CPU (cores) and peak RSS of one server process over the step's measured window."""
    assert server.monitor is not None
    window = server.monitor.window(step["measure_from"], step["measure_to"])
    return {
        "server_cpu": window["cpu"],
        "server_rss_max_mb": window["rss_max_mb"],
        **({"postgres_cpu_machine_wide": window["postgres_cpu"]} if "postgres_cpu" in window else {}),
    }


def step_summary(step: dict[str, Any], server: Server, opts: Options) -> dict[str, Any]:
    return {**load_summary(step, opts), **server_usage(server, step)}


# -- session set-up ---------------------------------------------------------------------------


def make_sessions(server: Server, count: int, per_session: int, tag: str) -> tuple[list, dict]:
    """Client specs for `count` sessions of `per_session` clients, and set-up stats."""
    if server.framing == "ours":
        sessions, stats = ours.make_sessions(server, count, per_session)
        return ours.client_specs(server, sessions), stats.as_dict()
    run = uuid.uuid4().hex[:8]
    return [[server.client_spec(f"{tag}-{run}-{i}")] * per_session for i in range(count)], {}


def check_connect(result: dict[str, Any]) -> None:
    if result["failed"]:
        log(f"  {result['failed']} connections failed: {result['errors']}")


@contextmanager
def open_clients(
    specs: list[list[dict[str, Any]]], pinning: Pinning, opts: Options
) -> Iterator[tuple[WorkerPool, dict[str, Any]]]:
    """Generator workers with every client of `specs` connected (and the connect stats)."""
    pool = WorkerPool(opts.workers, pinning)
    try:
        connect = pool.connect(specs)
        check_connect(connect)
        yield pool, connect
    finally:
        pool.close()


def interview_step(pool: WorkerPool, opts: Options, rate: float) -> dict[str, Any]:
    """The interview workload: edits at `rate` in total plus cursor updates, open loop."""
    step = pool.step(rate, rate * opts.awareness_ratio, opts.warmup, opts.duration)
    step["rate"] = rate
    return step


# -- profiling ---------------------------------------------------------------------------------


class Profiler:
    """py-spy on the server process while a measurement window runs (Python servers only)."""

    def __init__(self, server: Server, seconds: float, out_dir: Path, label: str) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.raw = out_dir / f"profile-{label}.txt"
        py_spy = VENV_BIN / "py-spy"
        if not py_spy.exists():
            log("py-spy is not installed (pip install -e '.[bench]'); no profile")
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        # Raw (collapsed) stacks: summarised into a table below, and turned into an SVG.
        self.proc = subprocess.Popen(
            [
                str(py_spy),
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "100",
                "--format",
                "raw",
                "-o",
                str(self.raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self) -> dict[str, Any] | None:
        if self.proc is None:
            return None
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if not self.raw.exists():
            return None
        return summarize_collapsed(self.raw)


# Where a sample's time goes, first match wins (most specific first). Substrings of frames.
PROFILE_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("flush: snapshot + encode (actor)", ("LiveSession.snapshot", "_start_flush")),
    ("flush: flusher task", ("Flusher.",)),
    ("DB driver: asyncpg + trio-asyncio loop (any caller)", ("asyncpg", "trio_asyncio", "asyncio/")),
    ("DB driver: sqlite (thread hand-off)", ("SqliteStore", "sqlite3", "to_thread")),
    ("REST handlers (quart route, service)", ("codeinterview/http/rest.py", "codeinterview/service.py")),
    ("awareness apply/encode", ("AwarenessTable", "awareness.py")),
    ("CRDT apply + update encode (pycrdt)", ("SessionDocument.", "pycrdt/_")),
    (
        "WS send: frame -> hypercorn/wsproto -> socket (from the actor, or the writer)",
        (
            "DirectWrite.",
            "Outbox.send_nowait",
            "Connection.send (codeinterview/http/ws.py",
            "_write (codeinterview/http/ws.py",
        ),
    ),
    ("actor: dispatch + fan-out to outboxes", ("SessionActor.", "LiveSession.", "Registry.")),
    (
        "WS receive: socket -> hypercorn/wsproto -> quart -> actor inbox",
        ("_read (codeinterview/http/ws.py", "WSStream."),
    ),
    ("heartbeat", ("_heartbeat",)),
    ("HTTP/TCP: hypercorn h11 parsing, TCP reads/writes, quart request set-up", ("hypercorn/", "quart")),
    ("trio scheduler (unattributed)", ("trio/",)),
]
# pycrdt-websocket (asyncio + anyio) has its own layers.
PEER_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("pycrdt-websocket: CRDT apply + encode (pycrdt)", ("pycrdt/_",)),
    (
        "pycrdt-websocket: room fan-out (anyio task per send)",
        ("YRoom._broadcast_updates", "TaskGroup._spawn", "TaskHandle"),
    ),
    ("pycrdt-websocket: room serve loop", ("pycrdt/websocket/",)),
    ("hypercorn (asyncio) websocket I/O", ("hypercorn/",)),
    ("asyncio / anyio machinery (unattributed)", ("asyncio/", "anyio/")),
]
IDLE_LEAVES = (
    "EpollIOManager.get_events",
    "_epoll_wait",
    "EpollSelector.select",
    "WorkerThread._work",
    "Condition.wait",
    "Event.wait (threading",
    "select (selectors.py",
)


def summarize_collapsed(path: Path, top: int = 25) -> dict[str, Any]:
    """Busy-time categories, and inclusive and self time per function, from py-spy's collapsed
    stacks. Samples whose leaf is a wait (epoll, an idle worker thread) count as idle and are
    left out of the percentages."""
    inclusive: dict[str, int] = {}
    self_time: dict[str, int] = {}
    categories: dict[str, int] = {}
    total = 0
    idle = 0
    lines = path.read_text().splitlines()
    peer = any("pycrdt/websocket/" in line for line in lines[:200])
    table_of = PEER_CATEGORIES if peer else PROFILE_CATEGORIES
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf = frames[-1]
        if any(needle in leaf for needle in IDLE_LEAVES):
            idle += count
            continue
        total += count
        self_time[leaf] = self_time.get(leaf, 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        label = "other"
        for name, needles in table_of:
            if any(needle in stack for needle in needles):
                label = name
                break
        categories[label] = categories.get(label, 0) + count

    def table(data: dict[str, int], limit: int = top) -> list[tuple[str, float]]:
        ranked = sorted(data.items(), key=lambda kv: kv[1], reverse=True)[:limit]
        return [(name, round(100.0 * count / max(total, 1), 1)) for name, count in ranked]

    return {
        "samples": total + idle,
        "busy_samples": total,
        "idle_samples": idle,
        "categories_pct": table(categories, 50),
        "self_pct": table(self_time),
        "inclusive_pct": table(inclusive),
        "raw": str(path),
    }


# -- scenario 1: interview and saturation -------------------------------------------------------


def interview_load(opts: Options, sessions: int, rate: float) -> dict[str, Any]:
    return {
        "sessions": sessions,
        "clients": sessions * opts.clients_per_session,
        "offered_awareness_per_s": rate * opts.awareness_ratio,
    }


def run_interview(server: Server, pinning: Pinning, opts: Options, label: str) -> dict[str, Any]:
    specs, setup = make_sessions(server, opts.sessions, opts.clients_per_session, "interview")
    with open_clients(specs, pinning, opts) as (pool, connect):
        profiler = None
        if opts.profile and opts.out_dir is not None and server.name in PYTHON_SERVERS:
            profiler = Profiler(server, opts.warmup + opts.duration + 1, opts.out_dir, label)
        step = interview_step(pool, opts, opts.rate)
        result = {
            "setup_rest": setup,
            "connect": connect,
            **interview_load(opts, opts.sessions, opts.rate),
            **step_summary(step, server, opts),
        }
        if profiler is not None:
            result["profile"] = profiler.finish()
        return result


def saturation_rates(start: float) -> list[float]:
    rates, rate = [], start
    while rate <= 20000:
        rates.append(round(rate))
        rate *= 1.5 if rate < 1400 else 1.33
    return rates


def run_saturation(server: Server, pinning: Pinning, opts: Options, label: str) -> dict[str, Any]:
    specs, setup = make_sessions(server, opts.sessions, opts.clients_per_session, "saturation")
    warmup, duration = (2.0, 5.0) if opts.quick else (3.0, 10.0)
    steps: list[dict[str, Any]] = []
    saturation: float | None = None
    verdict = "no step passed"
    with open_clients(specs, pinning, opts) as (pool, connect):
        for rate in saturation_rates(opts.saturation_start):
            step = pool.step(rate, rate * opts.awareness_ratio, warmup, duration, drain=3.0)
            step["rate"] = rate
            summary = step_summary(step, server, opts)
            steps.append(summary)
            e = summary["edit_latency_ms"]
            log(
                f"  {server.name} {rate}/s: p50 {e['p50']} p99 {e['p99']} ms, reach "
                f"{summary['edit_reach']}, server cpu {summary['server_cpu']:.2f}, "
                f"gen cpu {summary['generator_cpu_per_worker']}"
            )
            if not summary["passes_slo"]:
                verdict = f"p99 > {opts.p99_limit_ms} ms or reach < {opts.reach_limit:.0%} at {rate}/s"
                if summary["generator_bound"]:
                    verdict += " with the generator itself behind (lag/CPU): a lower bound"
                break
            saturation = rate
            if summary["generator_bound"]:
                verdict = f"generator-bound at {rate}/s (server not saturated yet): a lower bound"
                break
            if summary["open_connections"] < summary["clients"]:
                verdict = f"connections dropped at {rate}/s"
                break
            time.sleep(2.0)  # let any backlog drain before the next step
        else:
            verdict = "ladder exhausted"
        return {
            "setup_rest": setup,
            "connect": connect,
            "steps": steps,
            "saturation_edits_per_s": saturation,
            "verdict": verdict,
            "step_seconds": {"warmup": warmup, "duration": duration},
        }


# -- scenario 2: idle connections ---------------------------------------------------------------


def run_connections(server: Server, pinning: Pinning, opts: Options, label: str) -> dict[str, Any]:
    assert server.monitor is not None
    n = opts.idle_sessions
    time.sleep(2.0)
    rss = {"baseline": server.monitor.rss_now(8)}
    specs, setup = make_sessions(server, n, 2, "idle")
    time.sleep(1.0)
    rss["sessions_created"] = server.monitor.rss_now(8)
    pool = WorkerPool(opts.workers, pinning)
    try:
        first = pool.connect([[s[0]] for s in specs])
        time.sleep(2.0)
        rss["one_connection_per_session"] = server.monitor.rss_now(8)
        second = pool.connect([[s[1]] for s in specs])
        time.sleep(2.0)
        rss["two_connections_per_session"] = server.monitor.rss_now(8)
        idle_seconds = 5.0 if opts.quick else 10.0
        t0 = time.monotonic()
        time.sleep(idle_seconds)
        idle = server.monitor.window(t0, time.monotonic())
        stats = pool.stats()
        open_connections = sum(s["open_connections"] for s in stats)
    finally:
        pool.close()
    kb = 1024
    per_connection = (rss["two_connections_per_session"] - rss["one_connection_per_session"]) / n / kb
    per_live_session = (rss["one_connection_per_session"] - rss["sessions_created"]) / n / kb
    return {
        "sessions": n,
        "connections": 2 * n,
        "setup_rest": setup,
        "connect": {"first": first, "second": second},
        "open_connections_at_end": open_connections,
        "rss_mb": {k: round(v / 2**20, 1) for k, v in rss.items()},
        "rss_kb_per_idle_connection": round(per_connection, 1),
        "rss_kb_per_live_session_with_one_connection": round(per_live_session, 1),
        "rss_kb_per_live_session_alone": round(per_live_session - per_connection, 1),
        "rss_kb_per_created_session": round((rss["sessions_created"] - rss["baseline"]) / n / kb, 2),
        "idle_server_cpu": idle["cpu"],
        "idle_seconds": idle_seconds,
    }


# -- scenario 5: join storm ----------------------------------------------------------------------


def run_joinstorm(server: Server, pinning: Pinning, opts: Options, label: str) -> dict[str, Any]:
    n = opts.join_clients
    specs, setup = make_sessions(server, 1, n + 1, "storm")
    host, joiners = specs[0][0], specs[0][1:]
    pool = WorkerPool(1, pinning)
    profiler = None
    try:
        # The interviewer is already in (the session is live); then n people join within the window.
        pool.connect([[host]])
        if opts.profile and opts.out_dir is not None and server.name in PYTHON_SERVERS:
            profiler = Profiler(server, opts.join_window + 4, opts.out_dir, label)
        t0 = time.monotonic()
        storm = pool.joinstorm([{**spec, "receivers": n} for spec in joiners], opts.join_window)
        t1 = time.monotonic()
    finally:
        pool.close()
    assert server.monitor is not None
    window = server.monitor.window(t0, t1)
    return {
        **({"profile": profiler.finish()} if profiler is not None else {}),
        "joiners": n,
        "window_s": opts.join_window,
        "setup_rest": setup,
        "synced": storm["synced"],
        "errors": storm["errors"],
        "all_synced_s": storm["all_synced_s"],
        "last_synced_s": storm["last_synced_s"],
        "join_to_sync_ms": latency_summary(storm["join_to_sync_ms"]),
        "generator_cpu_s": storm["generator_cpu_s"],
        "server_cpu": window["cpu"],
        "server_rss_max_mb": window["rss_max_mb"],
    }


# -- scenario 3: REST ---------------------------------------------------------------------------

WRK_COMMON = r"""
statuses = {}  -- a global: done() reads each thread's copy with thread:get
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do counts[tostring(k)] = (counts[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%s": %d', k, v)) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, '
    .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, table.concat(parts, ", ")))
end
"""

WRK_CREATE = r"""
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local function uuid4()
  return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function (c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end
function request()
  local body = '{"creator": {"id": "' .. uuid4() .. '", "name": "bench", "color": "#ff0000"}, "code": "", "language": "javascript"}'
  return wrk.format("POST", "/api/v1/sessions", {["Content-Type"] = "application/json"}, body)
end
"""


def _wrk(
    server: Server, pinning: Pinning, script: str, path: str, opts: Options, headers: dict[str, str]
) -> dict[str, Any]:
    import psutil

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(WRK_COMMON + script)
        script_path = handle.name
    command = [
        "wrk",
        "-t1",
        f"-c{opts.rest_connections}",
        f"-d{int(opts.rest_seconds)}s",
        "--latency",
        "-s",
        script_path,
    ]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    command.append(server.http + path)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=pinning.preexec("generator"),
    )
    watcher = psutil.Process(proc.pid)
    cpu = 0.0
    while proc.poll() is None:
        try:
            times = watcher.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.2)
    out, err = proc.communicate()
    t1 = time.monotonic()
    os.unlink(script_path)
    line = next((row for row in out.splitlines() if row.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out[-500:]} {err[-500:]}")
    data = json.loads(line[len("WRKJSON ") :])
    seconds = data["duration_us"] / 1e6
    assert server.monitor is not None
    window = server.monitor.window(t0 + 0.5, t1 - 0.2)
    ok = sum(v for k, v in data["statuses"].items() if k.startswith("2"))
    return {
        "requests": data["requests"],
        "requests_per_s": data["requests"] / seconds,
        "ok_per_s": ok / seconds,
        "latency_ms": {k: v / 1000.0 for k, v in data["latency_us"].items()},
        "statuses": data["statuses"],
        "rate_limited_429": data["statuses"].get("429", 0),
        "socket_errors": data["errors"],
        "wrk_cpu": cpu / seconds,
        "server_cpu": window["cpu"],
        **({"postgres_cpu_machine_wide": window["postgres_cpu"]} if "postgres_cpu" in window else {}),
        "connections": opts.rest_connections,
    }


def run_rest(server: Server, pinning: Pinning, opts: Options, label: str) -> dict[str, Any]:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    sessions, _ = ours.make_sessions(server, 1, 1)
    session = sessions[0]
    profiler = None
    if opts.profile and opts.out_dir is not None:
        profiler = Profiler(server, opts.rest_seconds, opts.out_dir, label + "-create")
    create = _wrk(server, pinning, WRK_CREATE, "/api/v1/sessions", opts, {})
    if profiler is not None:
        create["profile"] = profiler.finish()
    time.sleep(1.0)
    get = _wrk(
        server,
        pinning,
        "",
        f"/api/v1/sessions/{session['id']}",
        opts,
        {"Authorization": f"Bearer {session['tokens'][0]}"},
    )
    return {"create_session": create, "get_session": get}


# -- scenario 4: flush --------------------------------------------------------------------------


def run_flush_store(
    database_url: str, sizes: tuple[int, ...], pinning: Pinning, repeats: int = 3
) -> dict[str, Any]:
    """In-process store API timing (bench/flushbench.py) in a subprocess pinned like the server."""
    command = [
        sys.executable,
        "-m",
        "bench.flushbench",
        "--url",
        database_url,
        "--repeats",
        str(repeats),
        *(f"--size={s}" for s in sizes),
    ]
    proc = subprocess.run(
        command, cwd=REPO_DIR, capture_output=True, text=True, preexec_fn=pinning.preexec("server")
    )
    if proc.returncode != 0:
        raise RuntimeError(f"flushbench failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_flush_e2e(server: Server, pinning: Pinning, opts: Options, label: str) -> dict[str, Any]:
    """Dirty N live sessions with one edit each, then watch /metrics until all are flushed."""
    n = opts.flush_e2e_sessions
    specs, setup = make_sessions(server, n, 1, "flush")
    pool = WorkerPool(1, pinning)
    try:
        connect = pool.connect(specs)
        time.sleep(3.0)  # connection-time writes settle
        before = ours.scrape_metrics(server)
        t0 = time.monotonic()
        # Each client sends exactly one edit within one second (period = n / rate = 1 s).
        pool.step(rate=n, awareness_rate=0, warmup=0, duration=1.0, drain=0.1, lead=0.1)
        t_edits = time.monotonic()
        deadline = t_edits + 60
        after = before
        while time.monotonic() < deadline:
            after = ours.scrape_metrics(server)
            if (
                after.get("codeinterview_flushed_documents_total", 0)
                - before.get("codeinterview_flushed_documents_total", 0)
                >= n
            ):
                break
            time.sleep(0.1)
        t_done = time.monotonic()
    finally:
        pool.close()

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    docs = delta("codeinterview_flushed_documents_total")
    batches = delta("codeinterview_flush_batches_total")
    seconds = delta("codeinterview_flush_seconds_sum")
    return {
        "sessions": n,
        "setup_rest": setup,
        "connect": connect,
        "flushed_documents": docs,
        "flush_batches": batches,
        "documents_per_batch": docs / batches if batches else None,
        "flush_seconds_sum": seconds,
        "db_documents_per_s": docs / seconds if seconds else None,
        "seconds_from_first_edit_to_all_flushed": t_done - t0 if docs >= n else None,
        "seconds_from_last_edit_to_all_flushed": t_done - t_edits if docs >= n else None,
        "flush_failures": delta("codeinterview_flush_failures_total"),
        "note": "includes FLUSH_INTERVAL_SECONDS (default 1 s) of each session's flush timer",
    }


# -- scenario 6: the interview workload on a cluster of two nodes --------------------------------

# Where the clients of a session go: all to the session's node (sessions alternate between the
# nodes), or each to the node after the previous client's (3 clients: 2 on one node, 1 on the other).
CLUSTER_LAYOUTS = {"same-node": False, "cross-node": True}


def cluster_specs(
    cluster: Cluster, sessions: list[dict[str, Any]], cross: bool
) -> list[list[dict[str, Any]]]:
    per_node = [ours.client_specs(node, sessions) for node in cluster.nodes]
    count = len(cluster.nodes)
    specs = []
    for index, session in enumerate(sessions):
        nodes = [(index + (client if cross else 0)) % count for client in range(len(session["tokens"]))]
        specs.append([{**per_node[node][index][client], "node": node} for client, node in enumerate(nodes)])
    return specs


def cluster_placement(pinning: Pinning, nodes: int) -> str:
    if pinning.server is None:
        return f"{nodes} nodes, redis-server and the generator not pinned"
    return (
        f"all {nodes} nodes and redis-server pinned to CPU {sorted(pinning.server)}, "
        f"the generator to CPU {sorted(pinning.generator or [])}; PostgreSQL not pinned"
    )


def run_cluster(
    cluster: Cluster, pinning: Pinning, opts: Options, label: str, *, layout: str
) -> dict[str, Any]:
    """The interview workload on two nodes sharing a Redis; `layout` places the clients."""
    sessions, setup = ours.make_sessions(cluster.nodes[0], opts.cluster_sessions, opts.clients_per_session)
    specs = cluster_specs(cluster, sessions, CLUSTER_LAYOUTS[layout])
    with open_clients(specs, pinning, opts) as (pool, connect):
        step = interview_step(pool, opts, opts.cluster_rate)
    nodes = {f"node{index + 1}": server_usage(node, step) for index, node in enumerate(cluster.nodes)}
    return {
        "layout": layout,
        "placement": cluster_placement(pinning, len(cluster.nodes)),
        "setup_rest": {**setup.as_dict(), "via": "node 1"},
        "connect": connect,
        **interview_load(opts, opts.cluster_sessions, opts.cluster_rate),
        **load_summary(step, opts),
        "by_locality": {where: receipts_summary(step, where) for where in ("same_node", "cross_node")},
        "nodes": nodes,
        "server_cpu": sum(node["server_cpu"] for node in nodes.values()),
        "redis": server_usage(cluster.redis, step),
    }


RUNNERS = {
    "interview": run_interview,
    "saturation": run_saturation,
    "connections": run_connections,
    "joinstorm": run_joinstorm,
    "rest": run_rest,
}


def start(scenario: str, target: str, pinning: Pinning, env: dict[str, str]) -> Server | Cluster:
    """What one trial of `scenario` on `target` runs against: that server, or a cluster."""
    if scenario == "cluster":
        return start_cluster(pinning, env)
    return start_server(target, pinning, env)


def runner(scenario: str, target: str) -> Callable[[Any, Pinning, Options, str], dict[str, Any]]:
    if scenario == "cluster":
        return functools.partial(run_cluster, layout=target)
    return RUNNERS[scenario]


def applicable(scenario: str, servers: list[str]) -> list[str]:
    if scenario == "cluster":  # nodes of ours-pg; the trial's targets are the client layouts
        return list(CLUSTER_LAYOUTS) if "ours-pg" in servers else []
    if scenario in OURS_ONLY:
        return [s for s in servers if s in OURS_ONLY[scenario]]
    return servers


def nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return value


def http_ok(server: Server) -> bool:
    try:
        return httpx.get(server.http + "/metrics", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
