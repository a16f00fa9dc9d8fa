"""`mds import --workers N`: one reader that routes, N processes that resolve.

One importer is a single Python thread that leaves the second core mostly to PostgreSQL's
waits; N processes resolve in parallel. The reader keeps the records that share a selective
blocking key in one worker (`matching.routing`), window by window, so that workers do not queue
behind each other's advisory locks for the same person. Correctness never rests on the routing:
the locks still serialize any two batches that could see each other.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.process import BaseProcess
from typing import Any

from mds.bootstrap import build_runtime
from mds.cli.import_batches import BatchReport, import_batch, signal_of
from mds.config import Settings
from mds.domain.normalization import normalize_attributes
from mds.domain.signals import Signal
from mds.gc_tuning import tune_for_resolution
from mds.matching.blocking import blocking_keys
from mds.matching.record import match_record
from mds.matching.routing import route
from mds.services.signal_files import ParsedLine

# Batches routed together: the wider the window, the more of one person's records it keeps in
# one worker; each batch waits in a worker's queue, so this also bounds the reader's lead.
WINDOW_BATCHES_PER_WORKER = 8
QUEUED_BATCHES_PER_WORKER = 2


class WorkerFailedError(RuntimeError):
    """A worker process stopped on an error; its message is the worker's traceback."""


def routing_keys(signal: Signal, default_region: str | None, today: date) -> list[tuple[str, str]]:
    normalized = normalize_attributes(
        signal.attributes.present(), default_region=default_region, today=today
    )
    return blocking_keys(match_record(normalized))


def _work(
    settings: Settings,
    inbox: Any,
    results: Any,
    expected_signals: int | None,
    actor: str,
) -> None:
    """A worker's life: its own runtime, then batches until the reader sends None."""
    try:
        runtime = build_runtime(settings, run_migrations=False)
        tune_for_resolution()
        service = runtime.ingest_service()
        if expected_signals:
            service.expect_load(expected_signals)
        while (batch := inbox.get()) is not None:
            results.put(("done", import_batch(service, batch, actor)))
        runtime.engine.dispose()
        results.put(("exit", None))
    except BaseException:  # reported to the reader, which fails the import
        results.put(("error", traceback.format_exc()))


@dataclass
class WorkerPool:
    """The worker processes, their queues and what they reported."""

    settings: Settings
    workers: int
    batch_size: int
    expected_signals: int | None
    actor: str
    on_batch: Callable[[BatchReport], None]
    decisions: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _context: Any = None
    _inboxes: list[Any] = field(default_factory=list)
    _processes: list[BaseProcess] = field(default_factory=list)
    _collector: threading.Thread | None = None

    def start(self) -> None:
        methods = multiprocessing.get_all_start_methods()
        # fork skips importing the service again in every worker (about a second each).
        self._context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        results = self._context.Queue()
        for _ in range(self.workers):
            inbox = self._context.Queue(maxsize=QUEUED_BATCHES_PER_WORKER)
            process = self._context.Process(
                target=_work,
                args=(self.settings, inbox, results, self.expected_signals, self.actor),
                daemon=True,
            )
            process.start()
            self._inboxes.append(inbox)
            self._processes.append(process)
        self._collector = threading.Thread(target=self._collect, args=(results,), daemon=True)
        self._collector.start()

    def _collect(self, results: Any) -> None:
        running = self.workers
        while running:
            kind, payload = results.get()
            if kind == "done":
                self.decisions.update(payload.decisions)
                self.on_batch(payload)
            else:
                running -= 1
                if kind == "error":
                    self.errors.append(payload)

    def dispatch(self, lines: Sequence[ParsedLine], parts: list[int]) -> None:
        """Each part's lines, in their order, in batches; the workers' queues filled in turn."""
        per_worker: list[list[ParsedLine]] = [[] for _ in range(self.workers)]
        for line, part in zip(lines, parts, strict=True):
            per_worker[part].append(line)
        batches = [
            [own[i : i + self.batch_size] for i in range(0, len(own), self.batch_size)]
            for own in per_worker
        ]
        for round_ in range(max((len(b) for b in batches), default=0)):
            for worker, own in enumerate(batches):
                if round_ < len(own):
                    self._put(worker, own[round_])

    def _put(self, worker: int, batch: list[ParsedLine] | None) -> None:
        while True:
            if self.errors:
                raise WorkerFailedError(self.errors[0])
            try:
                self._inboxes[worker].put(batch, timeout=0.5)
                return
            except queue.Full:
                process = self._processes[worker]
                if not process.is_alive():
                    raise WorkerFailedError(
                        self.errors[0]
                        if self.errors
                        else f"worker {worker} exited with code {process.exitcode}"
                    ) from None

    def finish(self) -> None:
        """No more work: wait for every worker; raise if one failed."""
        try:
            for worker in range(self.workers):
                self._put(worker, None)
        finally:
            for process in self._processes:
                process.join()
            if self._collector is not None:
                self._collector.join(timeout=5)
        if self.errors:
            raise WorkerFailedError(self.errors[0])
        # Killed (out of memory, a signal) without a word: its queued batches were not done.
        for worker, process in enumerate(self._processes):
            if process.exitcode != 0:
                raise WorkerFailedError(f"worker {worker} exited with code {process.exitcode}")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def stop(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()
                process.join()


def import_in_workers(
    pool: WorkerPool, lines: Iterator[ParsedLine], default_region: str | None, today: date
) -> None:
    """Route the parsed `lines` window by window and hand them to the pool's workers."""
    window_size = pool.workers * pool.batch_size * WINDOW_BATCHES_PER_WORKER
    window: list[ParsedLine] = []

    def flush() -> None:
        keys = [routing_keys(signal_of(line), default_region, today) for line in window]
        pool.dispatch(window, route(keys, pool.workers))
        window.clear()

    for line in lines:
        window.append(line)
        if len(window) >= window_size:
            flush()
    if window:
        flush()
