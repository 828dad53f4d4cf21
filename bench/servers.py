"""Starting, watching and stopping the servers under test: ours (SQLite, PostgreSQL) and peers.

Peers are installed from their registries at benchmark time into `bench/.peers/` (git-ignored):
npm `y-websocket` and `@hocuspocus/server` under `.peers/node`, PyPI `pycrdt-websocket` in its
own venv `.peers/pycrdt-websocket-venv` (it would fit ours — it wants pycrdt <0.15 too — but a
venv of its own keeps our .venv exactly what the project declares).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / ".peers"
NODE_DIR = PEERS_DIR / "node"
PYCRDT_VENV = PEERS_DIR / "pycrdt-websocket-venv"
VENV_BIN = Path(sys.executable).parent

NPM_PACKAGES = {"y-websocket": "1.5.4", "@hocuspocus/server": "2.15.3"}
PYPI_PEER = {"pycrdt-websocket": "0.16.5", "hypercorn": "0.18.0"}

ALL_SERVERS = ["ours-pg", "ours-sqlite", "y-websocket", "hocuspocus", "pycrdt-websocket"]
PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql://root@127.0.0.1:5432")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- peers installed at benchmark time ---------------------------------------------------------


def _npm_version(package: str) -> str | None:
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def ensure_node_peers() -> dict[str, str]:
    if any(_npm_version(p) != v for p, v in NPM_PACKAGES.items()):
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        manifest = NODE_DIR / "package.json"
        if not manifest.exists():
            manifest.write_text('{"name": "codeinterview-bench-peers", "private": true}\n')
        specs = [f"{p}@{v}" for p, v in NPM_PACKAGES.items()]
        log(f"npm install {' '.join(specs)} into {NODE_DIR}")
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", *specs],
            cwd=NODE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return {p: _npm_version(p) or "?" for p in NPM_PACKAGES}


def ensure_pycrdt_websocket() -> dict[str, str]:
    python = PYCRDT_VENV / "bin" / "python"
    probe = "import importlib.metadata as m; print(m.version('pycrdt-websocket'), m.version('pycrdt'))"
    found = ""
    if python.exists():
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True).stdout.strip()
    if not found.startswith(PYPI_PEER["pycrdt-websocket"] + " "):
        log(f"creating {PYCRDT_VENV} with pycrdt-websocket=={PYPI_PEER['pycrdt-websocket']}")
        subprocess.run([sys.executable, "-m", "venv", str(PYCRDT_VENV)], check=True)
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *(f"{p}=={v}" for p, v in PYPI_PEER.items()),
            ],
            check=True,
        )
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True).stdout.strip()
    version, _, pycrdt_version = found.partition(" ")
    return {"pycrdt-websocket": version, "pycrdt (its venv)": pycrdt_version}


# -- CPU pinning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinning:
    server: frozenset[int] | None
    generator: frozenset[int] | None

    @staticmethod
    def choose(enabled: bool) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0))
        if not enabled or len(cpus) < 2:
            return Pinning(None, None)
        half = len(cpus) // 2
        return Pinning(frozenset(cpus[:half]), frozenset(cpus[half:]))

    def describe(self) -> str:
        if self.server is None:
            return "no pinning: server and generator share all cores"
        return (
            f"server pinned to CPU {sorted(self.server)}, load generator (and wrk, orchestrator) to "
            f"CPU {sorted(self.generator or [])}; PostgreSQL (ours-pg) is not pinned"
        )

    def preexec(self, which: str):  # noqa: ANN201 - a Popen preexec_fn
        cpus = self.server if which == "server" else self.generator
        if cpus is None:
            return None
        return lambda: os.sched_setaffinity(0, cpus)


# -- resource sampling -------------------------------------------------------------------------


class Monitor:
    """Samples a process tree's RSS and CPU time every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.25, extra: str | None = None) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.extra = extra  # a process name whose CPU (all instances) is also summed, e.g. postgres
        self.samples: list[tuple[float, int, float, float]] = []  # (monotonic, rss, cpu s, extra cpu s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            return []

    def _extra_cpu(self) -> float:
        if self.extra is None:
            return 0.0
        total = 0.0
        for proc in psutil.process_iter(["name", "cpu_times"]):
            if proc.info["name"] == self.extra and proc.info["cpu_times"] is not None:
                times = proc.info["cpu_times"]
                total += times.user + times.system
        return total

    def sample(self) -> tuple[float, int, float, float] | None:
        rss = 0
        cpu = 0.0
        tree = self._tree()
        if not tree:
            return None
        for proc in tree:
            try:
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
            except psutil.Error:
                pass
        item = (time.monotonic(), rss, cpu, self._extra_cpu())
        self.samples.append(item)
        return item

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def rss_now(self, settle_samples: int = 1) -> int:
        values = []
        for _ in range(settle_samples):
            item = self.sample()
            if item:
                values.append(item[1])
            time.sleep(self.interval)
        return int(sorted(values)[len(values) // 2]) if values else 0

    def window(self, start: float, end: float) -> dict[str, float]:
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] <= start]
        first = before[-1] if before else (inside[0] if inside else None)
        last = inside[-1] if inside else None
        if first is None or last is None or last[0] <= first[0]:
            return {"cpu": float("nan"), "rss_max_mb": float("nan"), "rss_end_mb": float("nan")}
        span = last[0] - first[0]
        out = {
            "cpu": (last[2] - first[2]) / span,
            "rss_max_mb": max(s[1] for s in inside) / 2**20,
            "rss_end_mb": last[1] / 2**20,
        }
        if self.extra:
            out[f"{self.extra}_cpu"] = (last[3] - first[3]) / span
        return out


