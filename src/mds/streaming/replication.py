"""The database side of Debezium CDC: the outbox publication, the logical slot, and advice.

The publication carries the outbox table's inserts and nothing else (`publish = 'insert'`):
every other table stays out of the stream, and neither the relay's `published_at` updates nor
Debezium mode's delete-after-insert reach the connector. `setup` converges whatever exists to
that, so it is safe to run on every deploy. The slot is optional here: Debezium creates it on
first start, but creating it first keeps every event from that moment on, which is what a
switch from the relay needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError

from mds.streaming.debezium import OUTBOX_SCHEMA, OUTBOX_TABLE

PLUGIN = "pgoutput"
OUTBOX = f"{OUTBOX_SCHEMA}.{OUTBOX_TABLE}"
_SETUP_LOCK = 0x6D64735F63646331  # "mds_cdc1": one setup at a time
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SERVER_SETTINGS = (
    "wal_level",
    "max_replication_slots",
    "max_wal_senders",
    "max_slot_wal_keep_size",
    "wal_sender_timeout",
)
_INSERTS_ONLY = (True, False, False, False)  # pubinsert, pubupdate, pubdelete, pubtruncate
_REPLICA_IDENTITY = {"d": "default", "n": "nothing", "f": "full", "i": "index"}


class ReplicationSetupError(RuntimeError):
    """The database cannot be set up for CDC as asked; the message says why."""


@dataclass(frozen=True)
class SlotState:
    name: str
    plugin: str | None
    database: str | None
    active: bool
    wal_status: str | None
    retained_bytes: int | None  # WAL kept for this slot (current LSN - restart_lsn)
    flush_lag_bytes: int | None  # not yet confirmed by the consumer (current - confirmed_flush)


@dataclass
class CdcReport:
    """What `setup` did and what the database looks like afterwards."""

    publication: str
    publication_action: str = "unchanged"  # created | updated | unchanged
    slot_created: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    slot: SlotState | None = None
    other_slots: list[SlotState] = field(default_factory=list)
    replica_identity: str = "default"
    role: str = ""
    role_can_replicate: bool = False

    @property
    def logical(self) -> bool:
        return self.settings.get("wal_level") == "logical"


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ReplicationSetupError(f"{name!r} is not a valid publication name")
    return f'"{name}"'


def ensure_publication(conn: Connection, name: str) -> str:
    """Create the publication, or bring an existing one back to inserts on the outbox only."""
    quoted = _ident(name)
    row = conn.execute(
        text(
            "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate"
            " FROM pg_publication WHERE pubname = :n"
        ),
        {"n": name},
    ).one_or_none()
    if row is None:
        conn.execute(
            text(f"CREATE PUBLICATION {quoted} FOR TABLE {OUTBOX} WITH (publish = 'insert')")
        )
        return "created"
    if row.puballtables:
        raise ReplicationSetupError(
            f"publication {name} is FOR ALL TABLES, which would stream every table:"
            f" drop it (DROP PUBLICATION {quoted}) and run setup again"
        )
    tables = conn.execute(
        text("SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = :n"),
        {"n": name},
    ).scalars()
    changed = False
    if set(tables) != {OUTBOX}:
        conn.execute(text(f"ALTER PUBLICATION {quoted} SET TABLE {OUTBOX}"))
        changed = True
    if (row.pubinsert, row.pubupdate, row.pubdelete, row.pubtruncate) != _INSERTS_ONLY:
        conn.execute(text(f"ALTER PUBLICATION {quoted} SET (publish = 'insert')"))
        changed = True
    return "updated" if changed else "unchanged"


def ensure_slot(engine: Engine, name: str) -> bool:
    """Create the logical slot with pgoutput in this database; False when it already exists."""
    # Creating a logical slot must not follow writes in its transaction: a connection of its own.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        existing = _slots(conn, name)
        if existing:
            slot = existing[0]
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            if slot.plugin != PLUGIN or slot.database != database:
                raise ReplicationSetupError(
                    f"slot {name} exists for plugin {slot.plugin} in database {slot.database};"
                    f" the connector needs {PLUGIN} in {database}: drop it or choose"
                    " another MDS_CDC_SLOT_NAME"
                )
            return False
        try:
            conn.execute(
                text("SELECT pg_create_logical_replication_slot(:n, :p)"),
                {"n": name, "p": PLUGIN},
            )
        except ProgrammingError as exc:
            if isinstance(exc.orig, psycopg.errors.DuplicateObject):
                return False  # another setup made it meanwhile
            raise
        return True


def setup(engine: Engine, publication: str, slot: str, *, create_slot: bool = False) -> CdcReport:
    """Converge the publication, optionally create the slot, and report the state."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SETUP_LOCK})
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": OUTBOX}).scalar() is None:
            raise ReplicationSetupError(f"table {OUTBOX} does not exist: run `mds db upgrade`")
        action = ensure_publication(conn, publication)
    created = False
    if create_slot:
        with engine.connect() as conn:
            level = conn.execute(text("SELECT current_setting('wal_level')")).scalar_one()
        if level != "logical":
            raise ReplicationSetupError(
                f"wal_level is {level}: a logical slot needs wal_level = logical"
                " (set it and restart PostgreSQL)"
            )
        created = ensure_slot(engine, slot)
    report = report_state(engine, publication, slot)
    report.publication_action = action
    report.slot_created = created
    return report


