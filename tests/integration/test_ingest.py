import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.services.resolution.outcomes import Status
from mds.store import users
from mds.store.models import (
    AttributeLineage,
    AuditLog,
    CanonicalUser,
    MergeEvent,
    Outbox,
    PotentialDuplicate,
    Signal,
    SourceIdentity,
)
from mds.store.outbox import render
from mds.store.source_identities import get_attributes
from tests.integration.ingest_helpers import ANA, bridged_users, service, signal


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def counts(session: Session) -> dict[str, int]:
    models = [CanonicalUser, SourceIdentity, Signal, Outbox, AuditLog, AttributeLineage]
    return {m.__tablename__: count(session, m) for m in models}


def test_a_new_person_becomes_a_user_with_lineage_event_and_audit(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    [outcome] = service(sessions, keyring).ingest([signal("C-1", **ANA)])
    assert outcome.status is Status.CREATED
    assert outcome.user_id is not None
    with sessions() as session:
        record = users.get_user(session, keyring, outcome.user_id)
        assert record is not None
        assert record.profile.email == "ana.garcia@example.com"
        assert record.profile.phone == "+34612345678"
        lineage = session.scalars(
            select(AttributeLineage).where(AttributeLineage.user_id == outcome.user_id)
        ).all()
        assert {row.attribute for row in lineage} == set(ANA)
        assert {row.rule for row in lineage} == {"only_source"}
        [event] = session.scalars(
            select(Outbox).where(Outbox.aggregateid == str(outcome.user_id))
        ).all()
        assert event.type == "user.created"
        assert "Ana" not in str(event.payload), "PII is encrypted inside the outbox row"
        published = render(event.payload, keyring)
        assert published["profile"]["given_name"] == "Ana"
        assert published["version"] == 1
        actions = session.scalars(select(AuditLog.action)).all()
        assert "signal.resolved" in actions


def test_new_users_and_identities_get_ids_that_grow_with_time(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring).ingest
    [first] = ingest([signal("C-1", **ANA)])
    [second] = ingest([signal("C-2", given_name="Bea", family_name="Ruiz", email="b@x.es")])
    assert first.user_id is not None and second.user_id is not None
    assert first.user_id.version == second.user_id.version == 7
    assert first.user_id.bytes < second.user_id.bytes
    with sessions() as session:
        identity_ids = session.scalars(select(SourceIdentity.id)).all()
    assert {i.version for i in identity_ids} == {7}


def test_resending_a_signal_changes_nothing(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    first = signal("C-1", event_id="same-event", **ANA)
    [created] = ingest.ingest([first])
    with sessions() as session:
        before = counts(session)
    [again, again_in_batch] = ingest.ingest([first, first])
    assert again.status is Status.DUPLICATE and again_in_batch.status is Status.DUPLICATE
    assert again.user_id == again_in_batch.user_id == created.user_id
    assert again.score == created.score
    with sessions() as session:
        assert counts(session) == before


def test_a_signal_repeated_within_its_batch_answers_with_the_first_ones_user(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    first = signal("C-1", event_id="twice", **ANA)
    [created, repeated] = service(sessions, keyring).ingest([first, first])
    assert created.status is Status.CREATED and repeated.status is Status.DUPLICATE
    assert repeated.user_id == created.user_id is not None


def test_a_repeated_signal_answers_with_the_user_its_user_was_merged_into(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    ana = {"given_name": "Ana", "family_name": "García"}
    by_phone = {"phone": "612345678", "date_of_birth": "1990-04-01"}
    phoned = signal("S-1", source="signup", **ana, **by_phone)
    [a] = ingest.ingest([signal("C-1", **ana, email="a@x.com")])
    [b] = ingest.ingest([phoned])
    [bridge] = ingest.ingest([signal("T-1", source="support", **ana, email="a@x.com", **by_phone)])
    assert bridge.user_id == a.user_id != b.user_id, "the older user survives"
    [again] = ingest.ingest([phoned])
    assert again.status is Status.DUPLICATE
    assert again.user_id == a.user_id


def test_every_decision_keeps_its_explanation_in_the_audit_trail(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    [created] = ingest.ingest([signal("C-1", **ANA)])
    [linked] = ingest.ingest([signal("S-1", source="signup", **{**ANA, "given_name": "Anna"})])
    assert created.status is Status.CREATED and linked.status is Status.LINKED
    with sessions() as session:
        details = {
            row.details["event_id"]: row.details
            for row in session.scalars(select(AuditLog).where(AuditLog.action == "signal.resolved"))
        }
    assert "explanation" not in details[created.event_id], "nothing to compare with"
    explanation = details[linked.event_id]["explanation"]
    assert explanation["model_version"] == details[linked.event_id]["model_version"]
    assert explanation["probability"] == pytest.approx(linked.score, abs=1e-6)
    levels = {field: level for field, (level, _weight) in explanation["fields"].items()}
    assert levels["email"] == "exact" and levels["given_name"] != "exact"
    assert "government_id" not in levels, "neither side has one: nothing compared"
    assert "Ana" not in str(explanation), "levels and weights only, no values"


def test_a_late_signal_never_overwrites_a_newer_value(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    [new] = ingest.ingest([signal("C-1", at="2026-11-05T00:00:00Z", **ANA)])
    [late] = ingest.ingest(
        [signal("C-1", at="2026-10-01T00:00:00Z", email="old@example.com", locale="es-ES")]
    )
    assert late.user_id == new.user_id
    with sessions() as session:
        record = users.get_user(session, keyring, new.user_id)  # type: ignore[arg-type]
    assert record is not None
    assert record.profile.email == "ana.garcia@example.com"  # the newer value stays
    assert record.profile.locale == "es-ES"  # a value nobody newer had is taken


def test_signals_in_one_batch_that_match_each_other_become_one_user(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    outcomes = service(sessions, keyring).ingest(
        [
            signal("S-1", source="signup", **ANA),
            signal("C-9", source="crm", **{**ANA, "given_name": "Anna"}),
            signal("T-3", source="support", email="ana.garcia@example.com", given_name="Ana"),
        ]
    )
    assert len({o.user_id for o in outcomes}) == 1
    assert [o.status for o in outcomes] == [Status.CREATED, Status.LINKED, Status.LINKED]


def test_invalid_values_are_kept_raw_reported_and_left_out_of_the_golden_record(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    [outcome] = service(sessions, keyring).ingest(
        [signal("C-1", given_name="Zoe", date_of_birth="1990-13-01", phone="12")]
    )
    assert outcome.status is Status.CREATED
    assert {i["attribute"] for i in outcome.issues} == {"date_of_birth", "phone"}
    with sessions() as session:
        identity = session.scalars(select(SourceIdentity)).one()
        assert {i["code"] for i in identity.quality_issues} == {"invalid_date", "invalid_phone"}
        assert get_attributes(session, keyring, identity.id)["date_of_birth"] == "1990-13-01"
        record = users.get_user(session, keyring, outcome.user_id)  # type: ignore[arg-type]
    assert record is not None
    assert record.profile.date_of_birth is None and record.profile.phone is None
    assert record.profile.given_name == "Zoe"


def test_a_phone_no_plan_lists_stays_out_of_the_golden_record_but_is_compared(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    robert = {"given_name": "Robert", "family_name": "Miller"}
    ingest = service(sessions, keyring)
    [first] = ingest.ingest([signal("C-1", phone="+44 7631 669032", **robert)])  # a pager range
    [second] = ingest.ingest([signal("S-1", source="support", phone="+447631669032", **robert)])
    assert {i["code"] for i in first.issues} == {"invalid_phone"}
    with sessions() as session:
        record = users.get_user(session, keyring, first.user_id)  # type: ignore[arg-type]
        assert record is not None and record.profile.phone is None
        # A shared phone and a common name: a question for a steward, with the phone agreeing.
        item = session.scalars(select(PotentialDuplicate)).one()
    assert {item.user_a, item.user_b} == {first.user_id, second.user_id}
    levels = {f["field"]: f["level"] for f in item.explanation["fields"]}
    assert levels["phone"] == "exact"


def test_different_valid_government_ids_go_to_high_risk_review(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    gov = {"type": "national_id", "country": "ES"}
    [first] = ingest.ingest([signal("C-1", **ANA, government_id={**gov, "value": "12345678Z"})])
    [second] = ingest.ingest([signal("C-2", **ANA, government_id={**gov, "value": "87654321X"})])
    [typo] = ingest.ingest([signal("C-3", **ANA, government_id={**gov, "value": "12345687Z"})])
    assert second.status is Status.REVIEW and second.user_id != first.user_id
    assert typo.status is Status.LINKED and typo.user_id == first.user_id
    with sessions() as session:
        [item] = session.scalars(select(PotentialDuplicate)).all()
    assert item.risk == "high"
    assert {item.user_a, item.user_b} == {first.user_id, second.user_id}
    assert "different valid government ids" in " ".join(item.explanation["reasons"])
    assert item.explanation["fields"], "the per-field explanation is stored with the item"


def test_a_signal_that_links_two_users_merges_them(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    a, b, bridge = bridged_users(service(sessions, keyring))
    assert a.user_id != b.user_id
    assert bridge.status is Status.LINKED
    with sessions() as session:
        survivors = session.scalars(
            select(CanonicalUser).where(CanonicalUser.id.in_([a.user_id, b.user_id]))
        ).all()
        statuses = {u.id: (u.status, u.merged_into) for u in survivors}
        merge = session.scalars(select(MergeEvent)).one()
        linked_users = set(session.scalars(select(SourceIdentity.user_id)).all())
    assert statuses[a.user_id] == ("active", None)  # the older user survives
    assert statuses[b.user_id] == ("merged", a.user_id)
    assert (merge.survivor_id, merge.merged_id) == (a.user_id, b.user_id)
    assert merge.snapshot_enc is not None
    assert linked_users == {a.user_id}
    assert bridge.user_id == a.user_id


def test_survivorship_prefers_trusted_names_and_recent_contacts(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    [crm] = ingest.ingest([signal("C-1", source="crm", at="2026-01-01T00:00:00Z", **ANA)])
    ingest.ingest(
        [signal("S-1", source="signup", at="2026-06-01T00:00:00Z",
                **{**ANA, "given_name": "Anita", "email": "ana.new@example.com"})]
    )  # fmt: skip
    with sessions() as session:
        record = users.get_user(session, keyring, crm.user_id)  # type: ignore[arg-type]
        rules = dict(
            session.execute(
                select(AttributeLineage.attribute, AttributeLineage.rule).where(
                    AttributeLineage.user_id == crm.user_id, AttributeLineage.is_current
                )
            ).all()
        )
        old_email = session.execute(
            select(AttributeLineage.rule, SourceIdentity.source_system)
            .join(SourceIdentity, SourceIdentity.id == AttributeLineage.source_identity_id)
            .where(
                AttributeLineage.user_id == crm.user_id,
                AttributeLineage.attribute == "email",
                AttributeLineage.is_current.is_(False),
            )
        ).one()
    assert record is not None
    assert record.profile.given_name == "Ana" and rules["given_name"] == "source_trust"
    assert record.profile.email == "ana.new@example.com" and rules["email"] == "most_recent"
    assert old_email == ("only_source", "crm")  # the superseded row is kept


def test_unknown_ids_in_outcomes_are_never_invented(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    outcomes = service(sessions, keyring).ingest(
        [signal(f"C-{i}", given_name=f"P{i}x") for i in range(3)]
    )
    with sessions() as session:
        ids = set(session.scalars(select(CanonicalUser.id)).all())
    assert {o.user_id for o in outcomes} <= ids
    assert all(isinstance(o.user_id, uuid.UUID) for o in outcomes)


def test_a_queued_pair_stays_queued_when_one_side_changes(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    ana = {"given_name": "Ana", "family_name": "García"}
    [a] = ingest.ingest([signal("C-1", **ana, email="ana.g@example.com")])
    [b] = ingest.ingest([signal("S-1", source="signup", **ana, email="agarcia99@mail.es")])
    assert b.status is Status.REVIEW
    # B gains an identity that shares nothing with A: only B, compared again as a whole, still
    # looks like A, so the item is renewed for B's new version instead of dropped.
    support = {"given_name": "Ana", "email": "agarcia99@mail.es", "phone": "612345678"}
    [c] = ingest.ingest([signal("T-1", source="support", **support)])
    assert c.status is Status.LINKED and c.user_id == b.user_id
    with sessions() as session:
        items = session.scalars(select(PotentialDuplicate)).all()
        version_b = session.scalar(
            select(CanonicalUser.version).where(CanonicalUser.id == b.user_id)
        )
    by_status = {i.status: i for i in items}
    assert set(by_status) == {"stale", "open"}
    renewed = by_status["open"]
    assert {renewed.user_a, renewed.user_b} == {a.user_id, b.user_id}
    held = renewed.user_a_version if renewed.user_a == b.user_id else renewed.user_b_version
    assert held == version_b


def test_one_identity_matching_cleanly_links_though_another_is_guarded(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # One person's user holds a typo'd identity (Bb) that shares the most with the incoming,
    # name-swapped record, but its given name differs; the other identity (Bob ~ Robert) links
    # cleanly, and that is enough.
    home = {
        "line1": "25 Oak Street",
        "postal_code": "LS1 1HS",
        "locality": "Leeds",
        "country": "GB",
    }
    elsewhere = {
        "line1": "73 Park Street",
        "postal_code": "LS1 3HR",
        "locality": "Leeds",
        "country": "GB",
    }
    born, email, phone = "1972-10-28", "robert.hill@example.com", "+447931401958"
    ingest = service(sessions, keyring).ingest
    [bob] = ingest(
        [
            signal(
                "C-1",
                given_name="Bob",
                family_name="Hill",
                date_of_birth=born,
                email=email,
                address=elsewhere,
            )
        ]
    )
    [bb] = ingest(
        [
            signal(
                "S-1",
                source="support",
                given_name="Bb",
                family_name="Hill",
                date_of_birth=born,
                email=email,
                phone=phone,
                address=home,
            )
        ]
    )
    assert bb.status is Status.LINKED and bb.user_id == bob.user_id
    [swapped] = ingest(
        [
            signal(
                "C-2",
                given_name="Hil",
                family_name="Robert",
                date_of_birth=born,
                phone=phone,
                address=home,
            )
        ]
    )
    assert (swapped.status, swapped.user_id) == (Status.LINKED, bob.user_id)
