"""Ranking candidates before scoring: a bounded number per record, whatever the store size."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

Key = tuple[str, bytes]
User = TypeVar("User", bound=Hashable)

# How much sharing one blocking key says about a candidate, to rank candidates before scoring.
KEY_STRENGTH = {
    "email": 8,
    "phone": 6,
    "gov_id": 8,
    "gov_id_digits": 3,
    "name_dob": 3,
    "dob_place": 1,
    "name_postcode": 2,
    "address": 2,
    "full_name": 1,
}
# Measured on the quality benchmark (20k people, 44k signals): 4 and 8 give the same F1
# (0.988) and review recall (0.998); the true match shares the strongest keys and ranks first,
# and every candidate beyond costs a locked user, its identities read and decrypted, and scoring.
# 2 was measured too (2026-11-26): the same auto-links on every profile and about 7% more
# signals/s into the 1M-user store, but on the sparse profile the review queue found 0.918-0.920
# of true pairs instead of 0.921-0.923: pairs a steward would have seen. Kept at 4.
CANDIDATES_PER_RECORD = 4


def best_candidates(
    wanted_by_record: Sequence[Sequence[Key]],
    found: Sequence[tuple[str, bytes, Hashable, User]],
    per_record: int = CANDIDATES_PER_RECORD,
) -> set[User]:
    """Per record, the users sharing the most (and strongest) keys: only those are scored.

    A user reached through a common key alone (a frequent name with a birth year) competes
    with many others; one sharing an email or several keys wins a place. This bounds the work
    per record, whatever the store size. The store ranks the same way in SQL
    (`store.match_keys.ranked_candidates`); this is the rule, kept pure for tests and tools.
    """
    by_key: dict[Key, list[User]] = {}
    for key_type, key_hash, _identity, user in found:
        by_key.setdefault((key_type, key_hash), []).append(user)
    kept: set[User] = set()
    for keys in wanted_by_record:
        strength: dict[User, int] = {}
        for key in dict.fromkeys(keys):
            for user in dict.fromkeys(by_key.get(key, ())):
                strength[user] = strength.get(user, 0) + KEY_STRENGTH.get(key[0], 1)
        ranked = sorted(strength.items(), key=lambda item: (-item[1], str(item[0])))
        kept.update(user for user, _ in ranked[:per_record])
    return kept
