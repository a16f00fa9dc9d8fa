"""POST /v1/signals: ingest one signal or a batch; each gets its own outcome."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from mds.api.auth import Principal, require_scopes
from mds.api.dependencies import get_runtime
from mds.api.openapi import schema_ref
from mds.api.problems import problem, unavailable
from mds.bootstrap import Runtime
from mds.domain.signals import Signal, signal_errors
from mds.security.scopes import WRITE
from mds.services.resolution.outcomes import SignalOutcome, Status
from mds.services.transactions import ConcurrentChangeError

router = APIRouter(prefix="/v1", tags=["signals"])
MAX_BATCH = 1_000


class OutcomeModel(BaseModel):
    event_id: str | None
    source_system: str | None
    decision: str = Field(description="linked, created, review, duplicate-ignored, rejected, …")
    user_id: str | None = None
    score: float | None = None
    issues: list[dict[str, str]] | None = None
    errors: list[dict[str, str]] | None = None


class SignalResults(BaseModel):
    results: list[OutcomeModel]


def _rejected(raw: Any, errors: list[dict[str, str]]) -> SignalOutcome:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    source = raw.get("source_system") if isinstance(raw, dict) else None
    return SignalOutcome(
        str(event_id) if event_id is not None else "",
        str(source) if source is not None else "",
        Status.REJECTED,
        errors=errors,
    )


_SIGNALS = {"type": "array", "items": schema_ref(Signal), "maxItems": MAX_BATCH}
# The body is parsed here, signal by signal, not by FastAPI: its shape is documented by hand.
_BODY_SCHEMA = {
    "oneOf": [
        schema_ref(Signal),
        _SIGNALS,
        {
            "type": "object",
            "properties": {"signals": _SIGNALS},
            "required": ["signals"],
            "additionalProperties": False,
        },
    ]
}
# The models the documented body refers to (app.py adds their schemas to the document).
DOCUMENTED_MODELS = (Signal,)


@router.post(
    "/signals",
    response_model=SignalResults,
    summary="Ingest one signal or a batch",
    description="A batch answers 200 with each signal's outcome in order; a malformed signal in"
    " a batch is that signal's `rejected` outcome (with `errors` naming each field), while a"
    " malformed single signal is a 422 problem.",
    responses={
        413: {"description": f"More than {MAX_BATCH} signals"},
        503: {
            "description": "Not resolved now (database away, timed out, too many waiting):"
            " nothing lost, retry the same request after `Retry-After` seconds",
            "content": {"application/problem+json": {}},
        },
        422: {"description": "Malformed request", "content": {"application/problem+json": {}}},
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _BODY_SCHEMA}}}},
)
async def post_signals(
    principal: Annotated[Principal, Depends(require_scopes(WRITE))],
    runtime: Annotated[Runtime, Depends(get_runtime)],
    body: Annotated[
        Any,
        Body(
            description='A signal (DESIGN.md §4), a JSON array of signals, or {"signals": […]}',
        ),
    ],
) -> Any:
    # On the event loop, awaiting the group commit: a plain function would hold one of the
    # thread pool's threads for the whole resolution, and cost a thread hop per request.
    single = isinstance(body, dict) and "signals" not in body
    raw_signals = [body] if single else body.get("signals") if isinstance(body, dict) else body
    if not isinstance(raw_signals, list):
        return problem(
            422, "Invalid request", "body must be a signal, an array or {signals: [...]}"
        )
    if len(raw_signals) > MAX_BATCH:
        return problem(413, "Batch too large", f"at most {MAX_BATCH} signals per request")

    if len(raw_signals) <= PARSED_ON_THE_LOOP:
        parsed, results = _parse(raw_signals)
    else:
        parsed, results = await run_in_threadpool(_parse, raw_signals)
    if single and results[0] is not None:
        errors = results[0].errors
        fields = ", ".join(e["field"] for e in errors)
        return problem(422, "Invalid signal", f"invalid field(s): {fields}", errors=errors)

    if parsed:
        outcomes = await _resolved(runtime, [s for _, s in parsed])
        if isinstance(outcomes, JSONResponse):
            return outcomes
        for (index, _), outcome in zip(parsed, outcomes, strict=True):
            results[index] = outcome
        if single and outcomes[0].status is Status.REJECTED:
            rejected = outcomes[0]
            return problem(422, "Signal rejected", rejected.error_text(), errors=rejected.errors)
    payload = {"results": [r.as_dict() for r in results if r is not None]}
    return JSONResponse(payload)


async def _resolved(runtime: Runtime, signals: list[Signal]) -> list[SignalOutcome] | JSONResponse:
    """The signals' outcomes from the group commit, or a 503 when they cannot be had now (a
    database that is away is every route's 503: `problems.DATABASE_AWAY`). Each 503 is safe
    to retry as it was sent: a signal resolved meanwhile answers `duplicate-ignored` with its
    user."""
    group = runtime.api_group_commit()
    waiting = group.pending
    # An empty queue takes any batch; a long one would keep these waiting past the timeout.
    if waiting and waiting + len(signals) > runtime.settings.api_max_pending_signals:
        # Come back when the queue should have drained, so that retries spread out.
        drain = group.drain_seconds()
        retry_after = 1 if drain is None else min(60, max(1, math.ceil(drain)))
        detail = f"{waiting} signals are waiting to be resolved"
        return unavailable("Too many signals waiting", detail, retry_after)
    resolving = group.enqueue(signals)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(resolving), RESOLUTION_TIMEOUT_S)
    except TimeoutError:
        return unavailable(
            "Resolution timed out",
            f"not resolved within {RESOLUTION_TIMEOUT_S:.0f} s; it may still finish",
            5,
        )
    except ConcurrentChangeError:
        return unavailable("Busy", "concurrent changes outlasted the transaction's retries", 1)


# Validating a signal takes tens of microseconds: a few are parsed on the event loop, a large
# batch in a thread, so that it does not hold up every other request.
PARSED_ON_THE_LOOP = 16
RESOLUTION_TIMEOUT_S = 60.0


def _parse(raw_signals: list[Any]) -> tuple[list[tuple[int, Signal]], list[SignalOutcome | None]]:
    """The signals that validate (with their index), and each one's rejection otherwise."""
    parsed: list[tuple[int, Signal]] = []
    results: list[SignalOutcome | None] = [None] * len(raw_signals)
    for index, raw in enumerate(raw_signals):
        try:
            parsed.append((index, Signal.model_validate(raw)))
        except ValidationError as exc:
            results[index] = _rejected(raw, signal_errors(exc))
    return parsed, results
