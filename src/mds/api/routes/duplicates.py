"""The review queue: doubtful and high-risk pairs, and the steward's decision on each."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from mds.api.auth import Principal, require_scopes
from mds.api.dependencies import get_runtime, get_session
from mds.api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from mds.api.problems import problem
from mds.api.schemas.stewardship import (
    DecisionRequest,
    DecisionResult,
    ReviewItemDetail,
    ReviewPage,
)
from mds.bootstrap import Runtime
from mds.security.scopes import READ, REVIEW, WRITE
from mds.services.query.users import find_user
from mds.services.stewardship.review_queue import (
    Decision,
    QueueFilter,
    get_item,
    item_dict,
    list_items,
)

router = APIRouter(prefix="/v1/duplicates", tags=["review queue"])
Reader = Annotated[Principal, Depends(require_scopes(READ))]
Writer = Annotated[Principal, Depends(require_scopes(WRITE))]
Rt = Annotated[Runtime, Depends(get_runtime)]
Db = Annotated[Session, Depends(get_session)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/problem+json": {}}}
    for code, text in (
        (403, "A high-risk item needs mds:review"),
        (404, "No such item"),
        (409, "The item is not open, or went stale"),
    )
}


@router.get("", response_model=ReviewPage, summary="Review items, oldest first")
def list_duplicates(
    *,
    principal: Reader,
    session: Db,
    status: Literal["open", "merged", "rejected", "stale"] | None = "open",
    risk: Literal["normal", "high"] | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Any:
    where = QueueFilter(status, risk, min_score, max_score, opened_after, opened_before)
    after = decode_cursor(cursor, datetime.fromisoformat, uuid.UUID)
    page = list_items(session, where, after=after, limit=limit)
    next_cursor = encode_cursor(page.next_key) if page.next_key is not None else None
    return JSONResponse({"items": page.items, "next_cursor": next_cursor})


@router.get(
    "/{item_id}",
    response_model=ReviewItemDetail,
    summary="One item with both golden records side by side and the explanation",
    responses=_ERRORS,
)
def get_duplicate(item_id: uuid.UUID, principal: Reader, session: Db, runtime: Rt) -> Any:
    item = get_item(session, item_id)
    body = item_dict(item)
    users = {}
    for side, user_id in (("user_a", item.user_a), ("user_b", item.user_b)):
        view = find_user(session, runtime.keyring, user_id)
        users[side] = view.as_dict(pii=principal.can_read_pii) if view else None
    return JSONResponse({**body, "users": users})


@router.post(
    "/{item_id}/decision",
    response_model=DecisionResult,
    summary="Merge or reject the pair (high risk: mds:review and confirm: true)",
    responses=_ERRORS,
)
def decide(item_id: uuid.UUID, body: DecisionRequest, principal: Writer, runtime: Rt) -> Any:
    seen = (
        (body.user_a_version, body.user_b_version)
        if body.user_a_version is not None and body.user_b_version is not None
        else None
    )
    decision = Decision(
        body.decision,
        body.reason,
        principal.subject,
        principal.has(REVIEW),
        body.confirm,
        seen,
    )
    result = runtime.review_queue().decide(item_id, decision)
    if result.get("stale"):
        return problem(
            409,
            "Conflict",
            f"review item {item_id} is stale: a user changed after it was opened; it is closed",
        )
    return JSONResponse(result)
