"""Several nodes flushing one session: stored states merge, never overwrite."""

from __future__ import annotations

from codeinterview.actors.document import SessionDocument, merge_stored
from codeinterview.storage import DocumentState, Store
from tests.storage.factories import create_session


def state_of(session_id: str, document: SessionDocument, updated_at: int) -> DocumentState:
    return DocumentState(session_id, document.code, "javascript", updated_at, document.encode_state())


async def test_second_node_merges_into_the_first_nodes_state(store: Store) -> None:
    session = await create_session(store)
    base = SessionDocument(code="base\n")
    node_a = SessionDocument(state=base.encode_state())
    node_b = SessionDocument(state=base.encode_state())
    node_a.replace_text("base\nfrom A\n")
    node_b.replace_text("from B\nbase\n")
    await store.save_documents([state_of(session.id, node_a, 10)], merge=merge_stored)
    await store.save_documents([state_of(session.id, node_b, 11)], merge=merge_stored)
    stored = await store.load_document(session.id)
    assert stored is not None and stored.code == "from B\nbase\nfrom A\n"
    assert stored.doc_state is not None
    assert SessionDocument(state=stored.doc_state).code == stored.code
    # Saving again (what a node does on its next flush) changes nothing and doubles nothing.
    await store.save_documents([state_of(session.id, node_a, 12)], merge=merge_stored)
    again = await store.load_document(session.id)
    assert again is not None and again.code == stored.code


async def test_without_merge_the_last_write_wins(store: Store) -> None:
    session = await create_session(store)
    base = SessionDocument(code="x")
    node_a = SessionDocument(state=base.encode_state())
    node_b = SessionDocument(state=base.encode_state())
    node_a.replace_text("xa")
    node_b.replace_text("bx")
    await store.save_documents([state_of(session.id, node_a, 10)])
    await store.save_documents([state_of(session.id, node_b, 11)])
    stored = await store.load_document(session.id)
    assert stored is not None and stored.code == "bx"


async def test_merge_of_a_batch_and_a_session_with_no_state(store: Store) -> None:
    sessions = [await create_session(store) for _ in range(3)]
    documents = [SessionDocument(code=f"doc {n}") for n in range(3)]
    await store.save_documents(
        [state_of(s.id, d, 5) for s, d in zip(sessions, documents)], merge=merge_stored
    )
    for session, document in zip(sessions, documents):
        stored = await store.load_document(session.id)
        assert stored is not None and stored.code == document.code
