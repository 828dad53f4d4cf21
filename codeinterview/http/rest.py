"""REST routes under /api/v1: thin handlers over `SessionService`."""

from __future__ import annotations

from uuid import uuid4

from quart import Blueprint, current_app, request
from quart_schema import document_response, validate_request

from codeinterview.errors import PayloadTooLarge, Unauthorized
from codeinterview.http import models
from codeinterview.http.views import (
    JsonObject,
    code_view,
    participant_view,
    session_view,
    snapshot_view,
)
from codeinterview.ratelimit import RateLimited
from codeinterview.service import Caller, SessionService

api = Blueprint("api", __name__, url_prefix="/api/v1")

Reply = tuple[JsonObject, int]


def ok(data: object, status: int = 200) -> Reply:
    return {"success": True, "data": data}, status


def service() -> SessionService:
    return current_app.extensions["codeinterview"].service  # type: ignore[no-any-return]


def limit(scope: str, message: str) -> None:
    runtime = current_app.extensions["codeinterview"]
    retry_after = runtime.limits.hit(scope, client_address())
    if retry_after is not None:
        runtime.metrics.rate_limited.labels(scope).inc()
        raise RateLimited(message, retry_after)


def client_address() -> str:
    return request.remote_addr or "unknown"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'", code="invalid_token")
    return token.strip()


async def caller(session_id: str, *, read: bool = False) -> Caller:
    return await service().authenticate(session_id, bearer_token(), anonymous_read=read)


def check_code_size(code: str | None) -> None:
    limit: int = current_app.extensions["codeinterview"].settings.max_code_bytes
    if code is not None and len(code.encode("utf-8")) > limit:
        raise PayloadTooLarge(f"Code exceeds the limit of {limit} bytes", code="code_too_large")


async def session_reply(who: Caller) -> JsonObject:
    svc = service()
    document = await svc.documents.read(who.session)
    participants = await svc.store.list_participants(who.session.id)
    online = await svc.documents.online(who.session.id)
    return session_view(who.session, document, participants, online=online, with_invites=who.is_interviewer)


# -- sessions ---------------------------------------------------------------------------------


@api.post("/sessions")
@validate_request(models.CreateSessionIn)
@document_response(models.Envelope[models.CreatedSessionOut], 201)
async def create_session(data: models.CreateSessionIn) -> Reply:
    limit("sessions", "Too many sessions created from this address; try again later")
    check_code_size(data.code)
    session, creator, token = await service().create_session(
        creator_id=str(data.creator.id),
        name=data.creator.name,
        color=data.creator.color,
        code=data.code,
        language=data.language,
    )
    view = await session_reply(Caller(session, creator))
    return ok({**view, "token": token}, 201)


@api.get("/sessions/<session_id>")
@document_response(models.Envelope[models.SessionOut])
async def get_session(session_id: str) -> Reply:
    return ok(await session_reply(await caller(session_id, read=True)))


@api.patch("/sessions/<session_id>")
@validate_request(models.UpdateSessionIn)
@document_response(models.Envelope[models.SessionOut])
async def update_session(session_id: str, data: models.UpdateSessionIn) -> Reply:
    who = await caller(session_id)
    await service().write_code(who, code=None, language=data.language)
    return ok(await session_reply(who))


@api.delete("/sessions/<session_id>")
@document_response(models.Envelope[models.SessionOut])
async def end_session(session_id: str) -> Reply:
    who = await caller(session_id)
    await service().end_session(who)
    ended = await service().store.get_session(session_id)
    assert ended is not None
    return ok(await session_reply(Caller(ended, who.participant)))


# -- participants -----------------------------------------------------------------------------


@api.post("/sessions/<session_id>/participants")
@validate_request(models.JoinIn)
@document_response(models.Envelope[models.JoinedOut], 201)
async def join_session(session_id: str, data: models.JoinIn) -> Reply:
    limit("joins", "Too many joins from this address; try again later")
    participant, token = await service().join(
        session_id,
        invite=data.invite,
        participant_id=str(data.id or uuid4()),
        name=data.name,
        color=data.color,
    )
    return ok({**participant_view(participant), "token": token}, 201)


@api.get("/sessions/<session_id>/participants")
@document_response(models.Envelope[list[models.ParticipantOut]])
async def list_participants(session_id: str) -> Reply:
    who = await caller(session_id, read=True)
    participants = await service().store.list_participants(who.session.id)
    online = await service().documents.online(who.session.id)
    return ok([participant_view(p, online) for p in participants])


@api.patch("/sessions/<session_id>/participants/<participant_id>")
@validate_request(models.UpdateParticipantIn)
@document_response(models.Envelope[models.ParticipantOut])
async def update_participant(session_id: str, participant_id: str, data: models.UpdateParticipantIn) -> Reply:
    who = await caller(session_id)
    updated = await service().update_participant(who, participant_id, name=data.name, color=data.color)
    return ok(participant_view(updated))


@api.delete("/sessions/<session_id>/participants/<participant_id>")
@document_response(models.Envelope[models.ParticipantOut])
async def remove_participant(session_id: str, participant_id: str) -> Reply:
    who = await caller(session_id)
    await service().remove_participant(who, participant_id)
    removed = await service().store.get_participant(session_id, participant_id)
    assert removed is not None
    return ok(participant_view(removed))


# -- code and snapshots -----------------------------------------------------------------------


@api.get("/sessions/<session_id>/code")
@document_response(models.Envelope[models.CodeOut])
async def get_code(session_id: str) -> Reply:
    who = await caller(session_id, read=True)
    return ok(code_view(await service().read_code(who)))


@api.put("/sessions/<session_id>/code")
@validate_request(models.PutCodeIn)
@document_response(models.Envelope[models.CodeOut])
async def put_code(session_id: str, data: models.PutCodeIn) -> Reply:
    check_code_size(data.code)
    who = await caller(session_id)
    state = await service().write_code(who, code=data.code, language=data.language)
    return ok(code_view(state))


@api.get("/sessions/<session_id>/snapshots")
@document_response(models.Envelope[list[models.SnapshotOut]])
async def list_snapshots(session_id: str) -> Reply:
    who = await caller(session_id, read=True)
    snapshots = await service().store.list_snapshots(who.session.id)
    return ok([snapshot_view(s) for s in snapshots])


@api.post("/sessions/<session_id>/snapshots")
@validate_request(models.SnapshotIn)
@document_response(models.Envelope[models.SnapshotOut], 201)
async def save_snapshot(session_id: str, data: models.SnapshotIn) -> Reply:
    who = await caller(session_id)
    return ok(snapshot_view(await service().save_snapshot(who, data.label)), 201)


# A plain converter: quart-schema mis-renders a path holding both a string and an int converter.
@api.get("/sessions/<session_id>/snapshots/<snapshot_id>")
@document_response(models.Envelope[models.SnapshotOut])
async def get_snapshot(session_id: str, snapshot_id: str) -> Reply:
    who = await caller(session_id, read=True)
    number = int(snapshot_id) if snapshot_id.isascii() and snapshot_id.isdigit() else 0
    return ok(snapshot_view(await service().get_snapshot(who, number)))
