"""The Debezium PostgreSQL connector that publishes the outbox the way the built-in relay does.

`connector_spec` is pure: settings plus the address Kafka Connect uses for the database give the
`{"name", "config"}` document that Kafka Connect's REST API takes. The connector reads the
outbox table's inserts through the `pgoutput` plugin and a publication that MDS creates
(mds.streaming.replication); the Outbox Event Router then emits each row to the relay's topic
(`{prefix}.user`), keyed by the user id, with headers `id` and `type` and the payload as the
JSON value.

Only rows written for Debezium (MDS_OUTBOX_MODE=debezium: the event as the relay would publish
it, `aggregatetype` = DEBEZIUM_AGGREGATE_TYPE, deleted in the same transaction) are routed; the
relay's rows (sealed profile, `aggregatetype` = `user`) are dropped, because the relay publishes
them. So the connector and the relay can run side by side while MDS switches modes, and no event
is published twice or with its profile sealed (README, "Debezium CDC").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

from mds.config import Settings
from mds.store.outbox import DEBEZIUM_AGGREGATE_TYPE

CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
EVENT_ROUTER = "io.debezium.transforms.outbox.EventRouter"
_TOPIC_NAME_MATCHES = "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
OUTBOX_SCHEMA = "public"
OUTBOX_TABLE = "outbox"
HEARTBEAT_TOPIC_PREFIX = "__debezium-heartbeat"
HEARTBEAT_INTERVAL_MS = 10_000
HEARTBEAT_PREFIX = "mds-heartbeat"
# A logical decoding message moves the stream's position without writing to a table. Without
# it, a busy database with a quiet outbox never advances the slot, which pins all WAL since the
# last event. The message itself is left out of Kafka (`message.prefix.exclude.list`).
HEARTBEAT_QUERY = f"SELECT pg_logical_emit_message(false, '{HEARTBEAT_PREFIX}', now()::text)"


class CdcConfigError(ValueError):
    """The connector config cannot be built; the message says what to set."""


@dataclass(frozen=True)
class DatabaseEndpoint:
    """Where and as whom Kafka Connect reaches PostgreSQL (not necessarily how MDS does)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = None
    sslmode: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
    ) -> DatabaseEndpoint:
        """Parse a postgres URL; `host`, `port` and `user` override what it says."""
        parsed = make_url(url)
        query_host = parsed.query.get("host")
        url_host = parsed.host or (query_host if isinstance(query_host, str) else None)
        chosen_host = host or url_host
        if not chosen_host or chosen_host.startswith("/"):
            raise CdcConfigError(
                "the database URL reaches PostgreSQL through a Unix socket"
                f" ({chosen_host or 'the default socket'}); Kafka Connect needs a TCP address:"
                " set DATABASE_URL to a host:port URL or pass --database-host"
            )
        if not parsed.database:
            raise CdcConfigError("the database URL names no database")
        chosen_user = user or parsed.username
        if not chosen_user:
            raise CdcConfigError("the database URL names no user: pass --database-user")
        sslmode = parsed.query.get("sslmode")
        return cls(
            host=chosen_host,
            port=port or parsed.port or 5432,
            dbname=parsed.database,
            user=chosen_user,
            password=parsed.password or None,
            sslmode=sslmode if isinstance(sslmode, str) else None,
        )


def raw_topic(settings: Settings) -> str:
    """The topic Debezium would give the outbox table's changes before the router renames it."""
    return f"{settings.topic_prefix}.{OUTBOX_SCHEMA}.{OUTBOX_TABLE}"


def _literal(value: str) -> str:
    # Names here are [A-Za-z0-9._-]: only the dot means something in a (Java) regex.
    return value.replace(".", r"\.")


