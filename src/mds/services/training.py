"""`mds model train`: u measured on random pairs of identities, then m and the prior by EM on
pairs that blocking proposes."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.matching.comparisons import compare_records
from mds.matching.em import TrainingResult, train_per_block, u_from_random_pairs
from mds.matching.record import MatchRecord
from mds.security.keyring import Keyring
from mds.store import match_models
from mds.store import source_identities as identities

T = TypeVar("T")
PAIRS_PER_KEY = 20
# u is measured on random pairs among this many identities drawn from the store.
RANDOM_IDENTITIES = 2_000
RANDOM_PAIRS = 200_000
MIN_LINKED_PAIRS = 100


@dataclass(frozen=True)
class TrainingReport:
    result: TrainingResult
    version: int | None  # None when nothing was stored (dry run)


def _records(
    session: Session, keyring: Keyring, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID | None, MatchRecord]]:
    """Each identity's user and match record."""
    return {
        row.id: (row.user_id, row.record)
        for row in identities.load_by_ids(session, keyring, ids)
        if row.record is not None
    }


def random_pairs(records: Sequence[T], count: int, seed: int) -> list[tuple[T, T]]:
    """Up to `count` distinct pairs of different records, drawn at random."""
    n = len(records)
    possible = n * (n - 1) // 2
    if possible <= count:
        return list(combinations(records, 2))
    rng = random.Random(seed)  # noqa: S311 - a sample, not a secret
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < count:
        i, j = rng.randrange(n), rng.randrange(n)
        if i != j:
            chosen.add((min(i, j), max(i, j)))
    return [(records[i], records[j]) for i, j in sorted(chosen)]


def train_model(
    sessions: Callable[[], Session],
    keyring: Keyring,
    *,
    sample_keys: int = 20_000,
    activate: bool = True,
    dry_run: bool = False,
    seed: int = 0,
    min_linked_pairs: int = MIN_LINKED_PAIRS,
) -> TrainingReport:
    """Measure u on random pairs of identities of different users, compare identities that
    share a blocking key (a sample of keys), then run EM per kind of key for m."""
    with sessions() as session:
        current = match_models.active(session)
        # Keys shared by several identities, sampled in the database (the store may be large),
        # and their identities, in one statement: a sample of thousands of keys sent back as a
        # list of values overflowed PostgreSQL's parser stack. Without statistics (a store just
        # loaded, before autovacuum analyzed it) the planner may take the sample for one row and
        # scan match_keys once per sampled key: 20,000 keys on 40,000 rows outran the statement
        # timeout. A hash or merge join costs one more scan of what the sample scanned anyway.
        session.execute(text("SET LOCAL enable_nestloop = off"))
        rows = session.execute(
            text(
                "WITH sampled AS ("
                " SELECT key_type, key_hash FROM match_keys"
                " WHERE key_type NOT LIKE 'tf_%' AND user_id IS NOT NULL"
                " GROUP BY key_type, key_hash HAVING count(*) > 1"
                " ORDER BY md5(key_hash::text || :seed) LIMIT :n)"
                " SELECT m.key_type, m.key_hash, m.source_identity_id"
                " FROM match_keys m JOIN sampled USING (key_type, key_hash)"
            ),
            {"seed": str(seed), "n": sample_keys},
        ).all()
        session.execute(text("RESET enable_nestloop"))
        shared: dict[tuple[str, bytes], list[uuid.UUID]] = {}
        for key_type, key_hash, identity in rows:
            shared.setdefault((key_type, bytes(key_hash)), []).append(identity)
        # Each pair with the kinds of key it shares: what it was blocked on.
        pairs: dict[tuple[uuid.UUID, uuid.UUID], set[str]] = {}
        for (key_type, _), ids in shared.items():
            ordered = sorted(ids, key=str)
            for i, a in enumerate(ordered[:PAIRS_PER_KEY]):
                for b in ordered[i + 1 : PAIRS_PER_KEY]:
                    pairs.setdefault((a, b), set()).add(key_type)
        wanted = {x for pair in pairs for x in pair}
        records = _records(session, keyring, wanted)
        drawn = session.scalars(
            text(
                "SELECT id FROM source_identities WHERE match_record_enc IS NOT NULL"
                " ORDER BY md5(id::text || :seed) LIMIT :n"
            ),
            {"seed": str(seed), "n": RANDOM_IDENTITIES},
        ).all()
        population = list(_records(session, keyring, drawn).values())
    compared = [(a, b, kinds) for (a, b), kinds in pairs.items() if a in records and b in records]
    # EM learns what matches look like from the matches among the pairs; a store where no user
    # holds two identities has none to show, and EM would fit m to non-matches.
    linked = sum(
        1 for a, b, _ in compared if records[a][0] is not None and records[a][0] == records[b][0]
    )
    if compared and linked < min_linked_pairs:
        raise ValueError(
            f"only {linked} of {len(compared)} candidate pairs are identities of one user"
            f" (at least {min_linked_pairs} are needed to learn what a match looks like):"
            " keep the current model until the store holds more linked identities"
        )
    vectors = [(compare_records(records[a][1], records[b][1]), kinds) for a, b, kinds in compared]
    # Two identities of one user are (as far as the store knows) one person: not a pair u is
    # about. In a young store they are a good share of random pairs.
    at_random = [
        compare_records(a[1], b[1])
        for a, b in random_pairs(population, RANDOM_PAIRS, seed)
        if a[0] is None or a[0] != b[0]
    ]
    # A store too small for random pairs of different users keeps the u it had.
    u = u_from_random_pairs(at_random) if at_random else current.u
    result = train_per_block(vectors, current, u)
    if dry_run:
        return TrainingReport(result, None)
    with sessions() as session, session.begin():
        version = match_models.add(
            session,
            result.parameters,
            f"EM on {result.pairs} candidate pairs, {result.iterations} iterations"
            f" ({'converged' if result.converged else 'not converged'}),"
            f" started from version {current.version}",
            activate=activate,
        )
    return TrainingReport(result, version)
