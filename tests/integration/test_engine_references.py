"""The references the engine keeps without foreign keys (match_keys, attribute_lineage).

Migration 0006 dropped those tables' foreign keys: the engine writes each row with the rows it
points at. After merges, an unmerge, a renaming update and an erasure, every reference must
still lead to a row, and every key must name its identity's current user.
"""

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.services.resolution.outcomes import Status
from mds.services.stewardship.operations import Stewardship
from tests.integration.ingest_helpers import ANA, bridged_users, service, signal

BROKEN = {
    "keys without their identity": "SELECT count(*) FROM match_keys k"
    " LEFT JOIN source_identities i ON i.id = k.source_identity_id WHERE i.id IS NULL",
    "keys naming another user than their identity": "SELECT count(*) FROM match_keys k"
    " JOIN source_identities i ON i.id = k.source_identity_id"
    " WHERE k.user_id IS DISTINCT FROM i.user_id",
    "keys naming a merged user": "SELECT count(*) FROM match_keys k"
    " JOIN canonical_users u ON u.id = k.user_id WHERE u.status <> 'active'",
    "lineage without its user": "SELECT count(*) FROM attribute_lineage l"
    " LEFT JOIN canonical_users u ON u.id = l.user_id WHERE u.id IS NULL",
    "lineage without its identity": "SELECT count(*) FROM attribute_lineage l"
    " LEFT JOIN source_identities i ON i.id = l.source_identity_id"
    " WHERE l.source_identity_id IS NOT NULL AND i.id IS NULL",
    "lineage without its signal": "SELECT count(*) FROM attribute_lineage l"
    " LEFT JOIN signals s ON s.id = l.signal_id WHERE l.signal_id IS NOT NULL AND s.id IS NULL",
}


def _broken(session: Session) -> dict[str, int]:
    counts = {name: int(session.execute(text(sql)).scalar_one()) for name, sql in BROKEN.items()}
    return {name: n for name, n in counts.items() if n}


def test_keys_and_lineage_follow_merges_unmerges_updates_and_erasure(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    a, b, bridge = bridged_users(ingest)
    assert a.user_id and b.user_id and a.user_id != b.user_id
    assert bridge.status is Status.LINKED and bridge.user_id == a.user_id
    with sessions() as session:
        assert _broken(session) == {}
        keys_of_b = session.execute(
            text("SELECT count(*) FROM match_keys WHERE user_id = :u"), {"u": b.user_id}
        ).scalar_one()
    assert keys_of_b == 0, "the merged user's keys moved to the survivor"

    Stewardship(sessions, keyring, ingest.config).unmerge(
        a.user_id, b.user_id, actor="steward", reason="two people"
    )
    [renamed] = ingest.ingest(
        [signal("C-1", at="2026-11-02T10:00:00Z", given_name="Anabel", family_name="García")]
    )
    [other] = ingest.ingest([signal("M-1", source="mobile", **ANA)])
    ingest.ingest(
        [signal("M-1", source="mobile", event_type="delete_request", at="2026-11-03T00:00:00Z")]
    )
    assert renamed.user_id == a.user_id and other.user_id is not None
    with sessions() as session:
        assert _broken(session) == {}
        counts = session.execute(
            text(
                "SELECT (SELECT count(*) FROM match_keys),"
                " (SELECT count(*) FROM attribute_lineage),"
                " (SELECT count(DISTINCT user_id) FROM match_keys)"
            )
        ).one()
    keys, lineage, users_with_keys = counts
    assert keys > 0 and lineage > 0, "the checks above looked at rows"
    assert users_with_keys == 2, "after the unmerge and the erasure: Ana García and the other Ana"
