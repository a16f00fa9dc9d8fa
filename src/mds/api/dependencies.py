"""FastAPI dependencies: the runtime and a database session per request."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from mds.bootstrap import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    """The dependency. Async, though it does no I/O: FastAPI runs a plain function dependency
    in its thread pool, a thread hop on every request."""
    return runtime_of(request)


def get_session(request: Request) -> Iterator[Session]:
    with runtime_of(request).sessions() as session:
        yield session