def connector_spec(
    settings: Settings, endpoint: DatabaseEndpoint, *, show_secrets: bool = False
) -> dict[str, Any]:
    """`{"name": …, "config": {…}}` for the outbox connector (all values strings, as Connect
    stores them). The password is the `MDS_CDC_PASSWORD_REF` placeholder unless `show_secrets`
    and the URL has one."""
    password = endpoint.password if show_secrets and endpoint.password else None
    config: dict[str, str] = {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": "1",  # the PostgreSQL connector always runs one task
        "database.hostname": endpoint.host,
        "database.port": str(endpoint.port),
        "database.user": endpoint.user,
        "database.password": password or settings.cdc_password_ref,
        "database.dbname": endpoint.dbname,
        "topic.prefix": settings.topic_prefix,
        # pgoutput ships with PostgreSQL; MDS creates the filtered publication itself, so the
        # connector's role needs no ownership of the table.
        "plugin.name": "pgoutput",
        "publication.name": settings.cdc_publication,
        "publication.autocreate.mode": "disabled",
        "slot.name": settings.cdc_slot_name,
        "slot.drop.on.stop": "false",
        "table.include.list": f"{OUTBOX_SCHEMA}.{OUTBOX_TABLE}",
        # Outbox rows are messages, not state: rows already in the table were published by the
        # relay (or are being), so a snapshot would only publish them again.
        "snapshot.mode": "no_data",
        "skipped.operations": "u,d,t",
        "tombstones.on.delete": "false",
        "heartbeat.interval.ms": str(HEARTBEAT_INTERVAL_MS),
        "topic.heartbeat.prefix": HEARTBEAT_TOPIC_PREFIX,
        "heartbeat.action.query": HEARTBEAT_QUERY,
        "message.prefix.exclude.list": HEARTBEAT_PREFIX,
        # The relay's wire format: key = the user id as UTF-8, value = schemaless JSON, string
        # headers as UTF-8.
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "header.converter": "org.apache.kafka.connect.storage.SimpleHeaderConverter",
        # Heartbeat records go through the transform chain too: route only the outbox's.
        "predicates": "outboxTable,published",
        "predicates.outboxTable.type": _TOPIC_NAME_MATCHES,
        "predicates.outboxTable.pattern": _literal(raw_topic(settings)),
        "predicates.published.type": _TOPIC_NAME_MATCHES,
        "predicates.published.pattern": (
            f"{_literal(settings.user_topic)}|{_literal(HEARTBEAT_TOPIC_PREFIX)}\\..*"
        ),
        "transforms": "outbox,relayRows",
        "transforms.outbox.type": EVENT_ROUTER,
        "transforms.outbox.predicate": "outboxTable",
        # The router puts the event id in header `id` by itself; `type` is added as a header.
        "transforms.outbox.table.field.event.id": "id",
        "transforms.outbox.table.field.event.key": "aggregateid",
        "transforms.outbox.table.field.event.payload": "payload",
        "transforms.outbox.table.fields.additional.placement": "type:header:type",
        # jsonb arrives as a string: expand it so the value is the JSON object itself, keeping
        # null fields (`"profile": null`) and empty arrays (`"changed": []`) as the relay does.
        "transforms.outbox.table.expand.json.payload": "true",
        "transforms.outbox.table.json.payload.null.behavior": "optional_bytes",
        "transforms.outbox.table.json.payload.empty.array.behavior": "optional_string",
        # Rows written for Debezium go to the relay's topic. Any other row keeps its
        # aggregatetype as topic name (the router leaves what the regex does not match)...
        "transforms.outbox.route.by.field": "aggregatetype",
        "transforms.outbox.route.topic.regex": _literal(DEBEZIUM_AGGREGATE_TYPE),
        "transforms.outbox.route.topic.replacement": settings.user_topic,
        # ...and is dropped here: the relay publishes those rows, with the profile unsealed.
        "transforms.relayRows.type": "org.apache.kafka.connect.transforms.Filter",
        "transforms.relayRows.predicate": "published",
        "transforms.relayRows.negate": "true",
    }
    if endpoint.sslmode:
        config["database.sslmode"] = endpoint.sslmode
    return {"name": settings.cdc_connector_name, "config": config}
