"""results.json -> results.md (Markdown tables, medians over trials) and PNG plots."""

# ruff: noqa: E501  -- long user-facing strings and embedded Lua

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Trials = list[dict[str, Any]]
Column = tuple[str, Callable[[Trials], str]]  # header, cell from one server's trials


def median(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    return statistics.median(numbers)


def dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def med(trials: list[dict[str, Any]], path: str) -> Any:
    return median([dig(t, path) for t in trials if "error" not in t])


def fmt(value: Any, digits: int = 1, pct: bool = False, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if pct:
        return f"{100 * value:.2f}%"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def at(path: str, digits: int = 1, pct: bool = False) -> Callable[[Trials], str]:
    """A cell: the median over trials of the value at `path`."""
    return lambda trials: fmt(med(trials, path), digits, pct=pct)


def per_server(data: dict[str, Trials], columns: list[Column]) -> tuple[list[str], list[str]]:
    """A table with a row per server, one cell per column spec; and the failed trials."""
    rows, errors = [], []
    for name, trials in data.items():
        errors += _trial_errors(name, trials)
        rows.append([name, *(cell(trials) for _, cell in columns)])
    return _table(["server", *(header for header, _ in columns)], rows), errors


def _trial_errors(name: str, trials: list[dict[str, Any]]) -> list[str]:
    return [
        f"- {name}: trial {i + 1} failed: `{str(t['error']).splitlines()[0][:300]}`"
        for i, t in enumerate(trials)
        if "error" in t
    ]


def generator_cpu(trials: list[dict[str, Any]]) -> Any:
    """Median over trials of the busiest generator worker's CPU (cores)."""
    return median([max(t.get("generator_cpu_per_worker") or [0]) for t in trials if "error" not in t])


def trial_counts(trials: list[dict[str, Any]]) -> list[str]:
    """Trials that ran, and trials whose generator was itself a bottleneck."""
    ok = sum(1 for t in trials if "error" not in t)
    return [f"{ok}/{len(trials)}", str(sum(1 for t in trials if t.get("generator_bound")))]


GEN_BOUND_NOTE = (
    "A gen-bound trial (generator CPU > 0.9 or its send-schedule lag p99 > 20 ms, e.g. its core "
    "taken by other work on the shared machine) measures the generator as much as the server."
)
LOCALITY_LABELS = {
    "same_node": "receiver on the sender's node",
    "cross_node": "receiver on the other node",
}


def cluster_section(data: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[str]]:
    """The cluster scenario's Markdown, and its failed trials."""
    first = next((t for trials in data.values() for t in trials if "error" not in t), {})
    per_session = first.get("clients", 0) // max(first.get("sessions", 1), 1)
    lines = [
        "## cluster",
        "",
        f"Two nodes of ours-pg (one PostgreSQL database, one SECRET_KEY, a private redis-server), "
        f"{first.get('sessions', '?')} sessions × {per_session} clients, the interview workload: "
        f"{fmt(first.get('offered_edits_per_s'), 0)} edits/s in total (open loop) plus "
        f"{fmt(first.get('offered_awareness_per_s'), 0)} awareness updates/s. **same-node**: all "
        "clients of a session on one node, sessions alternating between the nodes; **cross-node**: "
        "a session's clients alternate between the nodes (2 on one, 1 on the other). Every trial of "
        f"each layout is a fresh cluster. Placement: {first.get('placement', '?')}.",
        "",
    ]
    errors: list[str] = []
    rows = []
    for layout, trials in data.items():
        errors += _trial_errors(layout, trials)
        present = [
            where for where in LOCALITY_LABELS if med(trials, f"by_locality.{where}.edit_latency_ms.n")
        ]
        for where in present if len(present) == 1 else ["", *present]:
            prefix = f"by_locality.{where}." if where else ""
            rows.append(
                [
                    layout,
                    LOCALITY_LABELS.get(where, "all"),
                    fmt(med(trials, f"{prefix}edit_latency_ms.n"), 0),
                    *(
                        fmt(med(trials, f"{prefix}{kind}_latency_ms.{q}"), 2)
                        for kind in ("edit", "awareness")
                        for q in ("p50", "p99")
                    ),
                    fmt(med(trials, f"{prefix}edit_reach"), pct=True),
                    fmt(med(trials, f"{prefix}awareness_reach"), pct=True),
                ]
            )
    headers = ["layout", "receipts", "edit receipts", "edit p50 ms", "edit p99 ms"]
    headers += ["aware p50 ms", "aware p99 ms", "edit reach", "aware reach"]
    lines += _table(headers, rows)
    lines += ["", "Processes over the measured window (CPU in cores, peak RSS):", ""]
    nodes = sorted((first.get("nodes") or {}).keys())
    columns = [(f"{n} CPU", f"nodes.{n}.server_cpu", 2) for n in nodes]
    columns += [(f"{n} RSS MB", f"nodes.{n}.server_rss_max_mb", 0) for n in nodes]
    columns += [
        ("redis CPU", "redis.server_cpu", 3),
        ("redis RSS MB", "redis.server_rss_max_mb", 0),
        ("postgres CPU (machine)", "nodes.node1.postgres_cpu_machine_wide", 2),
        ("gen lag p99 ms", "schedule_lag_ms.p99", 2),
    ]
    rows = [
        [
            layout,
            *(fmt(med(trials, path), digits) for _, path, digits in columns),
            fmt(generator_cpu(trials), 2),
            *trial_counts(trials),
        ]
        for layout, trials in data.items()
    ]
    headers = ["layout", *(header for header, _, _ in columns), "gen CPU", "trials ok", "trials gen-bound"]
    lines += _table(headers, rows)
    lines += ["", GEN_BOUND_NOTE, ""]
    return lines, errors


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# codeinterview benchmark — {meta['started']}",
        "",
        f"> **{meta['caveat']}**",
        "",
        f"- Command: `{meta['command']}`",
        f"- Machine: {meta['cpus']} CPUs, load average at start {meta['loadavg_start']}, at end {meta.get('loadavg_end', '?')}",
        f"- Pinning: {meta['pinning']}",
        f"- Generator: {meta['generator']}",
        f"- Trials per server: {meta['trials']} (tables show the median over trials)"
        + ("; **quick** settings" if meta["quick"] else ""),
        f"- Peers: {meta.get('peer_versions', {})}",
        "",
    ]
    scenarios = results["scenarios"]
    errors: list[str] = []

    if "interview" in scenarios:
        data = scenarios["interview"]
        first = next((t for trials in data.values() for t in trials if "error" not in t), {})
        lines += [
            "## interview",
            "",
            f"{first.get('sessions', '?')} sessions × {first.get('clients', 0) // max(first.get('sessions', 1), 1)} clients, "
            f"single-character inserts at {fmt(first.get('offered_edits_per_s'), 0)} edits/s total (open loop) plus "
            f"{fmt(first.get('offered_awareness_per_s'), 0)} awareness (cursor) updates/s; latency = send → receipt by "
            "each other participant of the session.",
            "",
        ]
        table, failed = per_server(
            data,
            [
                ("edit p50 ms", at("edit_latency_ms.p50", 2)),
                ("edit p99 ms", at("edit_latency_ms.p99", 2)),
                ("edit max ms", at("edit_latency_ms.max")),
                ("edit reach", at("edit_reach", pct=True)),
                ("aware p50 ms", at("awareness_latency_ms.p50", 2)),
                ("aware p99 ms", at("awareness_latency_ms.p99", 2)),
                ("aware reach", at("awareness_reach", pct=True)),
                ("server CPU (cores)", at("server_cpu", 2)),
                ("server RSS MB", at("server_rss_max_mb", 0)),
                ("gen lag p99 ms", at("schedule_lag_ms.p99", 2)),
                ("gen CPU (cores)", lambda trials: fmt(generator_cpu(trials), 2)),
                ("trials ok", lambda trials: trial_counts(trials)[0]),
                ("trials gen-bound", lambda trials: trial_counts(trials)[1]),
            ],
        )
        lines += table
        errors += failed
        lines += ["", GEN_BOUND_NOTE, ""]

    if "cluster" in scenarios:
        section, failed = cluster_section(scenarios["cluster"])
        lines += section
        errors += failed

    if "saturation" in scenarios:
        lines += [
            "## saturation",
            "",
            "Offered edit rate raised stepwise (awareness at the same ratio) until edit p99 > "
            f"{meta['p99_limit_ms']} ms or reach < {meta['reach_limit']:.0%}. Saturation = highest passing rate.",
            "",
        ]
        rows = []
        for name, trials in scenarios["saturation"].items():
            errors += _trial_errors(name, trials)
            ok = [t for t in trials if "error" not in t]
            verdicts = "; ".join(sorted({t.get("verdict", "") for t in ok}))
            last_ok = []
            for t in ok:
                passing = [s for s in t["steps"] if s["passes_slo"]]
                if passing:
                    last_ok.append(passing[-1])
            rows.append(
                [
                    name,
                    fmt(median([t.get("saturation_edits_per_s") for t in ok]), 0),
                    fmt(median([s["server_cpu"] for s in last_ok]), 2),
                    fmt(median([s["edit_latency_ms"]["p99"] for s in last_ok]), 1),
                    verdicts or "–",
                    f"{len(ok)}/{len(trials)}",
                ]
            )
        lines += _table(
            [
                "server",
                "saturation edits/s",
                "server CPU at it",
                "p99 ms at it",
                "stopped because",
                "trials ok",
            ],
            rows,
        )
        lines += ["", "Per step (first successful trial):", ""]
        rows = []
        for name, trials in scenarios["saturation"].items():
            ok = [t for t in trials if "error" not in t]
            if not ok:
                continue
            for s in ok[0]["steps"]:
                e = s["edit_latency_ms"]
                rows.append(
                    [
                        name,
                        fmt(s["offered_edits_per_s"], 0),
                        fmt(e["p50"], 2),
                        fmt(e["p99"], 2),
                        fmt(s["edit_reach"], pct=True),
                        fmt(s["server_cpu"], 2),
                        fmt(max(s["generator_cpu_per_worker"] or [0]), 2),
                        fmt(s["schedule_lag_ms"]["p99"], 2),
                        fmt(s["generator_bound"]),
                        fmt(s["passes_slo"]),
                    ]
                )
        lines += _table(
            [
                "server",
                "edits/s",
                "p50 ms",
                "p99 ms",
                "reach",
                "server CPU",
                "gen CPU",
                "gen lag p99 ms",
                "gen-bound",
                "passes",
            ],
            rows,
        )
        lines.append("")

    if "connections" in scenarios:
        lines += [
            "## connections",
            "",
            "Idle WebSocket connections: RSS of the server process at baseline, after the sessions "
            "exist (ours: created through REST; peers: nothing to create), with one connection per "
            "session (sessions live), and with two.",
            "",
        ]
        table, failed = per_server(
            scenarios["connections"],
            [
                ("connections", at("connections", 0)),
                ("RSS base MB", at("rss_mb.baseline")),
                ("sessions created MB", at("rss_mb.sessions_created")),
                ("1 conn/session MB", at("rss_mb.one_connection_per_session")),
                ("2 conn/session MB", at("rss_mb.two_connections_per_session")),
                ("KB per idle conn", at("rss_kb_per_idle_connection")),
                ("KB per live session (excl. conn)", at("rss_kb_per_live_session_alone")),
                ("idle CPU (cores)", at("idle_server_cpu", 3)),
                ("open at end", at("open_connections_at_end", 0)),
            ],
        )
        lines += [*table, ""]
        errors += failed

    if "joinstorm" in scenarios:
        lines += [
            "## joinstorm",
            "",
            "One participant already in the session; then N clients join within the window. "
            "Time = from the storm's start until every joiner has received sync step 2.",
            "",
        ]
        table, failed = per_server(
            scenarios["joinstorm"],
            [
                ("joiners", at("joiners", 0)),
                ("window s", at("window_s")),
                ("all synced after s", at("all_synced_s", 3)),
                ("join→sync p50 ms", at("join_to_sync_ms.p50")),
                ("join→sync p99 ms", at("join_to_sync_ms.p99")),
                ("synced", at("synced", 0)),
                ("server CPU", at("server_cpu", 2)),
                ("gen CPU s", at("generator_cpu_s", 2)),
            ],
        )
        lines += [*table, ""]
        errors += failed

    if "rest" in scenarios:
        lines += [
            "## rest",
            "",
            "wrk, 1 thread, keep-alive connections, closed loop (each connection sends its "
            "next request when the previous answers).",
            "",
        ]
        rows = []
        for name, trials in scenarios["rest"].items():
            errors += _trial_errors(name, trials)
            for op in ("create_session", "get_session"):
                rows.append(
                    [
                        name,
                        op,
                        fmt(med(trials, f"{op}.connections"), 0),
                        fmt(med(trials, f"{op}.requests_per_s"), 0),
                        fmt(med(trials, f"{op}.ok_per_s"), 0),
                        fmt(med(trials, f"{op}.latency_ms.p50"), 2),
                        fmt(med(trials, f"{op}.latency_ms.p99"), 2),
                        fmt(med(trials, f"{op}.rate_limited_429"), 0),
                        fmt(med(trials, f"{op}.server_cpu"), 2),
                        fmt(med(trials, f"{op}.postgres_cpu_machine_wide"), 2),
                        fmt(med(trials, f"{op}.wrk_cpu"), 2),
                    ]
                )
        lines += _table(
            [
                "server",
                "request",
                "connections",
                "req/s",
                "2xx/s",
                "p50 ms",
                "p99 ms",
                "429s",
                "server CPU",
                "postgres CPU (machine)",
                "wrk CPU",
            ],
            rows,
        )
        lines.append("")

    if "flush" in scenarios:
        lines += ["## flush", ""]
        store = scenarios["flush"].get("store", {})
        rows = []
        for backend, trials in store.items():
            errors += _trial_errors(backend, trials)
            ok = [t for t in trials if "error" not in t]
            if not ok:
                continue
            for size in ok[0]["sizes"]:
                rows.append(
                    [
                        backend,
                        size,
                        fmt(median([t["sizes"][size]["one_batch_docs_per_s"] for t in ok]), 0),
                        fmt(
                            median([statistics.median(t["sizes"][size]["one_batch_seconds"]) for t in ok]), 3
                        ),
                        fmt(
                            median(
                                [
                                    t["sizes"][size][f"batches_of_{t['flusher_max_batch']}_docs_per_s"]
                                    for t in ok
                                ]
                            ),
                            0,
                        ),
                        fmt(ok[0]["doc_state_bytes"], 0),
                    ]
                )
        lines += [
            "In-process `Store.save_documents` (the server's own store API), documents of "
            f"~{fmt((store.get('postgresql') or store.get('sqlite') or [{}])[0].get('code_bytes'), 0)} bytes of code:",
            "",
        ]
        lines += _table(
            [
                "backend",
                "documents",
                "docs/s (one batch)",
                "seconds (one batch)",
                "docs/s (batches of 2000, as the flusher)",
                "CRDT state bytes",
            ],
            rows,
        )
        e2e = scenarios["flush"].get("e2e", {})
        if e2e:
            lines += [
                "",
                "End to end through a running server (ours-pg), from /metrics counters: N live sessions, "
                "one edit each within 1 s, until `codeinterview_flushed_documents` grew by N.",
                "",
            ]
            table, failed = per_server(
                e2e,
                [
                    ("sessions", at("sessions", 0)),
                    ("batches", at("flush_batches", 0)),
                    ("docs/batch", at("documents_per_batch")),
                    ("docs/s in flush_seconds", at("db_documents_per_s", 0)),
                    ("last edit → all flushed s", at("seconds_from_last_edit_to_all_flushed", 2)),
                    ("failures", at("flush_failures", 0)),
                ],
            )
            lines += table
            errors += failed
        lines.append("")

    profiles = []
    for scenario, data in scenarios.items():
        if not isinstance(data, dict):
            continue
        for name, trials in data.items():
            if not isinstance(trials, list):
                continue
            for index, trial in enumerate(trials):
                if not isinstance(trial, dict):
                    continue
                for where, holder in (("", trial), (" / create_session", trial.get("create_session"))):
                    profile = holder.get("profile") if isinstance(holder, dict) else None
                    if profile:
                        profiles.append((f"{scenario}{where} / {name} / trial {index + 1}", profile))
    if profiles:
        lines += ["## where the server's time goes (py-spy)", ""]
        for title, profile in profiles:
            busy = profile.get("busy_samples", profile["samples"])
            lines += [
                f"**{title}** — {profile['samples']} samples at 100 Hz, {busy} busy "
                "(idle waits excluded); share of busy samples:",
                "",
            ]
            lines += _table(
                ["category", "%"], [[name, f"{pct:.1f}"] for name, pct in profile["categories_pct"]]
            )
            lines += ["", "Top functions by self time:", ""]
            lines += _table(
                ["function", "self %"],
                [[f"`{name}`", f"{pct:.1f}"] for name, pct in profile["self_pct"][:12]],
            )
            lines.append("")
    if errors:
        lines += ["## failures", "", *errors, ""]
    if results.get("notes"):
        lines += ["## notes", "", *[f"- {n}" for n in results["notes"]], ""]
    return "\n".join(lines)


def plot(results: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[str] = []
    scenarios = results["scenarios"]
    caveat = "shared 2-core machine: development numbers"
    if "saturation" in scenarios:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for name, trials in scenarios["saturation"].items():
            ok = [t for t in trials if "error" not in t]
            if not ok:
                continue
            steps = ok[0]["steps"]
            rates = [s["offered_edits_per_s"] for s in steps]
            axes[0].plot(rates, [s["edit_latency_ms"]["p50"] for s in steps], "o--", label=f"{name} p50")
            axes[0].plot(rates, [s["edit_latency_ms"]["p99"] for s in steps], "o-", label=f"{name} p99")
            axes[1].plot(rates, [s["server_cpu"] for s in steps], "o-", label=name)
        axes[0].axhline(results["meta"]["p99_limit_ms"], color="grey", lw=0.8, ls=":")
        axes[0].set(
            xscale="log",
            yscale="log",
            xlabel="offered edits/s",
            ylabel="fan-out latency ms",
            title="latency percentiles vs load",
        )
        axes[1].set(
            xscale="log", xlabel="offered edits/s", ylabel="server CPU (cores)", title="server CPU vs load"
        )
        axes[0].legend(fontsize=7)
        axes[1].legend(fontsize=7)
        fig.suptitle(caveat, fontsize=9)
        fig.tight_layout()
        fig.savefig(out_dir / "latency_vs_load.png", dpi=110)
        plt.close(fig)
        made.append("latency_vs_load.png")
    if "interview" in scenarios:
        names, p50, p99 = [], [], []
        for name, trials in scenarios["interview"].items():
            names.append(name)
            p50.append(med(trials, "edit_latency_ms.p50") or 0)
            p99.append(med(trials, "edit_latency_ms.p99") or 0)
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], p99, 0.4, label="p99")
        ax.set_xticks(list(xs), names, rotation=20)
        ax.set(ylabel="fan-out latency ms", title=f"interview scenario ({caveat})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "interview_latency.png", dpi=110)
        plt.close(fig)
        made.append("interview_latency.png")
    if "connections" in scenarios:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, trials in scenarios["connections"].items():
            ok = [t for t in trials if "error" not in t]
            if not ok:
                continue
            n = ok[0]["sessions"]
            xs = [0, n, 2 * n]
            ys = [
                med(ok, "rss_mb.sessions_created"),
                med(ok, "rss_mb.one_connection_per_session"),
                med(ok, "rss_mb.two_connections_per_session"),
            ]
            ax.plot(xs, ys, "o-", label=name)
        ax.set(
            xlabel="idle connections (sessions × 1, then × 2)",
            ylabel="server RSS MB",
            title=f"memory vs connections ({caveat})",
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "memory_vs_connections.png", dpi=110)
        plt.close(fig)
        made.append("memory_vs_connections.png")
    return made
