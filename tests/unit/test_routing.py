from hypothesis import given
from hypothesis import strategies as st

from mds.matching.routing import route

keys = st.lists(st.lists(st.integers(0, 40), max_size=4), max_size=60)


@given(keys, st.integers(1, 4))
def test_records_sharing_a_selective_key_go_to_the_same_part(
    keys_by_record: list[list[int]], parts: int
) -> None:
    part_of = route(keys_by_record, parts, common=3)
    assert len(part_of) == len(keys_by_record)
    assert all(0 <= p < parts for p in part_of)
    carriers: dict[int, list[int]] = {}
    for index, record_keys in enumerate(keys_by_record):
        for key in set(record_keys):
            carriers.setdefault(key, []).append(index)
    for members in carriers.values():
        if len(members) <= 3:
            assert len({part_of[i] for i in members}) == 1


def test_a_common_key_does_not_glue_the_load_into_one_part() -> None:
    # Every record carries the same common name; pairs also share an email.
    keys_by_record = [["name:james smith", f"email:{n // 2}"] for n in range(40)]
    part_of = route(keys_by_record, 2, common=8)
    assert part_of.count(0) == part_of.count(1) == 20
    assert all(part_of[n] == part_of[n + 1] for n in range(0, 40, 2))


def test_groups_are_spread_largest_first() -> None:
    keys_by_record = [["a"]] * 5 + [["b"]] * 3 + [["c"]] * 2 + [["d"]]
    part_of = route(keys_by_record, 2)
    loads = [part_of.count(0), part_of.count(1)]
    assert sorted(loads) == [5, 6]