# -- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}:\n{tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s; see {log_path}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def psql(database: str, sql: str) -> None:
    subprocess.run(
        ["psql", f"{PG_BASE}/{database}", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def create_pg_database(tag: str) -> str:
    name = f"bench_{tag}_{os.getpid()}_{secrets.token_hex(3)}"
    psql("postgres", f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    try:
        psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except subprocess.CalledProcessError:
        log(f"could not drop database {name}")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    framing: str  # "ours", "plain" (room = URL path) or "hocuspocus" (document name in every message)
    pg_database: str | None = None
    monitor: Monitor | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def client_spec(self, room: str) -> dict[str, object]:
        """How a generator client reaches room `room` on a peer (ours needs REST first)."""
        if self.framing == "hocuspocus":
            return {"url": f"{self.ws}/", "doc": room}
        return {"url": f"{self.ws}/{room}", "doc": None}

    def stop(self, keep_log: Path | None = None) -> None:
        """Stop it and remove its files; with `keep_log`, copy its log to `<keep_log>.log` first."""
        if self.monitor is not None:
            self.monitor.stop()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for 20 s; killing it")
                self.proc.kill()
                self.proc.wait()
        if self.pg_database is not None:
            drop_pg_database(self.pg_database)
        if keep_log is not None:
            try:
                shutil.copy(self.log_path, keep_log.with_name(keep_log.name + ".log"))
            except OSError as error:
                log(f"could not keep the log of {self.name}: {error}")
        shutil.rmtree(self.workdir, ignore_errors=True)


OURS_DEFAULT_ENV = {
    # Keep session actors alive between set-up and load, and through the whole run.
    "IDLE_TIMEOUT_SECONDS": "600",
    # All load comes from 127.0.0.1: the per-client limits (20 sessions/min, 30 joins/min,
    # 100 WebSocket messages/s per connection by default) would throttle the set-up itself.
    # The benchmark measures the server, not the limiter; --server-env RATE_LIMITS_ENABLED=true
    # measures with them (429s are then counted and reported).
    "RATE_LIMITS_ENABLED": "false",
    "PYTHONUNBUFFERED": "1",
}


def _ours_env(extra_env: dict[str, str] | None, **settings: str) -> dict[str, str]:
    """Our server's environment: the caller's, minus any DATABASE_URL, plus the bench defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env.update(OURS_DEFAULT_ENV)
    env["SECRET_KEY"] = secrets.token_urlsafe(32)
    env.update(settings)
    env.update(extra_env or {})
    return env


def _migrate(env: dict[str, str], workdir: Path) -> None:
    subprocess.run(
        [str(VENV_BIN / "codeinterview"), "migrate"],
        env=env,
        check=True,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _ours_command(port: int) -> list[str]:
    return [str(VENV_BIN / "codeinterview"), "serve", "--host", "127.0.0.1", "--port", str(port)]


def start_server(name: str, pinning: Pinning, extra_env: dict[str, str] | None = None) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    pg_database = None
    if name == "ours-sqlite":
        env = _ours_env(extra_env, DATABASE_URL=f"sqlite:///{workdir}/bench.db")
        command = _ours_command(port)
        framing = "ours"
    elif name == "ours-pg":
        pg_database = create_pg_database("srv")
        env = _ours_env(extra_env, DATABASE_URL=f"{PG_BASE}/{pg_database}")
        _migrate(env, workdir)
        command = _ours_command(port)
        framing = "ours"
    elif name == "y-websocket":
        ensure_node_peers()
        env.update(HOST="127.0.0.1", PORT=str(port))
        command = ["node", str(NODE_DIR / "node_modules" / "y-websocket" / "bin" / "server.js")]
        framing = "plain"
    elif name == "hocuspocus":
        ensure_node_peers()
        env.update(HOST="127.0.0.1", PORT=str(port), NODE_PATH=str(NODE_DIR / "node_modules"))
        command = ["node", str(BENCH_DIR / "peers" / "hocuspocus_server.js")]
        framing = "hocuspocus"
    elif name == "pycrdt-websocket":
        ensure_pycrdt_websocket()
        env.update(HOST="127.0.0.1", PORT=str(port), PYTHONUNBUFFERED="1")
        command = [
            str(PYCRDT_VENV / "bin" / "python"),
            str(BENCH_DIR / "peers" / "pycrdt_websocket_server.py"),
        ]
        framing = "plain"
    else:
        raise ValueError(f"unknown server {name!r}; choose from {', '.join(ALL_SERVERS)}")
    postgres = "postgres" if pg_database else None
    return _launch(
        name, command, env, workdir, port, framing, pinning, pg_database=pg_database, extra=postgres
    )


def _launch(
    name: str,
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    port: int,
    framing: str,
    pinning: Pinning,
    *,
    pg_database: str | None = None,
    extra: str | None = None,
) -> Server:
    """Start `command` pinned as a server, wait until it listens on `port`, then watch it."""
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=pinning.preexec("server"),
        )
    server = Server(name, port, proc, workdir, log_path, framing, pg_database, env=env)
    try:
        wait_for_port(port, proc, 60, log_path)
    except BaseException:
        server.stop()
        raise
    server.monitor = Monitor(proc.pid, extra=extra)
    return server


# -- our server as a cluster -------------------------------------------------------------------


@dataclass
class Cluster:
    """Nodes of our server sharing one PostgreSQL database and live sessions through a private Redis."""

    nodes: list[Server]
    redis: Server
    pg_database: str
    name: str = "ours-pg cluster"

    def stop(self, keep_log: Path | None = None) -> None:
        """Stop it; with `keep_log`, copy each process's log to `<keep_log>-<process>.log`."""

        def copy_as(part: str) -> Path | None:
            return keep_log.with_name(f"{keep_log.name}-{part}") if keep_log is not None else None

        for index, node in enumerate(self.nodes):  # before Redis, so their last frames go out
            node.stop(copy_as(f"node{index + 1}"))
        self.redis.stop(copy_as("redis"))
        drop_pg_database(self.pg_database)


def start_redis(pinning: Pinning) -> Server:
    """A private redis-server (no persistence) on a free port, pinned like a server."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: apt-get install redis-server")
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return _launch("redis", command, dict(os.environ), workdir, port, "redis", pinning)


def start_cluster(pinning: Pinning, extra_env: dict[str, str] | None = None, nodes: int = 2) -> Cluster:
    """`nodes` ours-pg servers on one fresh database, with one SECRET_KEY and a private Redis."""
    redis = start_redis(pinning)
    pg_database = create_pg_database("cluster")
    started: list[Server] = []
    try:
        env = _ours_env(
            extra_env,
            DATABASE_URL=f"{PG_BASE}/{pg_database}",
            REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
        )
        for index in range(nodes):
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-cluster-node{index + 1}-"))
            if index == 0:
                _migrate(env, workdir)
            port = free_port()
            postgres = "postgres" if index == 0 else None  # machine-wide: counted once
            name = f"ours-pg node {index + 1}"
            started.append(
                _launch(name, _ours_command(port), env, workdir, port, "ours", pinning, extra=postgres)
            )
    except BaseException:
        Cluster(started, redis, pg_database).stop()
        raise
    return Cluster(started, redis, pg_database)