def teardown(engine: Engine, publication: str, slot: str) -> tuple[bool, bool]:
    """Drop the slot (it pins WAL) and the publication; (slot dropped, publication dropped)."""
    quoted = _ident(publication)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        existing = _slots(conn, slot)
        if existing and existing[0].active:
            raise ReplicationSetupError(
                f"slot {slot} is in use: delete the connector first (`mds cdc unregister`)"
            )
        if existing:
            conn.execute(text("SELECT pg_drop_replication_slot(:n)"), {"n": slot})
        had_publication = conn.execute(
            text("SELECT 1 FROM pg_publication WHERE pubname = :n"), {"n": publication}
        ).first()
        conn.execute(text(f"DROP PUBLICATION IF EXISTS {quoted}"))
    return bool(existing), had_publication is not None


def report_state(engine: Engine, publication: str, slot: str) -> CdcReport:
    """Server settings, the slots, the outbox's replica identity and the role, as they are."""
    with engine.connect() as conn:
        settings = {
            name: conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
            for name in _SERVER_SETTINGS
        }
        slots = _slots(conn)
        identity = conn.execute(
            text("SELECT relreplident FROM pg_class WHERE oid = to_regclass(:t)"), {"t": OUTBOX}
        ).scalar()
        role = conn.execute(
            text(
                "SELECT rolname, rolsuper OR rolreplication AS can FROM pg_roles"
                " WHERE rolname = current_user"
            )
        ).one()
    return CdcReport(
        publication=publication,
        settings=settings,
        slot=next((s for s in slots if s.name == slot), None),
        other_slots=[s for s in slots if s.name != slot],
        replica_identity=_REPLICA_IDENTITY.get(str(identity), str(identity)),
        role=role.rolname,
        role_can_replicate=bool(role.can),
    )


def _slots(conn: Connection, name: str | None = None) -> list[SlotState]:
    rows = conn.execute(
        text(
            "SELECT slot_name, plugin, database, active, wal_status,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag"
            " FROM pg_replication_slots"
            " WHERE slot_type = 'logical' AND (CAST(:n AS text) IS NULL OR slot_name = :n)"
            " ORDER BY slot_name"
        ),
        {"n": name},
    ).all()
    return [
        SlotState(r.slot_name, r.plugin, r.database, r.active, r.wal_status, r.retained, r.lag)
        for r in rows
    ]


def advice(report: CdcReport) -> list[str]:
    """What an operator should know or change, most important first."""
    notes: list[str] = []
    if not report.logical:
        notes.append(
            f"wal_level is {report.settings.get('wal_level')}: set wal_level = logical and restart"
            " PostgreSQL; Debezium reads the WAL through logical decoding"
        )
    keep = report.settings.get("max_slot_wal_keep_size", "-1")
    if keep == "-1":
        notes.append(
            "max_slot_wal_keep_size is unlimited: a stopped connector's slot keeps WAL until the"
            " disk fills. Set it (e.g. '50GB', sized for the longest Connect outage you accept);"
            " a slot that passes it is invalidated and events in the gap are lost, so alert long"
            " before (see the monitoring query below)"
        )
    else:
        notes.append(
            f"max_slot_wal_keep_size is {keep}: a slot further behind is invalidated and"
            " its events lost; alert well before that"
        )
    if report.slot is None:
        notes.append(
            "the slot does not exist yet: Debezium creates it on first start. Create it now"
            " (--create-slot) to keep every event from this moment, e.g. before switching"
            " MDS_OUTBOX_MODE from relay to debezium"
        )
    elif report.slot.wal_status == "lost":
        notes.append(
            f"slot {report.slot.name} is invalidated (wal_status lost): drop it and re-register"
        )
    for other in report.other_slots:
        if not other.active:
            notes.append(
                f"slot {other.name} ({other.plugin}, database {other.database}) is inactive and"
                f" holds {_size(other.retained_bytes)} of WAL: if nothing uses it,"
                f" SELECT pg_drop_replication_slot('{other.name}')"
            )
    if not report.role_can_replicate:
        notes.append(
            f"role {report.role} (DATABASE_URL's) has no REPLICATION attribute: a connector"
            " using it cannot stream"
        )
    notes.append(
        "give the connector a role of its own: CREATE ROLE mds_cdc LOGIN REPLICATION PASSWORD"
        f" '…'; GRANT SELECT ON {OUTBOX} TO mds_cdc; pass --database-user mds_cdc to"
        " `mds cdc config|register` and keep its password where MDS_CDC_PASSWORD_REF points"
    )
    notes.append(
        "monitor the slot: SELECT slot_name, active, wal_status,"
        " pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) AS lag"
        " FROM pg_replication_slots (lag should stay near zero while the connector runs)"
    )
    return notes


def _size(value: int | None) -> str:
    if value is None:
        return "no"
    units = ("B", "kB", "MB", "GB", "TB")
    size, index = float(value), 0
    while size >= 1024 and index < len(units) - 1:
        size /= 1024
        index += 1
    return f"{size:.0f} B" if index == 0 else f"{size:.1f} {units[index]}"
