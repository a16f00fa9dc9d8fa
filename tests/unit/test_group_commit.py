import threading
import time
from collections.abc import Callable

from mds.services.batcher import GroupCommit


def held_first(
    release: threading.Event, batches: list[list[int]], refused: int | None = None
) -> Callable[[list[int]], list[int]]:
    """A process that records each batch and holds the first until `release`, so that the next
    requests queue up behind it; it answers each item times ten, and fails on `refused`."""

    def process(items: list[int]) -> list[int]:
        batches.append(items)
        if len(batches) == 1:
            release.wait(5)
        if refused in items:
            raise ValueError(f"{refused} cannot be stored")
        return [item * 10 for item in items]

    return process


def test_concurrent_requests_share_a_batch_and_get_their_own_results() -> None:
    release = threading.Event()
    batches: list[list[int]] = []
    commit: GroupCommit[int, int] = GroupCommit(held_first(release, batches))
    results: dict[int, list[int]] = {}

    def request(n: int) -> None:
        results[n] = commit.submit([n, n + 100])

    first = threading.Thread(target=request, args=(0,))
    first.start()
    while not batches:
        pass
    others = [threading.Thread(target=request, args=(n,)) for n in range(1, 6)]
    for thread in others:
        thread.start()
    while commit._queue.qsize() < 5:  # all five are waiting behind the first batch
        pass
    release.set()
    for thread in [first, *others]:
        thread.join()
    commit.close()

    assert results == {n: [n * 10, (n + 100) * 10] for n in range(6)}
    assert len(batches) == 2  # the five waiting requests went through as one batch
    assert sorted(batches[1]) == sorted(x for n in range(1, 6) for x in (n, n + 100))


def test_a_failure_that_is_everyones_fails_every_request_of_the_batch_at_once() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        batches.append(items)
        release.wait(5)
        raise ConnectionError("database is down")

    commit: GroupCommit[int, int] = GroupCommit(
        process, split_on=lambda exc: not isinstance(exc, ConnectionError)
    )
    failures: list[Exception] = []

    def request(n: int) -> None:
        try:
            commit.submit([n])
        except ConnectionError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(4)]
    threads[0].start()
    while not batches:
        pass
    for thread in threads[1:]:
        thread.start()
    while commit._queue.qsize() < 3:
        pass
    release.set()
    for thread in threads:
        thread.join()
    commit.close()
    assert len(failures) == 4
    assert sorted(map(sorted, batches)) == [[0], [1, 2, 3]]  # not tried again one by one


def test_a_failing_request_fails_alone_not_the_requests_batched_with_it() -> None:
    release = threading.Event()
    batches: list[list[int]] = []
    commit: GroupCommit[int, int] = GroupCommit(held_first(release, batches, refused=13))
    results: dict[int, list[int] | Exception] = {}

    def request(n: int) -> None:
        try:
            results[n] = commit.submit([n])
        except ValueError as exc:
            results[n] = exc

    first = threading.Thread(target=request, args=(0,))
    first.start()
    while not batches:
        pass
    others = [threading.Thread(target=request, args=(n,)) for n in (12, 13, 14)]
    for thread in others:
        thread.start()
    while commit._queue.qsize() < 3:
        pass
    release.set()
    for thread in [first, *others]:
        thread.join()
    commit.close()

    assert isinstance(results.pop(13), ValueError)
    assert results == {0: [0], 12: [120], 14: [140]}
    assert sorted(batches[1]) == [12, 13, 14]  # tried together first, then one by one
    assert sorted(map(tuple, batches[2:])) == [(12,), (13,), (14,)]


def test_a_request_cancelled_while_it_waited_is_dropped_and_the_others_answered() -> None:
    release = threading.Event()
    batches: list[list[int]] = []
    commit: GroupCommit[int, int] = GroupCommit(held_first(release, batches))
    first = commit.enqueue([1])
    while not batches:
        pass
    gone, kept = commit.enqueue([2]), commit.enqueue([3])
    assert gone.cancel()  # its client went away while the first batch ran
    release.set()

    assert first.result(5) == [10]
    assert kept.result(5) == [30]
    assert commit.submit([4]) == [40]  # the worker is still there
    commit.close()
    assert batches == [[1], [3], [4]]
    assert not first.cancel()  # once resolving, a request can no longer be cancelled


def test_pending_counts_the_items_queued_behind_the_running_batch() -> None:
    release = threading.Event()
    batches: list[list[int]] = []
    commit: GroupCommit[int, int] = GroupCommit(held_first(release, batches))
    first = commit.enqueue([1, 2])
    while not batches:  # taken into the held batch: no longer pending
        time.sleep(0.01)
    assert commit.pending == 0
    second = commit.enqueue([3, 4, 5])
    third = commit.enqueue([6])
    assert commit.pending == 4
    release.set()
    assert first.result(5) == [10, 20]
    assert second.result(5) == [30, 40, 50] and third.result(5) == [60]
    assert commit.pending == 0
    commit.close()


def test_drain_seconds_estimates_the_wait_from_the_recent_batches_pace() -> None:
    release, running = threading.Event(), threading.Event()

    def slow(items: list[int]) -> list[int]:
        if -1 in items:  # holds the worker, so that the next items wait
            running.set()
            release.wait(5)
        time.sleep(0.002 * len(items))  # at most 500 items per second
        return items

    commit: GroupCommit[int, int] = GroupCommit(slow)
    assert commit.drain_seconds() is None  # no batch has finished: no pace to go by
    commit.submit([1, 2])
    assert commit.drain_seconds() == 0  # nothing waits
    held = commit.enqueue([-1])
    running.wait(5)
    waiting = commit.enqueue(list(range(100)))
    drain = commit.drain_seconds()
    release.set()
    assert held.result(5) == [-1] and waiting.result(10) == list(range(100))
    commit.close()
    # 100 items at 500 per second or slower (a loaded machine), never faster.
    assert drain is not None and 0.2 <= drain < 30
