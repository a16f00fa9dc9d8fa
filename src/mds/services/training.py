"""`mds model train`: re-estimate m, u and the prior by EM from pairs that blocking proposes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from mds.matching.comparisons import compare_records
from mds.matching.em import TrainingResult, train
from mds.security.keyring import Keyring
from mds.store import match_models
from mds.store import source_identities as identities

PAIRS_PER_KEY = 20


@dataclass(frozen=True)
class TrainingReport:
    result: TrainingResult
    version: int | None  # None when nothing was stored (dry run)


def train_model(
    sessions: Callable[[], Session],
    keyring: Keyring,
    *,
    sample_keys: int = 20_000,
    activate: bool = True,
    dry_run: bool = False,
    seed: int = 0,
) -> TrainingReport:
    """Compare identities that share a blocking key (a sample of keys), then run EM."""
    with sessions() as session:
        current = match_models.active(session)
        # Keys shared by several identities, sampled in the database (the store may be large),
        # and their identities, in one statement: a sample of thousands of keys sent back as a
        # list of values overflowed PostgreSQL's parser stack.
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
        shared: dict[tuple[str, bytes], list[uuid.UUID]] = {}
        for key_type, key_hash, identity in rows:
            shared.setdefault((key_type, bytes(key_hash)), []).append(identity)
        pairs: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for ids in shared.values():
            ordered = sorted(ids, key=str)
            for i, a in enumerate(ordered[:PAIRS_PER_KEY]):
                for b in ordered[i + 1 : PAIRS_PER_KEY]:
                    pairs.add((a, b))
        wanted = {x for pair in pairs for x in pair}
        records = {
            row.id: row.record
            for row in identities.load_by_ids(session, keyring, wanted)
            if row.record is not None
        }
    vectors = [
        compare_records(records[a], records[b]) for a, b in pairs if a in records and b in records
    ]
    result = train(vectors, current)
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
