"""The published OpenAPI document tells the truth about errors.

Every error leaves through mds.api.problems as `application/problem+json`, but FastAPI documents
its own 422 body (`application/json`, HTTPValidationError) and routes declare their problems
without a schema. Rather than repeating the declaration on every route, the document is
finished here once: each 4xx/5xx response gets the Problem schema, every operation that requires
a token gets its 401 and 403, and every one with a body its 400. Routes added later are covered
without doing anything.

A route that reads its body itself, to judge each item on its own (`POST /v1/signals`: one
malformed signal in a batch is that signal's rejection, not the batch's 422), still documents
the body's shape: it names models in `openapi_extra`, and their schemas are added here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from mds.api.problems import PROBLEM_JSON

_REF = "#/components/schemas/{model}"
_AUTH_PROBLEMS = {
    "401": "No valid bearer token (missing, expired, wrong issuer or audience, bad signature)",
    "403": "The token lacks a scope this operation requires",
}


class FieldError(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str = Field(description="Where: a dotted path (`query.limit`, `attributes.email`)")
    message: str
    type: str | None = Field(None, description="The validator's error type, when there is one")


class Problem(BaseModel):
    """RFC 9457 problem details; a problem may add members of its own."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = Field(None, description="Each invalid field, when known")


def install_problem_docs(app: FastAPI, models: Sequence[type[BaseModel]] = ()) -> None:
    """Make `app.openapi()` (and so /openapi.json and /docs) document problems as served, and
    the `models` that routes refer to without FastAPI knowing (see `schema_ref`)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_problems(with_models(generate(), models))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def with_models(document: dict[str, Any], models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two different OpenAPI schemas are named {name}")
    return document


def with_problems(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=_REF)
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    content = {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                for status, description in _AUTH_PROBLEMS.items():
                    responses.setdefault(status, {"description": description})
            if "requestBody" in operation:
                # FastAPI's answer to a body it cannot decode at all (422 is for invalid JSON).
                responses.setdefault("400", {"description": "The body could not be read"})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = dict(content)
    # FastAPI's validation-error schemas, unless something still refers to them.
    for name in ("HTTPValidationError", "ValidationError"):
        if json.dumps(document).count(f'"{_REF.format(model=name)}"') == 0:
            schemas.pop(name, None)
    return document
