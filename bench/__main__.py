"""python -m bench run --scenario NAME[,NAME...]|all [--servers a,b] [--trials 3] [--quick]
python -m bench smoke
python -m bench report bench/results/<timestamp>
"""

# ruff: noqa: E501  -- long user-facing strings and embedded Lua

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench import report, scenarios
from bench.scenarios import Options
from bench.servers import (
    ALL_SERVERS,
    BENCH_DIR,
    PG_BASE,
    Pinning,
    create_pg_database,
    drop_pg_database,
    ensure_node_peers,
    ensure_pycrdt_websocket,
    log,
    start_server,
)

CAVEAT = (
    "Shared 2-core machine with other work running, and the load generator on the same machine: "
    "these numbers are for developing the harness, not for judging or comparing servers."
)
Started = TypeVar("Started")


def _write(out_dir: Path, results: dict[str, Any]) -> None:
    (out_dir / "results.json").write_text(json.dumps(scenarios.nan_to_none(results), indent=1))


def _start(name: str, start: Callable[[], Started]) -> Started:
    try:
        return start()
    except RuntimeError as error:  # one retry: a start-up can fail on a busy machine
        log(f"{name} failed to start ({str(error)[:300]}); retrying once")
        time.sleep(2)
        return start()


def _log_copy(out_dir: Path, label: str) -> Path:
    """Where a trial's server log is kept (the server's own copy goes with its temp dir)."""
    logs = out_dir / "logs"
    logs.mkdir(exist_ok=True)
    return logs / label


def run(args: argparse.Namespace) -> int:
    opts = Options(quick=args.quick, workers=args.workers, pin=not args.no_pin, profile=args.profile)
    if args.quick:
        opts.apply_quick()
    for key in (
        "sessions",
        "rate",
        "idle_sessions",
        "join_clients",
        "duration",
        "warmup",
        "saturation_start",
        "cluster_sessions",
        "cluster_rate",
    ):
        value = getattr(args, key)
        if value is not None:
            setattr(opts, key, value)
    if args.flush_sizes:
        opts.flush_sizes = tuple(int(x) for x in args.flush_sizes.split(","))
    wanted = scenarios.SCENARIOS if args.scenario == "all" else args.scenario.split(",")
    unknown = [s for s in wanted if s not in scenarios.SCENARIOS]
    if unknown:
        print(f"unknown scenario {unknown}; choose from {scenarios.SCENARIOS} or all", file=sys.stderr)
        return 2
    servers = args.servers.split(",") if args.servers else list(ALL_SERVERS)
    for name in servers:
        if name not in ALL_SERVERS:
            print(f"unknown server {name}; choose from {ALL_SERVERS}", file=sys.stderr)
            return 2
    server_env = dict(item.split("=", 1) for item in args.server_env)
    pinning = Pinning.choose(opts.pin)
    if pinning.generator is not None:
        os.sched_setaffinity(0, pinning.generator)  # the orchestrator stays off the server's core
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else BENCH_DIR / "results" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    opts.out_dir = out_dir
    peer_versions: dict[str, str] = {}
    if any(s in servers for s in ("y-websocket", "hocuspocus")) and any(
        w in scenarios.PEER_SCENARIOS for w in wanted
    ):
        peer_versions.update(ensure_node_peers())
    if "pycrdt-websocket" in servers and any(w in scenarios.PEER_SCENARIOS for w in wanted):
        peer_versions.update(ensure_pycrdt_websocket())
    results: dict[str, Any] = {
        "meta": {
            "started": stamp,
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "caveat": CAVEAT,
            "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
            "pinning": pinning.describe(),
            "generator": f"{opts.workers} trio process(es) (bench/worker.py, lean WebSocket client bench/ws.py)",
            "trials": args.trials,
            "quick": opts.quick,
            "p99_limit_ms": opts.p99_limit_ms,
            "reach_limit": opts.reach_limit,
            "options": {k: str(v) for k, v in vars(opts).items()},
            "server_env": server_env,
            "peer_versions": peer_versions,
            "python": sys.version.split()[0],
        },
        "scenarios": {},
        "notes": [],
    }
    log(f"results -> {out_dir}")
    for scenario in wanted:
        if scenario == "flush":
            results["scenarios"]["flush"] = run_flush(
                servers, pinning, opts, args.trials, out_dir, server_env, results
            )
            _write(out_dir, results)
            continue
        targets = scenarios.applicable(scenario, servers)
        bucket: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        results["scenarios"][scenario] = bucket
        for trial in range(args.trials):
            for name in targets:  # trials interleaved across servers, so drifting load hits all alike
                label = f"{scenario}-{name}-t{trial + 1}"
                log(f"{label}: starting")
                server = None
                try:
                    server = _start(
                        name, functools.partial(scenarios.start, scenario, name, pinning, server_env)
                    )
                    outcome = scenarios.runner(scenario, name)(server, pinning, opts, label)
                except Exception as error:  # noqa: BLE001 - recorded, the run goes on
                    log(f"{label}: FAILED {type(error).__name__}: {error}")
                    outcome = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
                finally:
                    if server is not None:
                        server.stop(keep_log=_log_copy(out_dir, label))
                bucket[name].append(scenarios.nan_to_none(outcome))
                log(f"{label}: {summary_line(scenario, outcome)}")
                _write(out_dir, results)
    results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    _write(out_dir, results)
    (out_dir / "results.md").write_text(report.render(scenarios.nan_to_none(results)))
    plots = report.plot(scenarios.nan_to_none(results), out_dir)
    log(f"wrote {out_dir / 'results.json'}, results.md, {', '.join(plots) or 'no plots'}")
    print(out_dir)
    return 0


