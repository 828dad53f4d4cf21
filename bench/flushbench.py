"""`python -m bench.flushbench --url URL --size 1000 --size 10000`: time the server's own
`Store.save_documents` for N dirty sessions, in-process, and print one JSON line.

The database must be empty or fresh; the schema is migrated here. Sessions are created first
(through `Store.create_session`, as the REST API does), then every size is written `--repeats`
times as one batch (one `save_documents` call) and as the flusher would cut it (batches of
`Flusher`'s default max_batch, 2000), each repeat with a new `updated_at`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time

import trio

from codeinterview.actors.document import SessionDocument
from codeinterview.config import parse_database_url
from codeinterview.storage import DocumentState, ParticipantRecord, SessionRecord, open_store
from codeinterview.storage.migrate import upgrade

FLUSHER_MAX_BATCH = 2000  # codeinterview.actors.flusher.Flusher's default

SAMPLE_CODE = (
    "// Implement an LRU cache with get and put in O(1).\n"
    "class LRUCache {\n  constructor(capacity) {\n    this.capacity = capacity;\n"
    "    this.map = new Map();\n  }\n\n  get(key) {\n    if (!this.map.has(key)) return -1;\n"
    "    const value = this.map.get(key);\n    this.map.delete(key);\n    this.map.set(key, value);\n"
    "    return value;\n  }\n\n  put(key, value) {\n    if (this.map.has(key)) this.map.delete(key);\n"
    "    this.map.set(key, value);\n    if (this.map.size > this.capacity) {\n"
    "      this.map.delete(this.map.keys().next().value);\n    }\n  }\n}\n"
) * 4


def representative_state() -> tuple[str, bytes]:
    """Code of ~2.5 KB and a CRDT state that also carries some typing history."""
    document = SessionDocument(code=SAMPLE_CODE[: len(SAMPLE_CODE) // 2], language="javascript")
    text = SAMPLE_CODE[: len(SAMPLE_CODE) // 2]
    step = max(1, (len(SAMPLE_CODE) - len(text)) // 200)
    while len(text) < len(SAMPLE_CODE):  # ~200 edits typed after the initial text
        text = SAMPLE_CODE[: len(text) + step]
        document.replace_text(text)
    return document.code, document.encode_state()


async def main(url: str, sizes: list[int], repeats: int, concurrency: int) -> dict[str, object]:
    target = parse_database_url(url)
    code, doc_state = representative_state()
    out: dict[str, object] = {
        "backend": target.backend,
        "code_bytes": len(code.encode()),
        "doc_state_bytes": len(doc_state),
        "flusher_max_batch": FLUSHER_MAX_BATCH,
        "sizes": {},
    }
    async with open_store(target) as store:
        count = max(sizes)
        ids: list[str] = []
        now = int(time.time() * 1000)
        limiter = trio.CapacityLimiter(concurrency)

        async def create(index: int) -> None:
            session_id = f"{index:08x}"
            creator_id = f"00000000-0000-4000-8000-{index:012x}"
            session = SessionRecord(
                id=session_id,
                created_at=now,
                updated_at=now,
                expires_at=now + 86_400_000,
                code="",
                language="javascript",
                creator_id=creator_id,
                candidate_invite=secrets.token_urlsafe(24),
                interviewer_invite=secrets.token_urlsafe(24),
            )
            creator = ParticipantRecord(creator_id, session_id, "bench", "interviewer", "#f00", now)
            async with limiter:
                await store.create_session(session, creator)
            ids.append(session_id)

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for index in range(count):
                nursery.start_soon(create, index)
        created = time.perf_counter() - started
        out["sessions_created"] = count
        out["create_sessions_per_s"] = count / created
        ids.sort()
        stamp = now
        for size in sizes:
            one_batch: list[float] = []
            batched: list[float] = []
            for _ in range(repeats):
                for mode, timings in (("one", one_batch), ("batched", batched)):
                    stamp += 1
                    states = [DocumentState(sid, code, "javascript", stamp, doc_state) for sid in ids[:size]]
                    started = time.perf_counter()
                    if mode == "one":
                        await store.save_documents(states)
                    else:
                        for offset in range(0, len(states), FLUSHER_MAX_BATCH):
                            await store.save_documents(states[offset : offset + FLUSHER_MAX_BATCH])
                    timings.append(time.perf_counter() - started)
            out["sizes"][str(size)] = {  # type: ignore[index]
                "one_batch_seconds": [round(t, 4) for t in one_batch],
                "one_batch_docs_per_s": size / statistics.median(one_batch),
                f"batches_of_{FLUSHER_MAX_BATCH}_seconds": [round(t, 4) for t in batched],
                f"batches_of_{FLUSHER_MAX_BATCH}_docs_per_s": size / statistics.median(batched),
            }
    return out


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", type=int, action="append", default=[])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    upgrade(parse_database_url(args.url))
    result = trio.run(main, args.url, args.size or [1000, 10000], args.repeats, args.concurrency)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    cli()
