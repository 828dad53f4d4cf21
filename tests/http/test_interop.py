"""Interoperability: the unmodified npm `y-websocket` client (run by Node, tests/interop) against
the real server, next to the Python Yjs and JSON clients.

Node.js 20+ and npm are required; without them these tests fail (they never skip). The npm
packages are installed from tests/interop/package-lock.json with `npm ci` once per lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio

from codeinterview.actors.awareness import ByteReader, decode_awareness_update
from tests.clients import YjsClient, json_client, yjs_client
from tests.http.api import bearer, create_session, join
from tests.http.conftest import Server, StartServer

INTEROP_DIR = Path(__file__).resolve().parent.parent / "interop"
SCRIPT = INTEROP_DIR / "client.mjs"
# What decides the contents of node_modules; a change to any of them reinstalls.
INSTALL_INPUTS = ("package.json", "package-lock.json", ".npmrc")
STAMP_NAME = ".codeinterview-install-stamp"
MIN_NODE_MAJOR = 20
# client.mjs bounds its own waiting to 15 s; this outer bound also covers Node's start-up.
NODE_SECONDS = 45
NPM_CI_SECONDS = 600

LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = LOWER.upper()


@dataclass(frozen=True)
class NodeRunner:
    node: str
    script: Path


@contextmanager
def _install_lock() -> Iterator[None]:
    # Two pytest runs at once must not both run `npm ci` (it deletes node_modules first).
    key = hashlib.sha256(str(INTEROP_DIR).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"codeinterview-interop-{key}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install_digest() -> str:
    digest = hashlib.sha256()
    for name in INSTALL_INPUTS:
        path = INTEROP_DIR / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return digest.hexdigest()


@pytest.fixture(scope="session")
def interop_node() -> NodeRunner:
    """Node.js, with tests/interop's npm packages installed exactly as locked."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not installed, and the interop tests run the npm y-websocket client in it. "
            f"Install Node.js {MIN_NODE_MAJOR}+ with npm (e.g. `apt-get install nodejs npm`, or from "
            "nodejs.org) and put `node` and `npm` on PATH; these tests never skip.",
            pytrace=False,
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < MIN_NODE_MAJOR:
        pytest.fail(
            f"{node} reports version {version!r}; the interop tests need Node.js {MIN_NODE_MAJOR}+.",
            pytrace=False,
        )
    with _install_lock():
        digest = _install_digest()
        stamp = INTEROP_DIR / "node_modules" / STAMP_NAME
        if not stamp.exists() or stamp.read_text().strip() != digest:
            npm = shutil.which("npm")
            if npm is None:
                pytest.fail(
                    "npm is not installed, and it is needed once to install tests/interop's "
                    "packages. Install npm alongside Node.js; these tests never skip.",
                    pytrace=False,
                )
            try:
                result = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=INTEROP_DIR,
                    capture_output=True,
                    text=True,
                    timeout=NPM_CI_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"`npm ci` in {INTEROP_DIR} took over {NPM_CI_SECONDS} s", pytrace=False)
            if result.returncode != 0:
                pytest.fail(
                    f"`npm ci` in {INTEROP_DIR} failed with exit code {result.returncode} "
                    f"(is the npm registry reachable?)\n--- stdout ---\n{result.stdout}\n"
                    f"--- stderr ---\n{result.stderr}",
                    pytrace=False,
                )
            stamp.write_text(digest + "\n")
    return NodeRunner(node, SCRIPT)


