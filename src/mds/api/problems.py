"""RFC 9457 problem details for every error response."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolExhaustedError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mds.services.errors import ServiceError

PROBLEM_JSON = "application/problem+json"
# The database refused, dropped or timed out a request, or no pooled connection came free in
# time: through SQLAlchemy, or through the read pool's psycopg connections (mds.api.reads).
# Worth a retry, unlike a 500.
DATABASE_AWAY = (
    OperationalError,
    InterfaceError,
    PoolExhaustedError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
)
DATABASE_RETRY_AFTER_S = 5
log = structlog.get_logger("mds.errors")


def problem(status: int, title: str, detail: str | None = None, **extensions: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, _title(exc.status_code), str(exc.detail or "") or None)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(err["loc"]), "message": err["msg"], "type": err["type"]}
        for err in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors)
    return problem(422, "Invalid request", f"invalid field(s): {fields}", errors=errors)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    extensions: dict[str, Any] = {}
    if exc.field is not None:
        extensions["errors"] = [{"field": exc.field, "message": exc.detail}]
    return problem(exc.status, exc.title, exc.detail, **extensions)


def unavailable(title: str, detail: str, retry_after_s: int) -> JSONResponse:
    """A 503 worth retrying the same request for, after `retry_after_s`."""
    response = problem(503, title, f"{detail}; retry the same request later")
    response.headers["Retry-After"] = str(retry_after_s)
    return response


async def _database_away(request: Request, exc: Exception) -> JSONResponse:
    reason = type(getattr(exc, "orig", None) or exc).__name__
    log.warning("database_unavailable", path=request.url.path, error=reason)
    return unavailable(
        "Database unavailable", f"the database did not answer ({reason})", DATABASE_RETRY_AFTER_S
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return problem(500, "Internal Server Error", "an unexpected error occurred")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ServiceError, _service_error)
    for away in DATABASE_AWAY:
        app.add_exception_handler(away, _database_away)
    app.add_exception_handler(Exception, _unexpected_error)
