"""GET /v1/changes: the outbox as a change feed, for consumers without Kafka."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from mds.api.auth import Principal, require_scopes
from mds.api.dependencies import runtime_of
from mds.api.paging import Cursor, decode_cursor, encode_cursor
from mds.bootstrap import Runtime
from mds.domain.masking import mask_attributes
from mds.security.scopes import READ
from mds.store.models import Outbox
from mds.store.outbox import render
from mds.streaming.sequencer import sequence

router = APIRouter(prefix="/v1", tags=["changes"])
POLL_SECONDS = 0.2


class ChangeModel(BaseModel):
    position: int = Field(description="Commit order; the cursor counts in these")
    event: dict[str, Any] = Field(description="The event as Kafka consumers receive it")


class ChangePage(BaseModel):
    items: list[ChangeModel]
    next_cursor: str = Field(description="Pass as `cursor` for what comes next (even if empty)")


def _read(runtime: Runtime, after: int, limit: int, pii: bool) -> list[dict[str, Any]]:
    with runtime.sessions() as session, session.begin():
        # Number what committed since the last pass (skipped if a relay is numbering now).
        sequence(session)
    with runtime.sessions() as session:
        rows = session.execute(
            select(Outbox.position, Outbox.payload)
            .where(Outbox.position > after)
            .order_by(Outbox.position)
            .limit(limit)
        ).all()
    items = []
    for position, payload in rows:
        event = render(payload, runtime.keyring)
        if not pii and event.get("profile"):
            event["profile"] = mask_attributes(event["profile"])
        items.append({"position": position, "event": event})
    return items


@router.get(
    "/changes",
    response_model=ChangePage,
    summary="Changes to users in commit order, after a cursor; optionally wait for the next",
)
async def changes(
    request: Request,
    principal: Annotated[Principal, Depends(require_scopes(READ))],
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[
        float, Query(ge=0, le=30, description="Seconds to wait when nothing is new (long poll)")
    ] = 0,
) -> Any:
    runtime = runtime_of(request)
    key = decode_cursor(cursor, int)
    after = int(key[0]) if key else 0
    deadline = time.monotonic() + wait
    while True:
        items = await run_in_threadpool(_read, runtime, after, limit, principal.can_read_pii)
        if items or time.monotonic() >= deadline or await request.is_disconnected():
            break
        await asyncio.sleep(POLL_SECONDS)
    last = items[-1]["position"] if items else after
    return JSONResponse({"items": items, "next_cursor": encode_cursor([last])})
