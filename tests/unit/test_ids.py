import time
import uuid

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
