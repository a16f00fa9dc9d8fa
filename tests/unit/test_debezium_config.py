"""The Debezium connector config, the Kafka Connect client and the CDC advice, without I/O."""

import json
import os
import re
from typing import Any

import httpx
import pytest

from mds.config import Settings, SettingsError, load_settings
from mds.streaming.debezium import (
    DEBEZIUM_AGGREGATE_TYPE,
    HEARTBEAT_PREFIX,
    CdcConfigError,
    DatabaseEndpoint,
    connector_spec,
    raw_topic,
)
from mds.streaming.kafka_connect import ConnectorStatus, KafkaConnect, KafkaConnectError
from mds.streaming.replication import CdcReport, SlotState, advice

URL = "postgresql://mds:s3cret-pw@db.internal:6543/mds"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MDS_") or name in {"DATABASE_URL", "SCHEMA_REGISTRY_URL"}:
            monkeypatch.delenv(name, raising=False)


def _config(settings: Settings | None = None, **kwargs: Any) -> dict[str, str]:
    settings = settings or load_settings(database_url=URL)
    spec = connector_spec(settings, DatabaseEndpoint.from_url(URL), **kwargs)
    assert spec["name"] == settings.cdc_connector_name
    config: dict[str, str] = spec["config"]
    assert all(isinstance(v, str) for v in config.values())  # Connect stores strings
    return config


def test_the_connector_reads_the_outbox_through_pgoutput_and_our_publication() -> None:
    config = _config()
    assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert config["plugin.name"] == "pgoutput"
    assert config["publication.name"] == "mds_outbox_pub"
    assert config["publication.autocreate.mode"] == "disabled"  # `mds cdc setup` makes it
    assert config["slot.name"] == "mds_outbox"
    assert config["slot.drop.on.stop"] == "false"
    assert config["table.include.list"] == "public.outbox"
    assert config["snapshot.mode"] == "no_data"
    assert config["tombstones.on.delete"] == "false"
    assert int(config["heartbeat.interval.ms"]) > 0
    assert "pg_logical_emit_message" in config["heartbeat.action.query"]
    assert HEARTBEAT_PREFIX in config["heartbeat.action.query"]
    assert config["message.prefix.exclude.list"] == HEARTBEAT_PREFIX
    assert (config["database.hostname"], config["database.port"]) == ("db.internal", "6543")
    assert (config["database.dbname"], config["database.user"]) == ("mds", "mds")


