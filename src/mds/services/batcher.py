"""Group commit for concurrent single-signal requests.

Each request's signals wait in a queue; one worker thread takes everything queued at that
moment and resolves it as one batch (one transaction), then answers every request. Under light
load a batch is one request and nothing waits; under heavy load the fixed cost of a batch (its
locks, reads and writes) is shared, which is what keeps tail latency down on a small machine.
A batch that fails is split into its requests, so that a failure is only its own request's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

In = TypeVar("In")
Out = TypeVar("Out")
log = structlog.get_logger(__name__)


@dataclass
class _Request(Generic[In, Out]):
    items: Sequence[In]
    future: Future[list[Out]] = field(default_factory=Future)


class GroupCommit(Generic[In, Out]):
    def __init__(
        self,
        process: Callable[[list[In]], list[Out]],
        max_items: int = 1_000,
        split_on: Callable[[Exception], bool] = lambda exc: True,
        on_pending: Callable[[int], None] = lambda pending: None,
    ) -> None:
        """`split_on`: whether a batch that failed so is worth retrying request by request
        (not when the failure is everyone's, such as a database that is away); `on_pending`
        hears each new count of items waiting (a metric)."""
        self._process = process
        self._max_items = max_items
        self._split_on = split_on
        self._on_pending = on_pending
        self._queue: queue.Queue[_Request[In, Out] | None] = queue.Queue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._items_per_second: float | None = None  # the recent batches' pace
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, items: Sequence[In], timeout: float | None = 60.0) -> list[Out]:
        return self.enqueue(items).result(timeout=timeout)

    def enqueue(self, items: Sequence[In]) -> Future[list[Out]]:
        """Queue the items; their results when the batch they join is done (for callers on an
        event loop, which await it instead of blocking a thread)."""
        request: _Request[In, Out] = _Request(items)
        with self._pending_lock:
            self._pending += len(items)
            self._on_pending(self._pending)
        self._queue.put(request)
        return request.future

    @property
    def pending(self) -> int:
        """Items queued and not yet taken into a batch: how far behind the worker is."""
        return self._pending

    def drain_seconds(self) -> float | None:
        """About how long the items waiting now will take at the recent batches' pace; None
        until a batch has finished."""
        pace = self._items_per_second
        return None if pace is None else self._pending / pace

    def _taken(self, requests: list[_Request[In, Out]]) -> None:
        with self._pending_lock:
            self._pending -= sum(len(r.items) for r in requests)
            self._on_pending(self._pending)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.items)
            stop = False
            while size < self._max_items:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                size += len(nxt.items)
            self._taken(batch)
            # A request cancelled while it waited (its client went away) is dropped, nothing
            # of it done; the others can no longer be cancelled.
            started = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if started:
                self._answer(started)
            if stop:
                return

    def _answer(self, batch: list[_Request[In, Out]]) -> None:
        items = [item for request in batch for item in request.items]
        started = time.perf_counter()
        try:
            results = self._process(items)
        except Exception as exc:
            if len(batch) > 1 and self._split_on(exc):
                # One request's signals must not fail the others that happened to share its
                # transaction: each is tried again on its own.
                log.warning("group_commit.split", requests=len(batch), error=repr(exc))
                for request in batch:
                    self._answer([request])
                return
            log.exception("group_commit.failed", requests=len(batch), items=len(items))
            for request in batch:
                request.future.set_exception(exc)
            return
        pace = len(items) / max(time.perf_counter() - started, 1e-6)
        known = self._items_per_second
        self._items_per_second = pace if known is None else 0.8 * known + 0.2 * pace
        offset = 0
        for request in batch:
            request.future.set_result(results[offset : offset + len(request.items)])
            offset += len(request.items)
