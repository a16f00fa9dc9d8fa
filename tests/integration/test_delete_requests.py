"""delete_request signals: what a source asks to forget is erased from its identity, the golden
record and the lineage digests, and nothing older comes back."""

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mds.security.keyring import Keyring
from mds.services.resolution.outcomes import Status
from mds.store import users
from mds.store.models import AttributeLineage, Outbox, SourceIdentity
from mds.store.source_identities import get_attributes
from tests.integration.ingest_helpers import ANA, service, signal


def test_delete_request_erases_the_source_identity(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    [kept] = ingest.ingest([signal("C-1", **ANA)])
    [other] = ingest.ingest([signal("S-1", source="signup", **ANA, locale="es-ES")])
    assert other.user_id == kept.user_id
    [erased] = ingest.ingest(
        [signal("S-1", source="signup", event_type="delete_request", at="2026-11-02T00:00:00Z")]
    )
    [stale] = ingest.ingest([signal("S-1", source="signup", at="2026-11-01T12:00:00Z", **ANA)])
    assert erased.status is Status.ERASED
    assert stale.status is Status.IGNORED
    with sessions() as session:
        row = session.scalars(
            select(SourceIdentity).where(SourceIdentity.source_record_id == "S-1")
        ).one()
        assert row.user_id is None and row.attributes_enc is None and row.erased_at is not None
        keys = session.execute(
            text("SELECT count(*) FROM match_keys WHERE source_identity_id = :i"), {"i": row.id}
        ).scalar_one()
        assert keys == 0
        record = users.get_user(session, keyring, kept.user_id)  # type: ignore[arg-type]
        digests = dict(
            session.execute(
                select(AttributeLineage.source_identity_id, func.count(AttributeLineage.id))
                .where(AttributeLineage.value_digest.is_not(None))
                .group_by(AttributeLineage.source_identity_id)
            ).all()
        )
    assert record is not None and record.profile.locale is None  # only S-1 had supplied it
    assert row.id not in digests, "no digest of what S-1 said is left to confirm a guess"
    assert digests, "the identity that remains keeps its lineage"


A_DNI = {"type": "national_id", "country": "ES", "value": "12345678Z"}


def test_a_delete_request_that_arrives_late_erases_only_what_came_before_it(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    # The source deleted its record on Nov 3 and it came back on Nov 5; the messages crossed.
    ingest = service(sessions, keyring)
    [first] = ingest.ingest(
        [signal("C-1", at="2026-11-01T00:00:00Z", **{**ANA, "locale": "es-ES"})]
    )
    [back] = ingest.ingest([signal("C-1", at="2026-11-05T00:00:00Z", email="ana.new@example.com")])
    delete = signal("C-1", event_type="delete_request", at="2026-11-03T00:00:00Z")
    [erased] = ingest.ingest([delete])
    [stale] = ingest.ingest(
        [signal("C-1", at="2026-11-02T00:00:00Z", locale="en-GB", government_id=A_DNI)]
    )
    assert erased.status is Status.ERASED and erased.user_id == first.user_id == back.user_id
    with sessions() as session:
        identity = session.scalars(select(SourceIdentity)).one()
        held = get_attributes(session, keyring, identity.id)
        record = users.get_user(session, keyring, first.user_id)  # type: ignore[arg-type]
        old_digests = session.scalar(
            select(func.count()).where(
                AttributeLineage.value_digest.is_not(None), AttributeLineage.is_current.is_(False)
            )
        )
    assert held == {"email": "ana.new@example.com"}, "what came after the request stays"
    assert record is not None and record.profile.government_id is None, "never held, still out"
    assert identity.user_id == first.user_id
    assert record is not None and record.status == "active"
    assert record.profile.email == "ana.new@example.com"
    assert record.profile.given_name is None and record.profile.locale is None
    assert stale.status is Status.LINKED, "older values stay out, held before or not"
    assert old_digests == 0


def test_erasing_the_last_identity_erases_the_user(
    sessions: sessionmaker[Session], keyring: Keyring
) -> None:
    ingest = service(sessions, keyring)
    [created] = ingest.ingest([signal("C-1", **ANA)])
    ingest.ingest([signal("C-1", event_type="delete_request", at="2026-11-03T00:00:00Z")])
    with sessions() as session:
        record = users.get_user(session, keyring, created.user_id)  # type: ignore[arg-type]
        types = session.scalars(select(Outbox.type).order_by(Outbox.seq)).all()
        payloads = session.scalars(select(Outbox.payload)).all()
        digests = session.scalar(
            select(func.count()).where(AttributeLineage.value_digest.is_not(None))
        )
    assert record is not None and record.status == "erased"
    assert record.profile.given_name is None
    assert types[-1] == "user.erased"
    assert not any("profile_enc" in p for p in payloads), "pending events lose the profile"
    assert digests == 0