def test_the_router_emits_what_the_relay_emits() -> None:
    settings = load_settings(database_url=URL)
    config = _config(settings)
    assert config["transforms"].split(",")[0] == "outbox"
    assert config["transforms.outbox.type"] == "io.debezium.transforms.outbox.EventRouter"
    # Topic: the relay's.
    assert config["transforms.outbox.route.topic.replacement"] == settings.user_topic == "mds.user"
    # Key = the user id as a plain string; header `id` = the event id, header `type`.
    assert config["transforms.outbox.table.field.event.key"] == "aggregateid"
    assert config["key.converter"] == "org.apache.kafka.connect.storage.StringConverter"
    assert config["transforms.outbox.table.field.event.id"] == "id"
    assert config["transforms.outbox.table.fields.additional.placement"] == "type:header:type"
    # Value = the payload's JSON object, schemaless, nulls and empty arrays kept.
    assert config["transforms.outbox.table.field.event.payload"] == "payload"
    assert config["transforms.outbox.table.expand.json.payload"] == "true"
    assert config["transforms.outbox.table.json.payload.null.behavior"] == "optional_bytes"
    assert config["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert config["value.converter.schemas.enable"] == "false"


def _published_topic(config: dict[str, str], topic: str, aggregatetype: str) -> str | None:
    """The transform chain as Kafka Connect runs it (Java regexes match the whole string):
    the router for outbox records, then the filter; None when the record is dropped."""
    if re.fullmatch(config["predicates.outboxTable.pattern"], topic):
        regex = config["transforms.outbox.route.topic.regex"]
        # The router names the record's topic after the route field, then rewrites what matches.
        topic = aggregatetype
        if re.fullmatch(regex, aggregatetype):
            topic = config["transforms.outbox.route.topic.replacement"]
    assert config["transforms"] == "outbox,relayRows"
    assert config["transforms.relayRows.type"] == "org.apache.kafka.connect.transforms.Filter"
    assert config["transforms.relayRows.negate"] == "true"
    kept = re.fullmatch(config["predicates.published.pattern"], topic)
    return topic if kept else None


def test_only_rows_written_for_debezium_reach_the_topic() -> None:
    settings = load_settings(database_url=URL)
    config = _config(settings)
    outbox = raw_topic(settings)
    assert _published_topic(config, outbox, DEBEZIUM_AGGREGATE_TYPE) == "mds.user"
    # The relay's rows (sealed profile) are the relay's to publish: dropped here.
    assert _published_topic(config, outbox, "user") is None
    assert _published_topic(config, outbox, "user-debezium") is None  # dots are literal
    # Heartbeats pass untouched; nothing else this connector might emit does.
    assert _published_topic(config, "__debezium-heartbeat.mds", "") == "__debezium-heartbeat.mds"
    assert _published_topic(config, "mds.message", "") is None
    assert config["topic.heartbeat.prefix"] == "__debezium-heartbeat"


def test_names_come_from_settings() -> None:
    settings = load_settings(
        database_url=URL,
        topic_prefix="prod.mds",
        cdc_connector_name="mds-outbox-eu",
        cdc_slot_name="mds_eu",
        cdc_publication="mds_eu_pub",
    )
    config = _config(settings)
    assert config["transforms.outbox.route.topic.replacement"] == "prod.mds.user"
    assert config["topic.prefix"] == "prod.mds"
    assert (config["slot.name"], config["publication.name"]) == ("mds_eu", "mds_eu_pub")
    assert _published_topic(config, "prod.mds.public.outbox", DEBEZIUM_AGGREGATE_TYPE) == (
        "prod.mds.user"
    )


def test_the_password_is_a_config_provider_reference_unless_asked() -> None:
    config = _config()
    assert config["database.password"] == "${file:/secrets/mds.properties:password}"
    assert "s3cret-pw" not in json.dumps(config)
    assert _config(show_secrets=True)["database.password"] == "s3cret-pw"
    custom = load_settings(database_url=URL, cdc_password_ref="${env:MDS_DB_PASSWORD}")
    assert _config(custom)["database.password"] == "${env:MDS_DB_PASSWORD}"


def test_the_endpoint_takes_overrides_and_keeps_sslmode() -> None:
    socket_url = "postgresql://postgres:@/mds?host=/tmp/pg"
    with pytest.raises(CdcConfigError, match="Unix socket"):
        DatabaseEndpoint.from_url(socket_url)
    endpoint = DatabaseEndpoint.from_url(socket_url, host="pg.internal", user="mds_cdc")
    assert (endpoint.host, endpoint.port, endpoint.user) == ("pg.internal", 5432, "mds_cdc")
    assert endpoint.password is None
    secure = DatabaseEndpoint.from_url("postgresql://u@h/d?sslmode=verify-full")
    spec = connector_spec(load_settings(database_url=URL), secure, show_secrets=True)
    assert spec["config"]["database.sslmode"] == "verify-full"
    assert spec["config"]["database.password"].startswith("${file:")  # no password to show
    with pytest.raises(CdcConfigError, match="no user"):
        DatabaseEndpoint.from_url("postgresql://h/d")


def test_cdc_names_are_validated_with_the_variable_named() -> None:
    with pytest.raises(SettingsError, match="MDS_CDC_SLOT_NAME"):
        load_settings(cdc_slot_name="Bad-Slot")
    with pytest.raises(SettingsError, match="MDS_OUTBOX_MODE"):
        load_settings(outbox_mode="kafka")


def _connect(handler: Any, url: str = "http://admin:hunter2@connect.test:8083/") -> KafkaConnect:
    return KafkaConnect(url, transport=httpx.MockTransport(handler))


def test_put_config_creates_then_updates_with_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201 if len(seen) == 1 else 200, json={})

    with _connect(handler) as connect:
        assert connect.url == "http://connect.test:8083"  # credentials never shown
        assert connect.put_config("mds-outbox", {"a": "b"}) is True
        assert connect.put_config("mds-outbox", {"a": "b"}) is False
    assert seen[0].method == "PUT"
    assert seen[0].url.path == "/connectors/mds-outbox/config"
    assert json.loads(seen[0].content) == {"a": "b"}
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_errors_name_the_url_and_status_without_credentials() -> None:
    def refuse(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error_code": 400, "message": "Connector config bad"})

    with _connect(refuse) as connect, pytest.raises(KafkaConnectError) as caught:
        connect.put_config("mds-outbox", {})
    message = str(caught.value)
    assert "PUT http://connect.test:8083/connectors/mds-outbox/config" in message
    assert "400 Connector config bad" in message
    assert "hunter2" not in message

    with (
        _connect(lambda _r: httpx.Response(404, json={})) as connect,
        pytest.raises(
            KafkaConnectError, match=re.escape("not registered at http://connect.test:8083")
        ),
    ):
        connect.status("mds-outbox")
    with pytest.raises(KafkaConnectError, match="http"):
        KafkaConnect("connect:8083")


def test_status_is_running_only_when_the_connector_and_every_task_run() -> None:
    body: dict[str, Any] = {
        "name": "mds-outbox",
        "connector": {"state": "RUNNING", "worker_id": "w1:8083"},
        "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w1:8083"}],
    }
    assert ConnectorStatus.from_json(body).running
    body["tasks"][0] = {"id": 0, "state": "FAILED", "worker_id": "w1", "trace": "boom\nat x"}
    failed = ConnectorStatus.from_json(body)
    assert not failed.running
    assert failed.tasks[0].trace == "boom\nat x"
    assert not ConnectorStatus.from_json({**body, "tasks": []}).running


def _slot(name: str, *, active: bool) -> SlotState:
    return SlotState(name, "pgoutput", "mds", active, "reserved", 3 * 1024**2, 0)


def test_advice_covers_wal_level_retention_and_stale_slots() -> None:
    report = CdcReport(
        publication="mds_outbox_pub",
        settings={"wal_level": "replica", "max_slot_wal_keep_size": "-1"},
        other_slots=[_slot("old_etl", active=False), _slot("busy", active=True)],
        role="mds",
        role_can_replicate=False,
    )
    notes = advice(report)
    assert notes[0].startswith("wal_level is replica")
    assert any("max_slot_wal_keep_size is unlimited" in n for n in notes)
    assert any("pg_drop_replication_slot('old_etl')" in n and "3.0 MB" in n for n in notes)
    assert not any("'busy'" in n for n in notes)
    assert any("REPLICATION" in n for n in notes)
    assert any("confirmed_flush_lsn" in n for n in notes)
    healthy = CdcReport(
        publication="p",
        settings={"wal_level": "logical", "max_slot_wal_keep_size": "50GB"},
        slot=_slot("mds_outbox", active=True),
        role="mds",
        role_can_replicate=True,
    )
    assert not any(n.startswith("wal_level") for n in advice(healthy))
    assert any("50GB" in n for n in advice(healthy))
