"""RFC 9457 problem details for every error response."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mds.services.errors import ServiceError

PROBLEM_JSON = "application/problem+json"
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
    app.add_exception_handler(Exception, _unexpected_error)