async def run_npm_clients(
    runner: NodeRunner, server: Server, session_id: str, clients: list[dict[str, object]], **extra: object
) -> dict[str, object]:
    """Runs client.mjs to completion; returns the JSON line it prints, or fails with its stderr."""
    config = {
        "url": f"{server.ws_url}/ws/sessions",
        "session": session_id,
        "clients": clients,
        "seed": random.randrange(2**31),
        "timeoutMs": 15_000,
        **extra,
    }
    with trio.fail_after(NODE_SECONDS):
        result = await trio.run_process(
            [runner.node, str(runner.script)],
            stdin=json.dumps(config).encode(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout = result.stdout.decode(errors="replace")
    stderr = result.stderr.decode(errors="replace")
    report = f"\n--- node stderr ---\n{stderr}\n--- node stdout ---\n{stdout}"
    assert result.returncode == 0, f"client.mjs exited with code {result.returncode}{report}"
    lines = stdout.strip().splitlines()
    assert lines, f"client.mjs printed nothing{report}"
    output: dict[str, object] = json.loads(lines[-1])
    return output


def npm_client(
    name: str, token: str, count: int = 0, mode: str = "random", alphabet: str = LOWER, color: str = "#2563eb"
) -> dict[str, object]:
    return {"name": name, "token": token, "count": count, "mode": mode, "alphabet": alphabet, "color": color}


def client_reports(out: dict[str, object]) -> dict[str, dict[str, object]]:
    """client.mjs's per-client report (name, clientID, seen awareness names, typed, probes)."""
    reports = out["clients"]
    assert isinstance(reports, list)
    return {str(report["name"]): report for report in reports}


def awareness_names(client: YjsClient) -> set[str]:
    """Every user name announced in the awareness messages a Python Yjs client received."""
    names = set()
    for message in client.awareness:
        reader = ByteReader(message)
        assert reader.read_var_uint() == 1
        payload = reader.read_var_bytes()
        for entry in decode_awareness_update(payload):
            if entry.state is not None:
                user = json.loads(entry.state).get("user")
                if isinstance(user, dict) and isinstance(user.get("name"), str):
                    names.add(user["name"])
    return names


async def live_code(client: httpx.AsyncClient, session_id: str, token: str) -> dict[str, object]:
    response = await client.get(f"/api/v1/sessions/{session_id}/code", headers=bearer(token))
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


async def test_two_npm_clients_type_concurrently_and_converge(
    server: Server, client: httpx.AsyncClient, interop_node: NodeRunner
) -> None:
    initial = "/* 1 */\n"
    created = await create_session(client, code=initial, language="javascript")
    grace = await join(client, created.id, created.candidate_invite, name="Grace")
    out = await run_npm_clients(
        interop_node,
        server,
        created.id,
        [
            npm_client("Ada", created.token, count=50, mode="append", alphabet=LOWER, color="#d33"),
            npm_client("Grace", str(grace["token"]), count=50, mode="random", alphabet=UPPER, color="#0a7"),
        ],
        initial=initial,
    )
    text = str(out["text"])
    assert out["awareness_seen"] is True
    assert out["synced_text"] == initial
    assert len(text) == len(initial) + 100
    assert sorted(text) == sorted(initial + (LOWER * 2)[:50] + (UPPER * 2)[:50])
    # Ada always typed at the end of what she saw, so her letters keep the order she typed them.
    assert "".join(c for c in text if c in LOWER) == (LOWER * 2)[:50]
    seen = {name: report["seen"] for name, report in client_reports(out).items()}
    assert seen == {"Ada": ["Grace"], "Grace": ["Ada"]}
    assert (await live_code(client, created.id, created.token))["code"] == text


async def test_npm_python_yjs_and_json_clients_edit_together(
    server: Server, client: httpx.AsyncClient, interop_node: NodeRunner
) -> None:
    initial = "print('hi')\n"
    py_marker, json_marker = "<<py>>", "\n# <<json>>\n"
    created = await create_session(client, code=initial, language="python")
    grace = await join(client, created.id, created.candidate_invite, name="Grace")
    out: dict[str, object] = {}
    async with yjs_client(server.ws_url, created.id, created.token) as py, json_client(
        server.ws_url, created.id, created.token
    ) as simple:
        await py.send_awareness(py.doc.client_id, 1, {"user": {"name": "Python", "color": "#123456"}})

        async def npm_side() -> None:
            out.update(
                await run_npm_clients(
                    interop_node,
                    server,
                    created.id,
                    [npm_client("Grace", str(grace["token"]), count=50, alphabet=UPPER)],
                    initial=initial,
                    peers=["Python"],
                    markers=[py_marker, json_marker],
                )
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(npm_side)
            # Grace (npm) is typing: the Python Yjs client edits in the middle of it.
            await py.wait_until(lambda: len(py.code) > len(initial))
            await py.insert(len(py.code) // 2, py_marker)
            # Once the JSON client holds every edit, its full-text update appends a line.
            expected_length = len(initial) + 50 + len(py_marker)
            await simple.wait_until(lambda: simple.code is not None and len(simple.code) == expected_length)
            assert simple.code is not None
            sent = simple.code + json_marker
            await simple.send("code_update", {"code": sent})
        text = str(out["text"])
        assert text == sent
        assert sorted(text) == sorted(initial + (UPPER * 2)[:50] + py_marker + json_marker)
        await py.wait_until(lambda: py.code == text)
        await py.wait_until(lambda: "Grace" in awareness_names(py))
        assert out["synced_language"] == ["python"]
    assert (await live_code(client, created.id, created.token))["code"] == text


async def test_npm_client_reads_language_set_at_creation(
    server: Server, client: httpx.AsyncClient, interop_node: NodeRunner
) -> None:
    created = await create_session(client, code="x = 1\n", language="python")
    out = await run_npm_clients(
        interop_node, server, created.id, [npm_client("Ada", created.token)], initial="x = 1\n"
    )
    assert out["synced_language"] == ["python"]
    assert out["language"] == "python"


async def test_language_set_by_npm_client_reaches_json_and_rest(
    server: Server, client: httpx.AsyncClient, interop_node: NodeRunner
) -> None:
    created = await create_session(client, code="<p>hi</p>\n", language="javascript")
    async with json_client(server.ws_url, created.id, created.token) as simple:
        assert simple.language == "javascript"
        out = await run_npm_clients(
            interop_node, server, created.id, [npm_client("Ada", created.token)], setLanguage="html"
        )
        assert out["synced_language"] == ["javascript"]
        assert out["language"] == "html"
        change = await simple.next_of("language_change")
        data = change["data"]
        assert isinstance(data, dict) and data["language"] == "html", change
    assert (await live_code(client, created.id, created.token))["language"] == "html"


async def test_unknown_language_from_npm_client_is_reverted(
    server: Server, client: httpx.AsyncClient, interop_node: NodeRunner
) -> None:
    created = await create_session(client, code="x = 1\n", language="python")
    grace = await join(client, created.id, created.candidate_invite, name="Grace")
    # Both npm docs must end on the server's revert, not on the setter's own "cobol".
    out = await run_npm_clients(
        interop_node,
        server,
        created.id,
        [npm_client("Ada", created.token), npm_client("Grace", str(grace["token"]))],
        setLanguage="cobol",
        expectLanguage="python",
    )
    assert out["language"] == "python"
    assert (await live_code(client, created.id, created.token))["language"] == "python"


async def test_npm_client_answers_the_server_heartbeat(
    start_server: StartServer, interop_node: NodeRunner
) -> None:
    # The server probes an idle binary connection with queryAwareness and closes it if nothing
    # comes back; the provider must answer by itself and stay connected through several rounds.
    server = await start_server(ws_ping_interval_seconds=0.2, ws_ping_timeout_seconds=2.0)
    async with server.client() as client:
        created = await create_session(client, code="x = 1\n", language="python")
        out = await run_npm_clients(
            interop_node, server, created.id, [npm_client("Ada", created.token, count=3)], probes=3
        )
        probes = [report["probes"] for report in client_reports(out).values()]
        assert probes and all(isinstance(n, int) and n >= 3 for n in probes), probes
        assert (await live_code(client, created.id, created.token))["code"] == out["text"]


async def test_npm_clients_agree_with_the_server_on_non_ascii_text(
    server: Server, client: httpx.AsyncClient, interop_node: NodeRunner
) -> None:
    # JavaScript counts UTF-16 units, Python code points, the wire UTF-8 bytes: astral
    # characters (two UTF-16 units) and multi-byte ones typed at random positions must come
    # out the same everywhere.
    initial = "# café 🙂\n"
    created = await create_session(client, code=initial, language="python")
    grace = await join(client, created.id, created.candidate_invite, name="Zoë")
    ada_alphabet, zoe_alphabet = "é中ß", "🙂ñ𝄞"
    out = await run_npm_clients(
        interop_node,
        server,
        created.id,
        [
            npm_client("Ada", created.token, count=30, alphabet=ada_alphabet),
            npm_client("Zoë", str(grace["token"]), count=30, alphabet=zoe_alphabet),
        ],
        initial=initial,
    )
    text = str(out["text"])
    assert sorted(text) == sorted(initial + ada_alphabet * 10 + zoe_alphabet * 10)
    seen = {name: report["seen"] for name, report in client_reports(out).items()}
    assert seen == {"Ada": ["Zoë"], "Zoë": ["Ada"]}
    assert (await live_code(client, created.id, created.token))["code"] == text
    async with yjs_client(server.ws_url, created.id, created.token) as py, json_client(
        server.ws_url, created.id, created.token
    ) as simple:
        assert py.code == text
        assert simple.code == text
