"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mds.api.dependencies import get_runtime
from mds.api.problems import problem
from mds.bootstrap import Runtime
from mds.observability import metrics_exposition
from mds.store import migrate, review

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrations at head",
    responses={503: {"description": "Not ready", "content": {"application/problem+json": {}}}},
)
def readyz(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Any:
    head = migrate.head_revision()
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = migrate.current_revision(conn)
    except SQLAlchemyError as exc:
        return problem(503, "Not ready", f"database unreachable: {type(exc).__name__}")
    if current != head:
        return problem(
            503, "Not ready", "database migrations are not at head", current=current, head=head
        )
    return {"status": "ready", "database": "ok", "migrations": {"current": current, "head": head}}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    try:
        with runtime.read_session() as session:
            backlog: dict[str, int] | None = review.open_counts(session)
    except SQLAlchemyError:
        backlog = None  # the process's own figures still say something; the scrape goes on
    return Response(metrics_exposition(backlog), media_type=CONTENT_TYPE_LATEST)