def run_flush(
    servers: list[str],
    pinning: Pinning,
    opts: Options,
    trials: int,
    out_dir: Path,
    server_env: dict[str, str],
    results: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"store": {}, "e2e": {}}
    backends = []
    if "ours-pg" in servers:
        backends.append("postgresql")
    if "ours-sqlite" in servers:
        backends.append("sqlite")
    sizes = opts.flush_sizes
    for backend in backends:
        log(f"flush-store-{backend}: sizes {sizes}, 3 repeats each")
        database = None
        tmp = None
        try:
            if backend == "postgresql":
                database = create_pg_database("flush")
                url = f"{PG_BASE}/{database}"
            else:
                tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-flush-{os.getpid()}.db"
                url = f"sqlite:///{tmp}"
            outcome = scenarios.run_flush_store(url, sizes, pinning, repeats=max(3, trials))
        except Exception as error:  # noqa: BLE001
            outcome = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
        finally:
            if database is not None:
                drop_pg_database(database)
            if tmp is not None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(str(tmp) + suffix).unlink(missing_ok=True)
        log(f"flush-store-{backend}: {json.dumps(outcome)[:400]}")
        out["store"][backend] = [outcome]
        results["scenarios"]["flush"] = out
        _write(out_dir, results)
    if "ours-pg" in servers:
        out["e2e"]["ours-pg"] = []
        for trial in range(trials):
            label = f"flush-e2e-ours-pg-t{trial + 1}"
            server = None
            try:
                server = _start("ours-pg", functools.partial(start_server, "ours-pg", pinning, server_env))
                outcome = scenarios.run_flush_e2e(server, pinning, opts, label)
            except Exception as error:  # noqa: BLE001
                outcome = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
            finally:
                if server is not None:
                    server.stop(keep_log=_log_copy(out_dir, label))
            out["e2e"]["ours-pg"].append(scenarios.nan_to_none(outcome))
            log(f"{label}: {json.dumps(outcome)[:300]}")
            _write(out_dir, results)
    return out


def summary_line(scenario: str, outcome: dict[str, Any]) -> str:
    if "error" in outcome:
        return f"error {outcome['error']}"
    if scenario == "interview":
        e = outcome["edit_latency_ms"]
        return (
            f"edit p50 {e['p50']:.2f} p99 {e['p99']:.2f} ms reach {outcome['edit_reach']:.4f}, "
            f"server cpu {outcome['server_cpu']:.2f} rss {outcome['server_rss_max_mb']:.0f} MB, "
            f"gen cpu {outcome['generator_cpu_per_worker']}"
        )
    if scenario == "cluster":
        e = outcome["edit_latency_ms"]
        split = ", ".join(
            f"{where} p50 {report.fmt(part['edit_latency_ms']['p50'], 2)} p99 "
            f"{report.fmt(part['edit_latency_ms']['p99'], 2)} reach {report.fmt(part['edit_reach'], pct=True)}"
            for where, part in outcome["by_locality"].items()
            if part["edit_latency_ms"]["n"]
        )
        nodes = " + ".join(report.fmt(node["server_cpu"], 2) for node in outcome["nodes"].values())
        return (
            f"edit p50 {report.fmt(e['p50'], 2)} p99 {report.fmt(e['p99'], 2)} ms ({split}), "
            f"node cpu {nodes}, redis cpu {report.fmt(outcome['redis']['server_cpu'], 2)}, "
            f"gen cpu {outcome['generator_cpu_per_worker']}"
        )
    if scenario == "saturation":
        return f"saturation {outcome['saturation_edits_per_s']} edits/s ({outcome['verdict']})"
    if scenario == "connections":
        return (
            f"{outcome['rss_kb_per_idle_connection']} KB/conn, "
            f"{outcome['rss_kb_per_live_session_alone']} KB/session, rss {outcome['rss_mb']}"
        )
    if scenario == "joinstorm":
        return f"all synced after {outcome['all_synced_s']} s ({outcome['synced']}/{outcome['joiners']})"
    if scenario == "rest":
        c, g = outcome["create_session"], outcome["get_session"]
        return (
            f"create {c['requests_per_s']:.0f}/s p99 {c['latency_ms']['p99']:.1f} ms; "
            f"get {g['requests_per_s']:.0f}/s p99 {g['latency_ms']['p99']:.1f} ms"
        )
    return json.dumps(outcome)[:200]


