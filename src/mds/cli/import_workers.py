"""`mds import --workers N`: batches resolved by N processes, each with its own connection.

Batches leave in file order and finish in any order. Concurrent batches are safe for the same
reasons concurrent ingestion workers are (DESIGN.md §5): advisory locks on the blocking keys and
source records serialize batches that could see the same person, and a late signal never
overwrites a newer value.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context, util

from mds.bootstrap import build_runtime
from mds.cli.common import settings_for_cli
from mds.domain.signals import Signal
from mds.services.ingest import IngestService

# Batches queued per worker beyond the one it is resolving: enough to keep it busy while the
# reader parses, few enough that memory stays bounded on a large file.
QUEUED_PER_WORKER = 2

# The worker process's own ingest service, made by its initializer.
_worker: dict[str, IngestService] = {}


def _start_worker() -> None:
    # The parent migrated the database; workers only connect.
    runtime = build_runtime(settings_for_cli(), run_migrations=False)
    # Pool workers leave through multiprocessing's exit path, which skips atexit but runs these.
    util.Finalize(runtime, runtime.close, exitpriority=10)
    _worker["service"] = runtime.ingest_service()


def _statuses(service: IngestService, signals: list[Signal], actor: str) -> list[str]:
    return [str(outcome.status) for outcome in service.ingest(signals, actor=actor)]


def _ingest(signals: list[Signal], actor: str) -> list[str]:
    return _statuses(_worker["service"], signals, actor)


class InProcess:
    """Batches resolved one after the other in this process (the default)."""

    def __init__(self, service: IngestService, actor: str) -> None:
        self._service, self._actor = service, actor

    def submit(self, signals: list[Signal]) -> list[list[str]]:
        return [_statuses(self._service, signals, self._actor)]

    def drain(self) -> list[list[str]]:
        return []

    def close(self) -> None:
        pass


class ImportWorkers:
    """A pool of import processes; `submit` and `drain` return the decisions of finished batches."""

    def __init__(self, workers: int, actor: str) -> None:
        self._pool = ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=_start_worker
        )
        self._actor = actor
        self._limit = workers * (1 + QUEUED_PER_WORKER)
        self._running: deque[Future[list[str]]] = deque()

    def submit(self, signals: list[Signal]) -> list[list[str]]:
        self._running.append(self._pool.submit(_ingest, signals, self._actor))
        if len(self._running) < self._limit:
            return self._finished()
        wait(self._running, return_when=FIRST_COMPLETED)
        return self._finished()

    def drain(self) -> list[list[str]]:
        wait(self._running)
        return self._finished()

    def close(self) -> None:
        for future in self._running:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _finished(self) -> list[list[str]]:
        done: list[Future[list[str]]] = []
        running: deque[Future[list[str]]] = deque()
        for future in self._running:
            (done if future.done() else running).append(future)
        self._running = running
        # A batch that failed raises here, in the parent, with the worker's exception.
        return [f.result() for f in done]
