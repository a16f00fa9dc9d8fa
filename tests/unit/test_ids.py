import os
import time
import uuid

from mds.domain import ids
from mds.domain.ids import new_id


def test_ids_are_version_7_with_the_rfc_variant() -> None:
    made = new_id()
    assert made.version == 7
    assert made.variant == uuid.RFC_4122


def test_an_id_carries_the_millisecond_it_was_made_in() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after


def test_ids_made_later_sort_after_earlier_ones_in_the_database_order() -> None:
    # PostgreSQL orders uuid by bytes: what keeps a batch's new rows on the same index pages.
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert first.bytes < second.bytes
    assert str(first) < str(second)


def test_ids_made_in_the_same_millisecond_still_differ() -> None:
    made = {new_id() for _ in range(10_000)}
    assert len(made) == 10_000


def test_ids_grow_in_the_order_they_are_made_even_within_a_millisecond() -> None:
    # Resolution breaks ties by id: creation order must decide them, not random bits.
    made = [new_id() for _ in range(10_000)]
    assert [m.bytes for m in made] == sorted(m.bytes for m in made)
    assert len({m.int >> 80 for m in made}) < len(made)  # many shared a millisecond
    assert all(m.version == 7 and m.variant == uuid.RFC_4122 for m in made)


def test_forked_processes_do_not_continue_their_parents_sequence() -> None:
    # Import workers are forked: siblings continuing from one last value would collide. The
    # parent's last id is put a minute ahead, so a child that kept it could only count up.
    saved = ids._sequence._last
    ids._sequence.above_last((time.time_ns() // 1_000_000 + 60_000) << 74)
    try:
        made = _ids_from_children(4, 2_000)
    finally:
        ids._sequence._last = saved
    unique = {data[i : i + 16] for data in made for i in range(0, len(data), 16)}
    assert [len(data) for data in made] == [2_000 * 16] * 4
    assert len(unique) == 4 * 2_000


def _ids_from_children(count: int, each: int) -> list[bytes]:
    children = []
    for _ in range(count):
        reads, writes = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(reads)
            with os.fdopen(writes, "wb") as pipe:
                pipe.write(b"".join(new_id().bytes for _ in range(each)))
            os._exit(0)
        os.close(writes)
        children.append((pid, reads))
    made = []
    for pid, reads in children:
        with os.fdopen(reads, "rb") as pipe:  # read before waiting: the pipe holds 64 KiB
            made.append(pipe.read())
        os.waitpid(pid, 0)
    return made
