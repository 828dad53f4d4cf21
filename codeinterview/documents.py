"""Where REST reads and writes a session's code: storage when idle, the live actor when not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from codeinterview.actors.messages import (
    EndSession,
    ReadDocument,
    ReadPresence,
    RemoveParticipant,
    WriteDocument,
)
from codeinterview.actors.registry import Registry
from codeinterview.storage.base import DocumentState, SessionRecord, Store

if TYPE_CHECKING:
    from codeinterview.cluster.node import ClusterNode


class Documents(Protocol):
    """The code buffer as REST sees it, and the notices live connections must hear."""

    async def read(self, session: SessionRecord) -> DocumentState: ...

    async def write(
        self, session: SessionRecord, *, code: str | None, language: str | None
    ) -> DocumentState: ...

    async def online(self, session_id: str) -> frozenset[str]:
        """Participants with a live connection right now."""

    async def participant_removed(self, session_id: str, participant_id: str) -> None: ...

    async def session_ended(self, session_id: str) -> None: ...


class StoredDocuments:
    """Reads straight from storage: right while the session is not live."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def read(self, session: SessionRecord) -> DocumentState:
        state = await self._store.load_document(session.id)
        if state is None:
            return DocumentState(session.id, session.code, session.language, session.updated_at)
        return state


class LiveDocuments:
    """Goes through the session's actor, so REST and WebSocket edits never race.

    Reads of an idle session come from storage; writes start the actor (which loads the
    CRDT state) and are answered once the change is stored.
    """

    def __init__(
        self, registry: Registry, stored: StoredDocuments, cluster: ClusterNode | None = None
    ) -> None:
        self._registry = registry
        self._stored = stored
        self._cluster = cluster

    async def read(self, session: SessionRecord) -> DocumentState:
        if not self._registry.live(session.id):
            return await self._stored.read(session)
        return await self._registry.call(session.id, ReadDocument)

    async def write(self, session: SessionRecord, *, code: str | None, language: str | None) -> DocumentState:
        return await self._registry.call(session.id, lambda reply: WriteDocument(code, language, reply))

    async def online(self, session_id: str) -> frozenset[str]:
        here = frozenset[str]()
        if self._registry.live(session_id):
            here = await self._registry.call(session_id, ReadPresence)
        if self._cluster is None:
            return here
        return here | await self._cluster.online(session_id)

    async def participant_removed(self, session_id: str, participant_id: str) -> None:
        await self._registry.tell_if_live(session_id, RemoveParticipant(participant_id))
        if self._cluster is not None:
            self._cluster.announce_removal(session_id, participant_id)

    async def session_ended(self, session_id: str) -> None:
        await self._registry.tell_if_live(session_id, EndSession())
        if self._cluster is not None:
            self._cluster.announce_end(session_id)
