"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import mds
from mds.api.middleware import RequestContextMiddleware
from mds.api.openapi import install_problem_docs
from mds.api.problems import install_problem_handlers
from mds.api.reads import AsyncReads
from mds.api.routes import changes, duplicates, health, signals, stewardship, users
from mds.bootstrap import Runtime, build_runtime
from mds.config import get_settings
from mds.gc_tuning import tune_for_resolution
from mds.observability import configure_logging, forget_this_process

log = structlog.get_logger("mds.app")


def _default_runtime() -> Runtime:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    runtime = build_runtime(settings)
    runtime.warm_up()  # before the server listens: the first requests would pay for it
    gc.collect()  # the rehearsal's cycles, which the freeze below would keep for good
    tune_for_resolution()
    return runtime


def create_app(runtime_factory: Callable[[], Runtime] = _default_runtime) -> FastAPI:
    """Build the app; the runtime (database, keys) is made at startup, never at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await run_in_threadpool(runtime_factory)
        app.state.runtime = runtime
        app.state.reads = reads = AsyncReads.for_runtime(runtime)
        if reads is not None:
            await reads.open()
        streams = await run_in_threadpool(runtime.start_streams)
        log.info("mds.started", version=mds.__version__, streams=len(streams.threads))
        try:
            yield
        finally:
            await run_in_threadpool(streams.stop)
            if reads is not None:
                await reads.close()
            runtime.close()
            forget_this_process()

    app = FastAPI(
        title="Master Data Service",
        version=mds.__version__,
        description="The canonical record of every Meetinity user and profile.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestContextMiddleware)
    install_problem_handlers(app)
    install_problem_docs(app, signals.DOCUMENTED_MODELS)
    app.include_router(health.router)
    app.include_router(signals.router)
    app.include_router(users.router)
    app.include_router(stewardship.router)
    app.include_router(duplicates.router)
    app.include_router(changes.router)
    return app