def smoke(args: argparse.Namespace) -> int:
    """A few seconds on ours-sqlite: 5 sessions x 3 clients, 30 edits/s; one summary line."""
    started = time.monotonic()
    opts = Options(sessions=5, clients_per_session=3, rate=30.0, warmup=1.0, duration=3.0)
    pinning = Pinning.choose(True)
    server = None
    try:
        server = start_server("ours-sqlite", pinning)
        result = scenarios.run_interview(server, pinning, opts, "smoke")
    except Exception as error:  # noqa: BLE001
        print(f"bench smoke FAILED: {type(error).__name__}: {error}")
        return 1
    finally:
        if server is not None:
            server.stop()
    e = result["edit_latency_ms"]
    ok = (
        result["connect"]["failed"] == 0
        and (result["edit_reach"] or 0) >= 0.99
        and (result["awareness_reach"] or 0) >= 0.99
        and result["sent_edits"] > 0
    )
    print(
        f"bench smoke {'ok' if ok else 'FAILED'}: ours-sqlite {result['clients']} clients, "
        f"{result['sent_edits']} edits, reach {100 * (result['edit_reach'] or 0):.2f}% "
        f"(awareness {100 * (result['awareness_reach'] or 0):.2f}%), edit p50 {e['p50']:.2f} ms "
        f"p99 {e['p99']:.2f} ms, server cpu {result['server_cpu']:.2f}, "
        f"{time.monotonic() - started:.1f} s"
    )
    return 0 if ok else 1


def rerender(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    results = json.loads((out_dir / "results.json").read_text())
    _resummarize_profiles(results, out_dir)
    _write(out_dir, results)
    (out_dir / "results.md").write_text(report.render(results))
    report.plot(results, out_dir)
    print(out_dir / "results.md")
    return 0


def _resummarize_profiles(node: Any, out_dir: Path) -> None:
    """Recompute profile summaries from the raw py-spy files (after the categories change)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "profile" and isinstance(value, dict) and value.get("raw"):
                raw = out_dir / Path(value["raw"]).name
                if raw.exists():
                    node[key] = {**scenarios.summarize_collapsed(raw), "raw": str(raw)}
            else:
                _resummarize_profiles(value, out_dir)
    elif isinstance(node, list):
        for item in node:
            _resummarize_profiles(item, out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p_run = commands.add_parser("run", help="run scenarios and write bench/results/<timestamp>/")
    p_run.add_argument(
        "--scenario", required=True, help=f"{', '.join(scenarios.SCENARIOS)} (comma-separated) or all"
    )
    p_run.add_argument("--servers", help=f"comma-separated, default all: {','.join(ALL_SERVERS)}")
    p_run.add_argument("--trials", type=int, default=3)
    p_run.add_argument("--quick", action="store_true", help="shorter windows, fewer idle sessions")
    p_run.add_argument("--workers", type=int, default=1, help="generator processes (sessions are split)")
    p_run.add_argument(
        "--no-pin", action="store_true", help="do not pin server and generator to separate cores"
    )
    p_run.add_argument(
        "--profile", action="store_true", help="py-spy the server during interview (Python servers)"
    )
    p_run.add_argument("--sessions", type=int, help="interview/saturation sessions (default 500)")
    p_run.add_argument("--rate", type=float, help="interview edits/s (default 350; saturation starts here)")
    p_run.add_argument("--saturation-start", type=float, help="first saturation step, edits/s (default 100)")
    p_run.add_argument("--warmup", type=float, help="interview warm-up seconds")
    p_run.add_argument("--duration", type=float, help="interview measured seconds")
    p_run.add_argument("--idle-sessions", type=int, help="connections scenario sessions (x2 connections)")
    p_run.add_argument("--join-clients", type=int, help="joinstorm joiners (default 200)")
    p_run.add_argument("--cluster-sessions", type=int, help="cluster scenario sessions (default 200)")
    p_run.add_argument("--cluster-rate", type=float, help="cluster scenario edits/s in total (default 150)")
    p_run.add_argument("--flush-sizes", help="flush scenario sizes, comma-separated (default 1000,10000)")
    p_run.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for our server, e.g. FLUSH_INTERVAL_SECONDS=5",
    )
    p_run.add_argument("--out", help="output directory (default bench/results/<timestamp>)")
    p_run.set_defaults(func=run)
    p_smoke = commands.add_parser("smoke", help="a few seconds against ours-sqlite; exit 0 if it works")
    p_smoke.set_defaults(func=smoke)
    p_report = commands.add_parser("report", help="re-render results.md and plots from a results.json")
    p_report.add_argument("dir")
    p_report.set_defaults(func=rerender)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
