"""The load-generator process: `python -m bench.worker`, driven by JSON lines on stdin.

Each command line gets one JSON reply line on stdout (stdout carries nothing else). Commands:

- {"cmd": "connect", "sessions": [[client, ...], ...], "concurrency": 64, "timeout": 60}
  where client = {"url": ..., "doc": <hocuspocus document name or null>, "receivers": other
  participants, and in the cluster scenario "node": its server node, "remote_receivers": how many
  of the others are on another node}. Opens every client,
  sends sync step 1 (after the auth message for Hocuspocus) and its awareness state, waits until
  each has received sync step 2. Connections stay open, answering pings and queryAwareness,
  until "close".
- {"cmd": "step", "rate": edits/s, "awareness_rate": updates/s, "start_at": time.monotonic(),
   "warmup": s, "duration": s, "drain": s}: an open-loop run. Every client fires edits on its own
  fixed-period timer (phase random), so the total is `rate` whatever the server does; only edits
  scheduled in [start_at + warmup, start_at + warmup + duration) are measured.
- {"cmd": "joinstorm", "clients": [client, ...], "start_at": ..., "window": s, "timeout": s}
- {"cmd": "stats"}: connections still open, close codes.
- {"cmd": "close"}: close everything and exit.

Latency = receipt time at each OTHER client of the session minus the sender's send time, both
read from time.monotonic() in this process (sessions never span two worker processes), reported
apart for receivers on the sender's server node and on another node.
An update is recognised by the (clientID, clock) of its first struct, an awareness update by
(clientID, clock) of its first entry; both survive every server's re-encoding.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import resource
import sys
import time
from collections import Counter
from typing import Any

import trio
from pycrdt import Doc, Text, TransactionEvent

from bench import yproto
from bench.ws import Closed, WebSocket, connect

monotonic = time.monotonic
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LOCALITIES = ("same_node", "cross_node")


class Recorder:
    """Send times of the measured messages and what arrived, for one step.

    Receipts are kept apart by whether the receiver is connected to the sender's server node
    (index 0; every receipt outside the cluster scenario) or to another node (index 1).
    """

    __slots__ = ("sent", "lat", "expected", "received")

    def __init__(self) -> None:
        # key -> [send time, receivers left, sender's node]
        self.sent: dict[tuple[int, int], list[float]] = {}
        self.lat: tuple[list[float], list[float]] = ([], [])
        self.expected = [0, 0]
        self.received = [0, 0]

    def record_send(self, key: tuple[int, int], at: float, sender: Client) -> None:
        self.sent[key] = [at, sender.receivers, sender.node]
        self.expected[0] += sender.receivers - sender.remote_receivers
        self.expected[1] += sender.remote_receivers

    def record_receipt(self, key: tuple[int, int], at: float, node: int) -> None:
        entry = self.sent.get(key)
        if entry is None or entry[1] <= 0:
            return
        entry[1] -= 1
        remote = int(entry[2] != node)
        self.received[remote] += 1
        self.lat[remote].append(at - entry[0])

    def complete(self) -> bool:
        return sum(self.received) >= sum(self.expected)

    def report(self) -> dict[str, dict[str, Any]]:
        return {
            locality: {
                "latencies_ms": [round(x * 1000, 3) for x in self.lat[index]],
                "expected": self.expected[index],
                "received": self.received[index],
            }
            for index, locality in enumerate(LOCALITIES)
        }


class Client:
    __slots__ = (
        "worker",
        "spec",
        "ws",
        "prefix",
        "cid",
        "doc",
        "text",
        "length",
        "_updates",
        "next_frame",
        "next_key",
        "aw_clock",
        "aw_frame",
        "synced",
        "synced_at",
        "receivers",
        "remote_receivers",
        "node",
        "rng",
        "closed",
    )

    def __init__(self, worker: Worker, spec: dict[str, Any], receivers: int, rng: random.Random) -> None:
        self.worker = worker
        self.spec = spec
        self.ws: WebSocket | None = None
        doc_name = spec.get("doc")
        self.prefix = yproto.hp_prefix(doc_name) if doc_name is not None else b""
        self.cid = rng.getrandbits(31) + 1
        self.doc = Doc(client_id=self.cid)
        self.text = self.doc.get("code", type=Text)
        self.length = 0
        self._updates: list[bytes] = []
        self.doc.observe(self._on_transaction)
        self.rng = rng
        self.aw_clock = 0
        self.aw_frame = self._awareness(0)
        self.next_frame = b""
        self.next_key = (0, 0)
        self.synced = trio.Event()
        self.synced_at = 0.0
        self.receivers = receivers
        # Which server node this client is on, and how many of its receivers are on another one.
        self.node = int(spec.get("node", 0))
        self.remote_receivers = int(spec.get("remote_receivers", 0))
        self.closed: Closed | None = None

    def _on_transaction(self, event: TransactionEvent) -> None:
        self._updates.append(event.update)

    def prepare_edit(self) -> None:
        """Make the next single-character insert (at a random position of this client's own text).

        Made just before it is sent, never ahead: the doc answers the server's sync step 1, and an
        edit made early would reach the server in that answer and never be relayed as an update.
        """
        position = self.rng.randint(0, self.length)
        self.text.insert(position, self.rng.choice(LETTERS))
        self.length += 1
        update = self._updates.pop()
        self._updates.clear()
        key = yproto.first_struct_id(update)
        assert key is not None
        self.next_key = key
        self.next_frame = self.prefix + yproto.sync_update(update)

    def _awareness(self, cursor: int) -> bytes:
        state = {
            "user": {"name": f"user-{self.cid % 10000}", "color": "#30bced"},
            "cursor": {"anchor": cursor, "head": cursor},
        }
        return self.prefix + yproto.awareness_update(self.cid, self.aw_clock, state)

    def next_awareness(self) -> tuple[bytes, tuple[int, int]]:
        self.aw_clock += 1
        self.aw_frame = self._awareness(self.rng.randint(0, self.length))
        return self.aw_frame, (self.cid, self.aw_clock)

    # -- receiving (hot path) --------------------------------------------------------------

    def on_message(self, payload: bytes, opcode: int) -> bytes | None:
        now = monotonic()
        pos = 0
        if self.prefix:
            pos = yproto.skip_varstring(payload, 0)
        kind = payload[pos]
        if kind == 0 or kind == 4:  # sync (4: Hocuspocus SyncReply)
            sub = payload[pos + 1]
            if sub == 2:
                _, start = yproto.read_varuint(payload, pos + 2)
                key = yproto.first_struct_id(payload, start)
                if key is not None and key[0] != self.cid:
                    self.worker.edits.record_receipt(key, now, self.node)
                return None
            if sub == 1:
                if not self.synced.is_set():
                    self.synced_at = now
                    self.synced.set()
                return None
            if sub == 0:
                length, start = yproto.read_varuint(payload, pos + 2)
                state_vector = bytes(payload[start : start + length])
                return self.prefix + yproto.sync_step2(self.doc.get_update(state_vector))
            return None
        if kind == 1:
            _, start = yproto.read_varuint(payload, pos + 1)
            key = yproto.first_awareness_id(payload, start)
            if key is not None and key[0] != self.cid:
                self.worker.awareness.record_receipt(key, now, self.node)
            return None
        if kind == 3:  # queryAwareness: answer like a y-websocket provider (also our heartbeat)
            return self.aw_frame
        return None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        ws = await connect(self.spec["url"])
        self.ws = ws
        if self.prefix:
            await ws.send(yproto.hp_auth(self.spec["doc"]))
        await ws.send(self.prefix + yproto.sync_step1(self.doc.get_state()))
        await ws.send(self.aw_frame)
        task_status.started()
        try:
            self.closed = await ws.read_loop(self.on_message)
        except Exception as error:  # noqa: BLE001 - a bug or a bad frame: count it, keep the rest
            self.closed = Closed(None, f"{type(error).__name__}: {error}")
            self.worker.close_codes[f"client error {type(error).__name__}: {str(error)[:80]}"] += 1
            return
        self.worker.close_codes[str(self.closed.code)] += 1


class Worker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clients: list[Client] = []
        self.edits = Recorder()
        self.awareness = Recorder()
        self.close_codes: Counter[str] = Counter()
        self.connect_errors: Counter[str] = Counter()
        self.nursery: trio.Nursery | None = None

    # -- connect ---------------------------------------------------------------------------

    async def _open(self, client: Client, limiter: trio.CapacityLimiter, timeout: float) -> bool:
        assert self.nursery is not None
        async with limiter:
            try:
                with trio.fail_after(timeout):
                    await self.nursery.start(client.run)
                    await client.synced.wait()
                return True
            except Exception as error:  # noqa: BLE001 - counted and reported
                self.connect_errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1
                return False

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        started = monotonic()
        new: list[Client] = []
        for session in cmd["sessions"]:
            for spec in session:
                new.append(Client(self, spec, int(spec.get("receivers", len(session) - 1)), self.rng))
        limiter = trio.CapacityLimiter(cmd.get("concurrency", 64))
        results: list[bool] = []

        async def one(client: Client) -> None:
            results.append(await self._open(client, limiter, cmd.get("timeout", 60)))

        async with trio.open_nursery() as nursery:
            for client in new:
                nursery.start_soon(one, client)
        self.clients.extend(new)
        return {
            "connected": sum(results),
            "failed": len(results) - sum(results),
            "errors": dict(self.connect_errors),
            "seconds": monotonic() - started,
        }

    # -- open-loop step --------------------------------------------------------------------

    async def step(self, cmd: dict[str, Any]) -> dict[str, Any]:
        rate = float(cmd["rate"])
        aw_rate = float(cmd.get("awareness_rate", 0.0))
        start_at = float(cmd["start_at"])
        measure_from = start_at + float(cmd["warmup"])
        measure_to = measure_from + float(cmd["duration"])
        drain = float(cmd.get("drain", 3.0))
        clients = [c for c in self.clients if c.closed is None and c.ws is not None]
        self.edits = edits = Recorder()
        self.awareness = aware = Recorder()
        lags: list[float] = []
        sent = {"edits": 0, "awareness": 0}
        n = len(clients)
        period_e = n / rate if rate > 0 else float("inf")
        period_a = n / aw_rate if aw_rate > 0 else float("inf")
        offset = trio.current_time() - monotonic()

        # One scheduler for all clients: a heap of (due, seq, kind, client); sends go straight to
        # the kernel (WebSocket.send_now), so a send costs no task switch.
        heap: list[tuple[float, int, int, Client]] = []
        seq = 0
        for client in clients:
            if period_e != float("inf"):
                heap.append((start_at + client.rng.random() * period_e, seq, 0, client))
                seq += 1
            if period_a != float("inf"):
                heap.append((start_at + client.rng.random() * period_a, seq, 1, client))
                seq += 1
        heapq.heapify(heap)
        assert self.nursery is not None
        nursery_for_drains = self.nursery

        async def drive_all() -> None:
            nonlocal seq
            burst = 0
            while heap:
                due, _, kind, client = heap[0]
                if due >= measure_to:
                    heapq.heappop(heap)
                    continue
                now = monotonic()
                if due > now:
                    burst = 0
                    await trio.sleep_until(due + offset)
                    continue
                heapq.heappop(heap)
                if client.closed is not None or client.ws is None:
                    continue
                measured = due >= measure_from
                if measured:
                    lags.append(now - due)
                try:
                    if kind == 0:
                        client.prepare_edit()  # ~20 µs of pycrdt, outside the timed span
                        if measured:
                            edits.record_send(client.next_key, monotonic(), client)
                            sent["edits"] += 1
                        client.ws.send_now(client.next_frame, nursery_for_drains)
                        heapq.heappush(heap, (due + period_e, seq, 0, client))
                    else:
                        frame, key = client.next_awareness()
                        if measured:
                            aware.record_send(key, monotonic(), client)
                            sent["awareness"] += 1
                        client.ws.send_now(frame, nursery_for_drains)
                        heapq.heappush(heap, (due + period_a, seq, 1, client))
                    seq += 1
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    continue
                burst += 1
                if burst % 32 == 0:  # let the readers run during a long burst of due sends
                    await trio.lowlevel.checkpoint()

        usage: dict[str, resource.struct_rusage] = {}

        async def meter() -> None:
            await trio.sleep_until(measure_from + offset)
            usage["from"] = resource.getrusage(resource.RUSAGE_SELF)
            await trio.sleep_until(measure_to + offset)
            usage["to"] = resource.getrusage(resource.RUSAGE_SELF)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(meter)
            nursery.start_soon(drive_all)
        # Let stragglers arrive; stop early once everything is in.
        deadline = monotonic() + drain
        while monotonic() < deadline:
            if edits.complete() and aware.complete():
                break
            await trio.sleep(0.05)
        cpu = 0.0
        if "from" in usage and "to" in usage:
            a, b = usage["from"], usage["to"]
            cpu = (b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime) / float(cmd["duration"])
        self.edits = Recorder()
        self.awareness = Recorder()
        return {
            "rate": rate,
            "awareness_rate": aw_rate,
            "clients": len(clients),
            "sent": sent,
            "receipts": {"edit": edits.report(), "awareness": aware.report()},
            "schedule_lag_ms": [round(x * 1000, 3) for x in lags],
            "generator_cpu": cpu,
            "open_connections": sum(1 for c in self.clients if c.closed is None),
            "close_codes": dict(self.close_codes),
        }

    # -- join storm ------------------------------------------------------------------------

    async def joinstorm(self, cmd: dict[str, Any]) -> dict[str, Any]:
        specs = cmd["clients"]
        start_at = float(cmd["start_at"])
        window = float(cmd["window"])
        timeout = float(cmd.get("timeout", 60))
        offset = trio.current_time() - monotonic()
        new = [Client(self, spec, len(specs) - 1, self.rng) for spec in specs]
        started: list[float] = [0.0] * len(new)
        synced: list[float | None] = [None] * len(new)
        assert self.nursery is not None
        usage0 = resource.getrusage(resource.RUSAGE_SELF)

        async def one(index: int, client: Client) -> None:
            await trio.sleep_until(start_at + offset + window * index / len(new))
            started[index] = monotonic()
            try:
                with trio.fail_after(timeout):
                    assert self.nursery is not None
                    await self.nursery.start(client.run)
                    await client.synced.wait()
                synced[index] = client.synced_at
            except Exception as error:  # noqa: BLE001
                self.connect_errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1

        async with trio.open_nursery() as nursery:
            for index, client in enumerate(new):
                nursery.start_soon(one, index, client)
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        self.clients.extend(new)
        done = [s for s in synced if s is not None]
        return {
            "clients": len(new),
            "synced": len(done),
            "errors": dict(self.connect_errors),
            "all_synced_s": (max(done) - start_at) if len(done) == len(new) else None,
            "last_synced_s": (max(done) - start_at) if done else None,
            "join_to_sync_ms": [
                round((s - t) * 1000, 3) for s, t in zip(synced, started, strict=True) if s is not None
            ],
            "generator_cpu_s": usage1.ru_utime - usage0.ru_utime + usage1.ru_stime - usage0.ru_stime,
        }

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self.clients),
            "open_connections": sum(1 for c in self.clients if c.closed is None),
            "close_codes": dict(self.close_codes),
        }

    async def close(self) -> None:
        with trio.move_on_after(5):
            async with trio.open_nursery() as nursery:
                for client in self.clients:
                    if client.ws is not None and client.closed is None:
                        nursery.start_soon(client.ws.close)


async def read_lines(stream: trio.abc.ReceiveStream) -> Any:
    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
        data = await stream.receive_some(1 << 20)
        if not data:
            return
        buffer += data


def reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main() -> None:
    worker = Worker(seed=int(os.environ.get("BENCH_SEED", "0")) or os.getpid())
    stdin = trio.lowlevel.FdStream(os.dup(0))
    async with trio.open_nursery() as nursery:
        worker.nursery = nursery
        async for cmd in read_lines(stdin):
            kind = cmd["cmd"]
            try:
                if kind == "connect":
                    reply(await worker.connect(cmd))
                elif kind == "step":
                    reply(await worker.step(cmd))
                elif kind == "joinstorm":
                    reply(await worker.joinstorm(cmd))
                elif kind == "stats":
                    reply(worker.stats())
                elif kind == "close":
                    await worker.close()
                    reply({"closed": True})
                    break
                else:
                    reply({"error": f"unknown command {kind}"})
            except Exception as error:  # noqa: BLE001 - the orchestrator reports it
                reply({"error": f"{type(error).__name__}: {error}"})
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
