"""Bodies of the user-reading endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ProfileModel(BaseModel):
    """Golden values; masked (e.g. `A***`, `a***@example.com`) without `mds:read:pii`."""

    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    date_of_birth: str | None = None
    address: dict[str, Any] | None = None
    government_id: dict[str, Any] | None = None
    locale: str | None = None
    preferences: dict[str, Any] = Field(default_factory=dict)


class UserModel(BaseModel):
    id: str = Field(description="The canonical user id (the survivor when a merged id was asked)")
    status: str = Field(description="active, merged, erased or suspended")
    version: int
    created_at: str
    updated_at: str
    resolved_from: str | None = Field(
        None, description="The id asked for, when it was merged into this user"
    )
    pii_masked: bool
    profile: ProfileModel


class UserList(BaseModel):
    items: list[UserModel]


class SourceModel(BaseModel):
    id: str
    source_system: str
    source_record_id: str
    link_kind: str
    match_score: float | None
    model_version: int | None
    attributes: dict[str, Any] = Field(description="Raw attributes as last received")
    quality_issues: list[dict[str, Any]]
    observed: dict[str, Any] = Field(description="Per attribute: occurred_at of the held value")
    last_decision: dict[str, Any] | None = Field(
        None,
        description="The engine's latest decision about this record: at, event_id, decision,"
        " score and explanation (model version, probability, each compared field's level and"
        " weight); null when none was scored (the record's first user was made for it alone)",
    )
    created_at: str | None
    updated_at: str | None


class SourcePage(BaseModel):
    user_id: str
    items: list[SourceModel]
    next_cursor: str | None


class LineageModel(BaseModel):
    attribute: str
    current: bool
    source_identity_id: str | None
    source_system: str | None
    source_record_id: str | None
    signal_id: int | None
    rule: str
    value_digest: str | None = Field(description="Keyed digest prefix: equal values, equal text")
    observed_at: str | None
    recorded_at: str | None
    superseded_at: str | None


class LineagePage(BaseModel):
    user_id: str
    items: list[LineageModel]
    next_cursor: str | None


class HistoryModel(BaseModel):
    seq: int
    occurred_at: str | None
    action: str
    actor: str
    details: dict[str, Any]


class HistoryPage(BaseModel):
    user_id: str
    items: list[HistoryModel]
    next_cursor: str | None


class FieldComparison(BaseModel):
    field: str
    level: str
    weight: float
    tf_adjusted: bool = False


class ComparisonModel(BaseModel):
    user_a: str
    user_b: str
    model_version: int
    match_weight: float
    probability: float
    names_swapped: bool
    fields: list[FieldComparison]
    conflicts: list[str]
    guards: list[str] = Field(description="What would stop an automatic link")
    verdict: str = Field(description="link, review or distinct under the current thresholds")
    thresholds: dict[str, float]
    profiles: dict[str, ProfileModel]
