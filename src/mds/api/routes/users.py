"""Reading golden records: by id, by lookup, and their sources, lineage, history, comparison."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mds.api.auth import Principal, require_scopes
from mds.api.dependencies import get_runtime, get_session, runtime_of
from mds.api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from mds.api.reads import AsyncReads
from mds.api.schemas.users import (
    ComparisonModel,
    HistoryPage,
    LineagePage,
    SourcePage,
    UserList,
    UserModel,
)
from mds.bootstrap import Runtime
from mds.security.scopes import READ
from mds.services.errors import InvalidFieldError, NotFoundError
from mds.services.query import details
from mds.services.query.compare import compare_users
from mds.services.query.users import UserView, find_user, lookup, survivor_of

router = APIRouter(prefix="/v1/users", tags=["users"])
Reader = Annotated[Principal, Depends(require_scopes(READ))]
Db = Annotated[Session, Depends(get_session)]
Rt = Annotated[Runtime, Depends(get_runtime)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user", "content": {"application/problem+json": {}}}
}


def _view(session: Session, runtime: Runtime, user_id: uuid.UUID) -> UserView:
    view = find_user(session, runtime.keyring, user_id)
    if view is None:
        raise NotFoundError(f"no user {user_id}")
    return view


def _read_user(runtime: Runtime, user_id: uuid.UUID) -> UserView:
    with runtime.read_session() as session:
        return _view(session, runtime, user_id)


async def _find_user(request: Request, user_id: uuid.UUID) -> UserView:
    """The hottest read: on the event loop when the app has a read pool (mds.api.reads);
    otherwise, and for a merged id, in one worker-thread hop for all its database work."""
    reads: AsyncReads | None = getattr(request.app.state, "reads", None)
    if reads is not None:
        record = await reads.user(user_id)
        if record is None:
            raise NotFoundError(f"no user {user_id}")
        if record.status != "merged":
            return UserView(record, user_id)
    return await run_in_threadpool(_read_user, runtime_of(request), user_id)


def _survivor(session: Session, user_id: uuid.UUID) -> uuid.UUID:
    survivor = survivor_of(session, user_id)
    if survivor is None:
        raise NotFoundError(f"no user {user_id}")
    return survivor


def _page_body(user_id: uuid.UUID, page: details.Page) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "items": page.items,
        "next_cursor": encode_cursor(page.next_key) if page.next_key is not None else None,
    }


@router.get(
    "/{user_id}",
    response_model=UserModel,
    summary="A golden record; a merged id answers with its survivor",
    responses=_NOT_FOUND,
)
async def get_user(user_id: uuid.UUID, principal: Reader, request: Request) -> Any:
    view = await _find_user(request, user_id)
    response = JSONResponse(view.as_dict(pii=principal.can_read_pii))
    if view.redirected:
        response.headers["Content-Location"] = f"/v1/users/{view.record.id}"
    return response


@router.get("", response_model=UserList, summary="Find users by email, phone or source record")
def find_users(
    *,
    principal: Reader,
    session: Db,
    runtime: Rt,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    source_system: Annotated[str | None, Query(max_length=64)] = None,
    source_record_id: Annotated[str | None, Query(max_length=256)] = None,
) -> Any:
    if (source_system is None) != (source_record_id is None):
        missing = "source_record_id" if source_record_id is None else "source_system"
        raise InvalidFieldError(missing, "source_system and source_record_id go together")
    if email is None and phone is None and source_system is None:
        raise InvalidFieldError("email", "give email, phone or source_system + source_record_id")
    source = (source_system, source_record_id) if source_system and source_record_id else None
    found = lookup(
        session,
        runtime.keyring,
        email=email,
        phone=phone,
        source=source,
        default_region=runtime.settings.default_region,
    )
    items = [_view(session, runtime, u).as_dict(pii=principal.can_read_pii) for u in found]
    return JSONResponse({"items": items})


@router.get(
    "/{user_id}/sources",
    response_model=SourcePage,
    summary="Linked source identities with their raw attributes and quality issues",
    responses=_NOT_FOUND,
)
def get_sources(
    user_id: uuid.UUID,
    *,
    principal: Reader,
    session: Db,
    runtime: Rt,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Any:
    survivor = _survivor(session, user_id)
    after = decode_cursor(cursor, uuid.UUID)
    page = details.sources(
        session, runtime.keyring, survivor, after=after, limit=limit, pii=principal.can_read_pii
    )
    return JSONResponse(_page_body(survivor, page))


@router.get(
    "/{user_id}/lineage",
    response_model=LineagePage,
    summary="Where each golden value came from, and what it superseded",
    responses=_NOT_FOUND,
)
def get_lineage(
    user_id: uuid.UUID,
    principal: Reader,
    session: Db,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Any:
    survivor = _survivor(session, user_id)
    page = details.lineage(session, survivor, after=decode_cursor(cursor, str, int), limit=limit)
    return JSONResponse(_page_body(survivor, page))


@router.get(
    "/{user_id}/history",
    response_model=HistoryPage,
    summary="This id's own audit trail: created, updated, merged, unmerged, erased, …",
    responses=_NOT_FOUND,
)
def get_history(
    user_id: uuid.UUID,
    principal: Reader,
    session: Db,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Any:
    _survivor(session, user_id)  # 404 for an unknown id
    page = details.history(session, user_id, after=decode_cursor(cursor, int), limit=limit)
    return JSONResponse(_page_body(user_id, page))


@router.get(
    "/{user_a}/compare/{user_b}",
    response_model=ComparisonModel,
    summary="Field-by-field comparison of two users and each field's match weight",
    responses=_NOT_FOUND,
)
def compare(
    user_a: uuid.UUID, user_b: uuid.UUID, principal: Reader, session: Db, runtime: Rt
) -> Any:
    a, b = _view(session, runtime, user_a), _view(session, runtime, user_b)
    result = compare_users(
        session, runtime.keyring, runtime.resolution_config(), a.record.id, b.record.id
    )
    pii = principal.can_read_pii
    result["user_a"], result["user_b"] = str(a.record.id), str(b.record.id)
    result["profiles"] = {
        "user_a": a.as_dict(pii=pii)["profile"],
        "user_b": b.as_dict(pii=pii)["profile"],
    }
    return JSONResponse(result)
