"""`Recompute`: the store compared again under today's model, proposing or merging."""

from __future__ import annotations

import itertools
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from mds.cli.recompute_workers import PassOptions, RecomputeWorkerError, recompute_in_workers
from mds.matching.decision import Thresholds
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.services.ingest import IngestService
from mds.services.keys import load_keyring
from mds.services.recompute import (
    RECOMPUTE_LOCK,
    Recompute,
    RecomputeProgress,
    RecomputeRunningError,
    split_points,
)
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.outcomes import Status
from mds.services.resolution.resolver import LINKS_NOW
from mds.store import locks, review
from tests.integration.helpers import run_concurrently, settings_for
from tests.integration.ingest_helpers import ANA, NOW, signal
from tests.integration.test_rekeying import PEOPLE

# Ana again, from another system: another email, the same phone, name and birth date. Today's
# default thresholds link the two; a stricter past did not even queue them.
ANA_AT_WORK = {**ANA, "email": "a.garcia@work.example"}
STRICT = Thresholds(link=1 - 1e-15, review=1 - 1e-15)


def _config(thresholds: Thresholds | None = None) -> ResolutionConfig:
    return ResolutionConfig(
        thresholds=thresholds or Thresholds(), default_region="ES", clock=lambda: NOW
    )


def _users_of_two_anas(
    sessions: sessionmaker[Session], keyring: Keyring, **second: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    """Two users for one Ana, as a stricter past left them: no link, no review item."""
    past = IngestService(sessions, keyring, _config(STRICT))
    (first,) = past.ingest([signal("C-1", **ANA)])
    (other,) = past.ingest([signal("S-9", source="support", **(second or ANA_AT_WORK))])
    assert first.user_id is not None and other.user_id is not None
    assert first.user_id != other.user_id
    with sessions() as session:
        assert _items(session) == []
    return first.user_id, other.user_id


def _phone(n: int) -> str:
    return f"6{(n + 1) * 7_654_321 % 10**8:08d}"  # far apart: no two a typo away


def _items(session: Session) -> list[tuple[Any, ...]]:
    return list(
        session.execute(
            text("SELECT user_a, user_b, status, risk, explanation FROM potential_duplicates")
        ).all()
    )


def _live_users(session: Session) -> set[uuid.UUID]:
    rows = session.execute(text("SELECT id FROM canonical_users WHERE status = 'active'"))
    return set(rows.scalars())


def _audit_actions(session: Session, actor: str) -> list[str]:
    rows = session.execute(
        text("SELECT action FROM audit_log WHERE actor = :actor ORDER BY seq"), {"actor": actor}
    )
    return list(rows.scalars())


def test_a_pair_todays_policy_links_is_proposed_once(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    a, b = _users_of_two_anas(sessions, keyring)

    done = Recompute(sessions, keyring, _config(), chunk=1).run()

    # Each pair is scored once per pass, though each side reaches the other from its own chunk.
    assert done == RecomputeProgress(users=2, pairs=1, proposed=1, merged=0, last_user=max(a, b))
    with sessions() as session:
        ((user_a, user_b, status, risk, explanation),) = _items(session)
        assert {user_a, user_b} == {a, b}
        assert (status, risk) == ("open", "normal")
        assert explanation["reasons"] == [LINKS_NOW]
        assert explanation["fields"]  # the per-field explanation a steward reads
        assert _live_users(session) == {a, b}  # proposed, not merged
        assert _audit_actions(session, "recompute") == ["duplicate.proposed"]

    # Nothing changed since: a second pass opens nothing and writes nothing to the trail.
    again = Recompute(sessions, keyring, _config()).run()
    assert again.proposed == 0
    with sessions() as session:
        assert len(_items(session)) == 1
        assert _audit_actions(session, "recompute") == ["duplicate.proposed"]


def test_merge_joins_a_clean_link_as_a_signal_would(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    a, b = _users_of_two_anas(sessions, keyring)

    done = Recompute(sessions, keyring, _config(), merge=True).run()

    assert (done.merged, done.proposed) == (1, 0)
    survivor = a  # the older user survives
    with sessions() as session:
        assert _live_users(session) == {survivor}
        owners = session.execute(text("SELECT DISTINCT user_id FROM source_identities"))
        assert set(owners.scalars()) == {survivor}
        keys = session.execute(text("SELECT DISTINCT user_id FROM match_keys"))
        assert set(keys.scalars()) == {survivor}
        events = session.execute(
            text("SELECT type FROM outbox WHERE aggregateid = :u ORDER BY seq"),
            {"u": str(b)},
        )
        assert list(events.scalars())[-1] == "user.merged"
        assert "user.merged" in _audit_actions(session, "recompute")
        assert _items(session) == []


def test_a_dry_run_counts_and_stores_nothing(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    a, b = _users_of_two_anas(sessions, keyring)

    proposed = Recompute(sessions, keyring, _config(), dry_run=True).run()
    merged = Recompute(sessions, keyring, _config(), dry_run=True, merge=True).run()

    assert (proposed.proposed, proposed.merged) == (1, 0)
    assert (merged.proposed, merged.merged) == (0, 1)
    with sessions() as session:
        assert _items(session) == []
        assert _live_users(session) == {a, b}
        assert _audit_actions(session, "recompute") == []


def test_two_valid_different_ids_are_queued_high_risk_never_merged(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    gov = {"type": "national_id", "country": "ES"}
    with_id = {**ANA, "government_id": {**gov, "value": "12345678Z"}}
    other_id = {**ANA_AT_WORK, "government_id": {**gov, "value": "87654321X"}}
    past = IngestService(sessions, keyring, _config(STRICT))
    past.ingest([signal("C-1", **with_id)])
    past.ingest([signal("S-9", source="support", **other_id)])

    done = Recompute(sessions, keyring, _config(), merge=True).run()

    assert (done.merged, done.proposed) == (0, 1)
    with sessions() as session:
        ((_a, _b, status, risk, explanation),) = _items(session)
        assert (status, risk) == ("open", "high")
        assert "different valid government ids" in " ".join(explanation["reasons"])
        assert len(_live_users(session)) == 2


@pytest.mark.parametrize("merge", [False, True])
def test_a_pair_a_steward_kept_apart_stays_apart(
    sessions: sessionmaker[Session], keyring: Keyring, merge: bool
) -> None:
    a, b = _users_of_two_anas(sessions, keyring)
    with sessions() as session:
        review.record_rejection(session, (a, b), actor="steward", reason="two people")
        session.commit()

    done = Recompute(sessions, keyring, _config(), merge=merge).run()

    assert (done.merged, done.proposed) == (0, 0)
    with sessions() as session:
        assert [row[2] for row in _items(session)] == ["rejected"]
        assert _live_users(session) == {a, b}


def test_merging_while_signals_merge_the_same_users_leaves_one_user_per_person(
    migrated: Engine, tmp_path: Path
) -> None:
    """Signals bridge each person's two users while recompute merges them too: whoever comes
    second sees the other's merge (or reruns), and no identity or key is left on a merged user."""
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    past = IngestService(sessions, keyring, _config(STRICT))
    for n, (given, family) in enumerate(PEOPLE):
        person = {
            "given_name": given,
            "family_name": family,
            "phone": _phone(n),
            "date_of_birth": f"19{60 + n}-0{1 + n % 9}-1{n % 10}",
        }
        past.ingest([signal(f"C-{n}", **{**person, "email": f"{given}{n}@example.com"})])
        work = {**person, "email": f"{given}@work.example"}
        past.ingest([signal(f"S-{n}", source="support", **work)])
    today = IngestService(sessions, keyring, _config())
    done = threading.Event()

    def bridge() -> None:
        try:
            for n, (given, family) in enumerate(PEOPLE):
                email, phone = f"{given}{n}@example.com", _phone(n)
                name = {"given_name": given, "family_name": family}
                today.ingest([signal(f"T-{n}", source="signup", **name, email=email, phone=phone)])
        finally:
            done.set()

    def recompute() -> None:
        while not done.is_set():
            Recompute(sessions, keyring, _config(), merge=True, chunk=3).run()

    run_concurrently(bridge, recompute)

    with sessions() as session:
        assert len(_live_users(session)) == len(PEOPLE)
        merged = session.execute(
            text("SELECT count(*) FROM canonical_users WHERE status = 'merged'")
        )
        assert merged.scalar_one() == len(PEOPLE)
        stray = session.execute(
            text(
                "SELECT count(*) FROM source_identities s JOIN canonical_users u"
                " ON u.id = s.user_id WHERE u.status <> 'active'"
            )
        )
        assert stray.scalar_one() == 0
        stale_keys = session.execute(
            text(
                "SELECT count(*) FROM match_keys k JOIN source_identities s"
                " ON s.id = k.source_identity_id WHERE k.user_id IS DISTINCT FROM s.user_id"
            )
        )
        assert stale_keys.scalar_one() == 0
        assert (
            session.execute(
                text("SELECT count(*) FROM potential_duplicates WHERE status = 'open'")
            ).scalar_one()
            == 0
        )


def test_a_run_resumes_after_the_last_user_an_interrupted_one_walked(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    a, b = _users_of_two_anas(sessions, keyring)
    first, second = sorted((a, b))

    rest = Recompute(sessions, keyring, _config()).run(after=first)
    nothing = Recompute(sessions, keyring, _config()).run(after=second)

    assert (rest.users, rest.last_user) == (1, second)  # the pair is still found from one side
    assert rest.proposed == 1
    assert (nothing.users, nothing.pairs, nothing.last_user) == (0, 0, second)


def test_one_run_at_a_time(migrated: Engine, tmp_path: Path) -> None:
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(tmp_path / "kek.json"))
    IngestService(sessions, keyring, _config()).ingest([signal("C-1", **ANA)])
    recompute = Recompute(sessions, keyring, _config())

    with locks.held_alone(migrated, RECOMPUTE_LOCK) as granted:  # as a run in another process
        assert granted
        with pytest.raises(RecomputeRunningError, match="another `mds recompute` is running"):
            recompute.run(engine=migrated)

    assert recompute.run(engine=migrated).users == 1  # released: the next run goes ahead
    assert recompute.run(engine=migrated).users == 1  # and this one released it in turn


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_split_points_cut_the_users_into_ranges_that_cover_each_once(
    sessions: sessionmaker[Session], keyring: Keyring, parts: int
) -> None:
    ingest = IngestService(sessions, keyring, _config())
    for n, (given, family) in enumerate(PEOPLE[:5]):
        ingest.ingest([signal(f"C-{n}", given_name=given, family_name=family)])
    with sessions() as session:
        bounds = split_points(session, parts)
        later = split_points(session, 2, after=bounds[1])

    walked = [
        Recompute(sessions, keyring, _config(), chunk=2).run(after=after, until=until).users
        for after, until in itertools.pairwise(bounds)
    ]
    # As many ranges as asked (or users), none empty, and no user in two (or none).
    assert len(walked) == min(parts, 5) and all(walked)
    assert sum(walked) == 5
    assert later[0] == bounds[1] and later[-1] is None


def test_parallel_ranges_add_up_and_a_failing_worker_fails_the_pass(
    migrated: Engine, fresh_database: str, tmp_path: Path
) -> None:
    settings = settings_for(fresh_database, tmp_path)
    sessions = sessionmaker(migrated, expire_on_commit=False)
    keyring = load_keyring(sessions, LocalKeyFileProvider(settings.key_file_path))
    _users_of_two_anas(sessions, keyring)
    with sessions() as session:
        bounds = split_points(session, 2)
    options = PassOptions(merge=False, dry_run=False, chunk=1)
    seen: list[RecomputeProgress] = []

    done = recompute_in_workers(settings, bounds, options, seen.append)

    assert (done.users, done.proposed) == (2, 1)  # one user per range; the pair found once
    assert seen[-1] == done
    missing = make_url(fresh_database).set(database="no_such_database")
    gone = settings_for(missing.render_as_string(hide_password=False), tmp_path)
    with pytest.raises(RecomputeWorkerError, match="no_such_database"):
        recompute_in_workers(gone, bounds, options, seen.append)


def test_a_link_held_back_while_the_store_was_young_is_made_once_it_settled(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # The same given name and phone, nothing else that identifies a person: one person if the
    # name is rare. Two identities in the store cannot tell (two holders of 1,000 identities by
    # the floor, but for all two can say, as common as any name): ingestion queues the pair.
    lorenza = {"given_name": "Lorenza", "family_name": "Gil"}
    ingest = IngestService(sessions, keyring, _config())
    (first,) = ingest.ingest([signal("C-1", phone="+34 612 345 678", **lorenza)])
    (second,) = ingest.ingest([signal("S-1", source="support", phone="612345678", **lorenza)])
    assert second.status is Status.REVIEW and second.user_id != first.user_id
    with sessions() as session:
        ((_a, _b, status, _risk, explanation),) = _items(session)
        assert status == "open" and explanation["reasons"] == ["only the names agree"]
        given = next(f for f in explanation["fields"] if f["field"] == "given_name")
        assert given["cautious_weight"] < given["weight"]

    # The pass judges the store as it settled, on the share itself: the link is made, as it
    # would have been had the two arrived late in a load, in any order.
    done = Recompute(sessions, keyring, _config(), merge=True).run()

    assert done.merged == 1
    with sessions() as session:
        assert _live_users(session) == {first.user_id}
