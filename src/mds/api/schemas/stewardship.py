"""Bodies of the stewardship endpoints: merge, unmerge, split, erase, review decisions."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mds.api.schemas.users import UserModel

Reason = Field(min_length=1, max_length=2000, description="Why: kept in the audit trail")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MergeRequest(_Strict):
    user_id: uuid.UUID = Field(description="The user merged into the one in the path")
    reason: str = Reason


class UnmergeRequest(_Strict):
    user_id: uuid.UUID | None = Field(
        None,
        description="With a survivor in the path: which merged user to restore (default: the"
        " latest merge). Omit when the path names the merged-away user.",
    )
    reason: str = Reason


class SplitRequest(_Strict):
    source_identity_id: uuid.UUID = Field(description="The identity that becomes its own user")
    reason: str = Reason


class StatusRequest(_Strict):
    status: Literal["active", "suspended"]
    reason: str = Reason


class OperationResult(BaseModel):
    user_id: str = Field(description="The user the operation produced or kept")
    other_user_id: str | None
    merge_event_id: str | None
    user: UserModel


class ErasureResult(BaseModel):
    user_id: str
    status: str


class DecisionRequest(_Strict):
    decision: Literal["merge", "reject"]
    reason: str = Reason
    confirm: bool = Field(False, description="Required (true) to decide a high-risk item")
    user_a_version: int | None = Field(None, description="The version the steward saw")
    user_b_version: int | None = Field(None, description="The version the steward saw")


class ReviewItemModel(BaseModel):
    id: str
    user_a: str
    user_b: str
    user_a_version: int
    user_b_version: int
    score: float
    risk: str
    status: str
    model_version: int | None
    explanation: dict[str, Any]
    created_at: str
    decided_by: str | None
    decided_at: str | None
    reason: str | None


class ReviewPage(BaseModel):
    items: list[ReviewItemModel]
    next_cursor: str | None


class ReviewItemDetail(ReviewItemModel):
    users: dict[str, UserModel | None] = Field(
        description="Both golden records side by side (user_a, user_b)"
    )


class DecisionResult(BaseModel):
    item: ReviewItemModel
    survivor_id: str | None = None
    merge_event_id: str | None = None
