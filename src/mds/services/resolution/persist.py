"""Writing a workspace's changes: each kind of row in one statement, whatever the count."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mds.domain.audit import AuditEntry
from mds.domain.events import UserEventType
from mds.security.keyring import Keyring
from mds.services.resolution.keys import identity_keys
from mds.services.resolution.survival import SurvivalResult
from mds.services.resolution.workspace import Workspace
from mds.store import driver, lineage, match_keys, merges, outbox, review
from mds.store import source_identities as identities
from mds.store import users as user_store


def persist_workspace(
    session: Session,
    keyring: Keyring,
    ws: Workspace,
    survived: SurvivalResult,
    actor: str,
    *,
    debezium: bool = False,
) -> list[AuditEntry]:
    """Everything but the audit append (the caller's last statement: it locks the chain head);
    returns the audit entries of the merges and unmerges made."""
    with driver.pipelined(session, enabled=few_rows(ws)):
        user_store.insert_users(session, [ws.users[u] for u in sorted(ws.new_users)])
        identities.insert_rows(
            session, keyring, [ws.identities[i] for i in sorted(ws.new_identities)]
        )
        identities.update_rows(
            session,
            keyring,
            [ws.identities[i] for i in sorted(ws.dirty_identities - ws.new_identities)],
        )
        user_store.update_users(
            session, [ws.users[u] for u in sorted(ws.dirty_users - ws.new_users)]
        )
        user_store.upsert_profiles(session, keyring, survived.profiles)
        _persist_keys(session, keyring, ws)
        lineage.replace(session, survived.superseded, survived.lineage)
        outbox.add_events(session, keyring, survived.events, for_debezium=debezium)
        review.close_stale(session, sorted(ws.dirty_users))
    match_keys.delete_keys(session, sorted(ws.erased_identities))
    merges.record(session, keyring, ws.merges)
    _forget_erased(session, ws, survived)
    return [
        AuditEntry(
            m.actor or actor,
            f"user.{m.kind}",
            "user",
            str(m.survivor_id),
            {"other_user": str(m.merged_id), "reason": m.reason, "merge_event": str(m.id)},
        )
        for m in ws.merges
    ]


# A batch of up to this many signals, or identities to write, is pipelined, its rows inserted
# by multi-row INSERTs; more go by COPY, quicker for many rows but never pipelined.
SMALL_BATCH = 16


def few_rows(ws: Workspace) -> bool:
    return len(ws.new_identities | ws.dirty_identities) <= SMALL_BATCH


def _persist_keys(session: Session, keyring: Keyring, ws: Workspace) -> None:
    keyed = []
    for identity_id in sorted((ws.new_identities | ws.dirty_identities) - ws.erased_identities):
        row = ws.identities[identity_id]
        if row.record is None or row.user_id is None:
            continue
        keys = identity_keys(row.record, keyring, ws.record_keys.get(row.record))
        keyed.append((row.id, ws.survivor(row.user_id), keys))
    # A merge moves every identity of the merged user (so they are dirty): their keys are
    # rewritten here with the survivor, and no key is left pointing at the merged user.
    match_keys.replace_keys(session, keyed, new=ws.new_identities)


def _forget_erased(session: Session, ws: Workspace, survived: SurvivalResult) -> None:
    """What erasures leave behind besides the rows they emptied: the digests of the values
    erased identities supplied, and for a user with nothing left every digest and the
    profiles sealed in its pending events."""
    left = sorted(set(ws.erased_from.values()))
    if left:
        holders = [*left, *user_store.absorbed(session, left)]
        lineage.forget_sources(session, holders, sorted(ws.erased_from))
    erased = sorted({e.user_id for e in survived.events if e.type is UserEventType.ERASED})
    if erased:
        gone = [*erased, *user_store.absorbed(session, erased)]
        lineage.forget_values(session, gone)
        outbox.forget_profiles(session, gone)
