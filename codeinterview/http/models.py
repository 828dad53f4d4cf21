"""Request and response models: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Language = Literal["javascript", "python", "html"]
Role = Literal["interviewer", "candidate"]


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, AfterValidator(_storable)]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(_storable),
    AfterValidator(_not_blank),
]
Color = Annotated[
    str, StringConstraints(min_length=1, max_length=50), AfterValidator(_storable), AfterValidator(_not_blank)
]
Label = Annotated[str, StringConstraints(max_length=255), AfterValidator(_storable)]
Invite = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreatorIn(Strict):
    id: UUID
    name: Name
    color: Color


class CreateSessionIn(Strict):
    creator: CreatorIn
    code: Text = ""
    language: Language = "javascript"


class UpdateSessionIn(Strict):
    language: Language


class JoinIn(Strict):
    invite: Invite | None = None
    name: Name
    color: Color
    id: UUID | None = None


class UpdateParticipantIn(Strict):
    name: Name | None = None
    color: Color | None = None


class PutCodeIn(Strict):
    code: Text
    language: Language | None = None


class SnapshotIn(Strict):
    label: Label | None = None


# -- responses ------------------------------------------------------------------------------


class ParticipantOut(BaseModel):
    id: str
    name: str
    role: Role
    color: str
    joined_at: int
    is_online: bool


class JoinedOut(ParticipantOut):
    token: str


class Invites(BaseModel):
    candidate: str
    interviewer: str


class SessionOut(BaseModel):
    id: str = Field(pattern="^[0-9a-f]{8}$")
    created_at: int
    updated_at: int
    expires_at: int
    code: str
    language: Language
    creator_id: str
    participants: list[ParticipantOut]
    ended_at: int | None = None
    invites: Invites | None = None


class CreatedSessionOut(SessionOut):
    token: str


class CodeOut(BaseModel):
    code: str
    language: Language
    updated_at: int


class SnapshotOut(BaseModel):
    id: int
    session_id: str
    label: str | None
    code: str
    language: Language
    created_at: int
    created_by: str | None


class ReadyOut(BaseModel):
    ready: Literal[True]


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    timestamp: int
    database: Literal["ok", "unavailable"]


Data = TypeVar("Data")


class Envelope(BaseModel, Generic[Data]):
    success: Literal[True]
    data: Data


class ErrorOut(BaseModel):
    success: Literal[False]
    error: str
    code: str
    details: list[dict[str, object]] | None = None
