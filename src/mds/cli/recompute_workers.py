"""`mds recompute --workers N`: the live users cut into N id ranges, each walked by a process.

One pass is a single Python thread that keeps about one core busy; the ranges share nothing
but the review queue, whose inserts skip a pair already open, and the users they score (locked
FOR SHARE, which readers share). A merge across two ranges is serialized by the row locks, as
between two ingest batches.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mds.bootstrap import build_runtime
from mds.config import Settings
from mds.gc_tuning import tune_for_resolution
from mds.services.recompute import Recompute, RecomputeProgress


class RecomputeWorkerError(RuntimeError):
    """A worker process failed; its message is the worker's traceback."""


@dataclass(frozen=True)
class PassOptions:
    merge: bool
    dry_run: bool
    chunk: int


def _walk(
    settings: Settings,
    worker: int,
    span: tuple[uuid.UUID | None, uuid.UUID | None],
    options: PassOptions,
    results: Any,
) -> None:
    try:
        runtime = build_runtime(settings, run_migrations=False)
        tune_for_resolution()
        service = Recompute(
            runtime.sessions,
            runtime.keyring,
            runtime.resolution_config(),
            merge=options.merge,
            dry_run=options.dry_run,
            chunk=options.chunk,
        )
        done = service.run(
            lambda progress: results.put(("progress", worker, progress)),
            after=span[0],
            until=span[1],
        )
        runtime.engine.dispose()
        results.put(("exit", worker, done))
    except BaseException:  # reported to the parent, which fails the pass
        results.put(("error", worker, traceback.format_exc()))


def recompute_in_workers(
    settings: Settings,
    bounds: list[uuid.UUID | None],
    options: PassOptions,
    on_progress: Callable[[RecomputeProgress], None],
) -> RecomputeProgress:
    """Run a pass per range (`bounds[k]`, `bounds[k + 1]`]; the sum of what they did."""
    methods = multiprocessing.get_all_start_methods()
    # fork skips importing the service again in every worker (about a second each).
    context: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    results = context.Queue()
    workers = len(bounds) - 1
    processes = [
        context.Process(
            target=_walk,
            args=(settings, k, (bounds[k], bounds[k + 1]), options, results),
            daemon=True,
        )
        for k in range(workers)
    ]
    for process in processes:
        process.start()
    latest = [RecomputeProgress() for _ in range(workers)]
    running, errors = set(range(workers)), []
    try:
        while running:
            try:
                kind, worker, payload = results.get(timeout=1.0)
            except queue.Empty:
                for k in sorted(running):
                    if not processes[k].is_alive():  # killed without a word
                        running.discard(k)
                        errors.append(f"worker {k} exited with code {processes[k].exitcode}")
                continue
            if kind == "error":
                running.discard(worker)
                errors.append(payload)
                continue
            latest[worker] = payload
            if kind == "exit":
                running.discard(worker)
            on_progress(_total(latest, resume_point(latest, bounds, running)))
    finally:
        for process in processes:
            if errors and process.is_alive():
                process.terminate()
            process.join()
    if errors:
        raise RecomputeWorkerError(errors[0])
    return _total(latest, bounds[-1])


def resume_point(
    latest: list[RecomputeProgress], bounds: list[uuid.UUID | None], running: set[int]
) -> uuid.UUID | None:
    """Where an interrupted pass can start again (None: from the first user): the earliest
    position of the ranges still running, so no range is left half-walked; what the others
    walked past it is scored again, which queues nothing twice."""
    if not running:
        return bounds[-1]
    positions = [latest[k].last_user or bounds[k] for k in running]
    started = [p for p in positions if p is not None]
    return min(started) if len(started) == len(positions) else None


def _total(parts: list[RecomputeProgress], last_user: uuid.UUID | None) -> RecomputeProgress:
    total = RecomputeProgress(last_user=last_user)
    for part in parts:
        total += RecomputeProgress(part.users, part.pairs, part.proposed, part.merged)
    return total
