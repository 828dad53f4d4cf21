"""One writer for all live sessions: flush requests that arrive together go out as one batch."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import trio

from codeinterview.actors.messages import Reply
from codeinterview.metrics import Metrics
from codeinterview.storage.base import DocumentState, Merge, StorageError, Store

log = logging.getLogger(__name__)


@dataclass
class FlushStats:
    batches: int = 0
    documents: int = 0
    failures: int = 0
    seconds: float = 0.0
    last_batch: list[int] = field(default_factory=list)


class Flusher:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        merge: Merge | None = None,
        max_batch: int = 2000,
        queue_size: int = 20_000,
    ) -> None:
        self._store = store
        self._merge = merge
        self._metrics = metrics
        self._max_batch = max_batch
        self._send, self._receive = trio.open_memory_channel[tuple[DocumentState, Reply[bool]]](queue_size)
        self.stats = FlushStats()

    async def save(self, state: DocumentState) -> None:
        """Store one session's state; raises `StorageError` if its batch failed."""
        reply: Reply[bool] = Reply()
        await self._send.send((state, reply))
        await reply.wait()

    async def run(self) -> None:
        async with self._receive:
            async for first in self._receive:
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                await self._write(batch)

    async def _write(self, batch: list[tuple[DocumentState, Reply[bool]]]) -> None:
        # Several flushes of one session may share a batch; the newest wins within it.
        newest = {state.session_id: state for state, _ in batch}
        started = trio.current_time()
        try:
            await self._store.save_documents(list(newest.values()), merge=self._merge)
        except Exception as error:  # the flusher outlives any one bad batch
            if not isinstance(error, StorageError):
                log.exception("flushing %d documents failed unexpectedly", len(newest))
                error = StorageError(str(error))
            self.stats.failures += 1
            self._metrics.flush_failures.inc()
            for _, reply in batch:
                reply.fail(error)
            return
        self.stats.batches += 1
        self.stats.documents += len(newest)
        elapsed = trio.current_time() - started
        self.stats.seconds += elapsed
        self._metrics.flushes.inc()
        self._metrics.flushed_documents.inc(len(newest))
        self._metrics.flush_seconds.observe(elapsed)
        for _, reply in batch:
            reply.set(True)
