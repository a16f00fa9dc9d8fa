"""Splitting a load between parallel workers so that records which may match stay together.

Two workers holding records of one person would wait for each other on the advisory locks of
their shared blocking keys, batch after batch: the load would run no faster than one worker.
Records sharing a selective key (an email, a phone, a name with a birth date) are kept in one
part; keys carried by many records of the load (a common name) do not group, or everything
would fall in one part.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

# A key carried by more records than this in one window of the load is a common value, not a
# sign of the same person (who has a handful of records at most).
COMMON_IN_WINDOW = 8


def route(
    keys_by_record: Sequence[Sequence[Hashable]], parts: int, common: int = COMMON_IN_WINDOW
) -> list[int]:
    """The part (0 .. parts-1) of each record: records linked by shared selective keys form a
    group, groups go largest first to the part with the fewest records so far."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    carriers = Counter(key for keys in keys_by_record for key in set(keys))
    parent = list(range(len(keys_by_record)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_with: dict[Hashable, int] = {}
    for index, keys in enumerate(keys_by_record):
        for key in keys:
            if carriers[key] > common:
                continue
            other = first_with.setdefault(key, index)
            parent[find(index)] = find(other)
    groups: dict[int, list[int]] = {}
    for index in range(len(keys_by_record)):
        groups.setdefault(find(index), []).append(index)
    load = [0] * parts
    part_of = [0] * len(keys_by_record)
    for members in sorted(groups.values(), key=lambda m: (-len(m), m[0])):
        target = min(range(parts), key=lambda p: (load[p], p))
        load[target] += len(members)
        for index in members:
            part_of[index] = target
    return part_of
