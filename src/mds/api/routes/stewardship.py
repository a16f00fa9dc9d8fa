"""Merge, unmerge, split and erase users by hand."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from mds.api.auth import Principal, require_scopes
from mds.api.dependencies import get_runtime, get_session
from mds.api.schemas.stewardship import (
    ErasureResult,
    MergeRequest,
    OperationResult,
    SplitRequest,
    StatusRequest,
    UnmergeRequest,
)
from mds.bootstrap import Runtime
from mds.security.scopes import ADMIN, REVIEW
from mds.services.query.users import find_user
from mds.services.stewardship.operations import Result

router = APIRouter(prefix="/v1/users", tags=["stewardship"])
Reviewer = Annotated[Principal, Depends(require_scopes(REVIEW))]
Admin = Annotated[Principal, Depends(require_scopes(ADMIN))]
Rt = Annotated[Runtime, Depends(get_runtime)]
Db = Annotated[Session, Depends(get_session)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/problem+json": {}}}
    for code, text in (
        (404, "No such user, identity or merge"),
        (409, "The users' state does not allow it (merged, erased, already undone)"),
    )
}


def _answer(runtime: Runtime, session: Session, result: Result, principal: Principal) -> Any:
    view = find_user(session, runtime.keyring, result.user_id)
    assert view is not None
    return JSONResponse(
        {
            "user_id": str(result.user_id),
            "other_user_id": str(result.other_user_id) if result.other_user_id else None,
            "merge_event_id": str(result.merge_event_id) if result.merge_event_id else None,
            "user": view.as_dict(pii=principal.can_read_pii),
        }
    )


@router.post(
    "/{user_id}/merge",
    response_model=OperationResult,
    summary="Merge another user into this one",
    responses=_ERRORS,
)
def merge(
    user_id: uuid.UUID, body: MergeRequest, principal: Reviewer, runtime: Rt, session: Db
) -> Any:
    result = runtime.stewardship().merge(
        user_id, body.user_id, actor=principal.subject, reason=body.reason
    )
    return _answer(runtime, session, result, principal)


@router.post(
    "/{user_id}/unmerge",
    response_model=OperationResult,
    summary="Undo a merge: restore the merged user's identities and golden record",
    responses=_ERRORS,
)
def unmerge(
    user_id: uuid.UUID, body: UnmergeRequest, principal: Reviewer, runtime: Rt, session: Db
) -> Any:
    result = runtime.stewardship().unmerge(
        user_id, body.user_id, actor=principal.subject, reason=body.reason
    )
    return _answer(runtime, session, result, principal)


@router.post(
    "/{user_id}/split",
    response_model=OperationResult,
    summary="Split one source identity off into a new user",
    responses=_ERRORS,
)
def split(
    user_id: uuid.UUID, body: SplitRequest, principal: Reviewer, runtime: Rt, session: Db
) -> Any:
    result = runtime.stewardship().split(
        user_id, body.source_identity_id, actor=principal.subject, reason=body.reason
    )
    return _answer(runtime, session, result, principal)


@router.post(
    "/{user_id}/status",
    response_model=OperationResult,
    summary="Suspend or reactivate a user (emits user.status_changed)",
    responses=_ERRORS,
)
def set_status(
    user_id: uuid.UUID, body: StatusRequest, principal: Reviewer, runtime: Rt, session: Db
) -> Any:
    result = runtime.stewardship().set_status(
        user_id, body.status, actor=principal.subject, reason=body.reason
    )
    return _answer(runtime, session, result, principal)


@router.delete(
    "/{user_id}",
    response_model=ErasureResult,
    summary="Erase a user: destroy the PII of the golden record and every linked source",
    responses=_ERRORS,
)
def erase(
    user_id: uuid.UUID,
    principal: Admin,
    runtime: Rt,
    reason: Annotated[str, Query(min_length=1, max_length=2000)] = "erasure request",
) -> Any:
    result = runtime.stewardship().erase(user_id, actor=principal.subject, reason=reason)
    return JSONResponse({"user_id": str(result.user_id), "status": "erased"})
