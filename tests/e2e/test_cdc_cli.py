"""`mds cdc …` as an operator runs it: config, register and status against a Kafka Connect REST
stand-in (Kafka Connect is not run locally; the stand-in answers as its REST API documents),
setup and teardown against the real database."""

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from tests.e2e.test_cli import run

TCP_URL = "postgresql://mds:s3cret-pw@db.internal:6543/mds"


class FakeConnect(ThreadingHTTPServer):
    """Kafka Connect's `PUT /connectors/{name}/config`, `GET /connectors/{name}/status` and
    `DELETE /connectors/{name}`, answering as its REST API does."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.configs: dict[str, dict[str, Any]] = {}
        self.puts = 0
        self.task_state = "RUNNING"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeConnect

    def log_message(self, *_args: object) -> None:  # keep test output clean
        pass

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _name(self, suffix: str) -> str | None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "connectors" and parts[2] == suffix:
            return parts[1]
        return None

    def do_PUT(self) -> None:
        name = self._name("config")
        if name is None:
            self._answer(404, {"error_code": 404, "message": "Unknown endpoint"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        created = name not in self.server.configs
        self.server.configs[name] = body
        self.server.puts += 1
        self._answer(201 if created else 200, {"name": name, "config": body, "type": "source"})

    def do_DELETE(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or self.server.configs.pop(parts[1], None) is None:
            self._answer(404, {"error_code": 404, "message": f"Connector {parts[-1]} not found"})
            return
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        name = self._name("status")
        if name is None or name not in self.server.configs:
            self._answer(404, {"error_code": 404, "message": f"No status found for {name}"})
            return
        task: dict[str, Any] = {"id": 0, "state": self.server.task_state, "worker_id": "w1:8083"}
        if self.server.task_state == "FAILED":
            task["trace"] = "org.apache.kafka.connect.errors.ConnectException: slot in use\n\tat"
        connector = {"state": "RUNNING", "worker_id": "w1:8083"}
        self._answer(200, {"name": name, "connector": connector, "tasks": [task]})


@pytest.fixture
def connect() -> Iterator[FakeConnect]:
    server = FakeConnect()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(cli_env: dict[str, str], connect: FakeConnect) -> dict[str, str]:
    """A TCP DATABASE_URL (config and register never connect to it) and the stand-in."""
    return {
        **cli_env,
        "DATABASE_URL": TCP_URL,
        "DEBEZIUM_CONNECT_URL": connect.url,
        "MDS_OUTBOX_MODE": "debezium",
    }


def test_config_prints_the_connector_without_the_password(env: dict[str, str]) -> None:
    result = run(env, "cdc", "config")
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)
    assert spec["name"] == "mds-outbox"
    config = spec["config"]
    assert config["plugin.name"] == "pgoutput"
    assert config["publication.name"] == "mds_outbox_pub"
    assert config["transforms.outbox.route.topic.replacement"] == "mds.user"
    assert config["database.password"] == "${file:/secrets/mds.properties:password}"
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert result.stderr == ""  # debezium mode, JSON: nothing to warn about

    shown = run(env, "cdc", "config", "--show-secrets")
    assert json.loads(shown.stdout)["config"]["database.password"] == "s3cret-pw"


def test_config_warns_in_relay_mode(env: dict[str, str]) -> None:
    result = run({**env, "MDS_OUTBOX_MODE": "relay"}, "cdc", "config")
    assert result.returncode == 0, result.stderr
    assert "MDS_OUTBOX_MODE is relay" in result.stderr
    json.loads(result.stdout)  # stdout stays pure JSON


def test_config_refuses_a_unix_socket_unless_given_a_host(cli_env: dict[str, str]) -> None:
    refused = run(cli_env, "cdc", "config")  # the test server's URL is a Unix socket
    assert refused.returncode == 2
    assert "Unix socket" in refused.stderr
    assert "--database-host" in refused.stderr
    given = run(
        cli_env, "cdc", "config", "--database-host", "pg.internal", "--database-user", "cdc"
    )
    assert given.returncode == 0, given.stderr
    config = json.loads(given.stdout)["config"]
    assert (config["database.hostname"], config["database.user"]) == ("pg.internal", "cdc")


def test_register_creates_then_updates_and_status_reports(
    env: dict[str, str], connect: FakeConnect
) -> None:
    first = run(env, "cdc", "register")
    assert first.returncode == 0, first.stderr
    assert f"created connector mds-outbox at {connect.url}" in first.stdout
    printed = json.loads(run(env, "cdc", "config").stdout)
    assert connect.configs["mds-outbox"] == printed["config"]
    assert "s3cret-pw" not in json.dumps(connect.configs)

    second = run(env, "cdc", "register")
    assert second.returncode == 0, second.stderr
    assert "updated connector mds-outbox" in second.stdout
    assert connect.puts == 2

    healthy = run(env, "cdc", "status")
    assert healthy.returncode == 0, healthy.stderr
    assert "connector mds-outbox: RUNNING" in healthy.stdout
    assert "task 0: RUNNING" in healthy.stdout

    connect.task_state = "FAILED"
    failed = run(env, "cdc", "status")
    assert failed.returncode == 1
    assert "task 0: FAILED" in failed.stdout
    assert "slot in use" in failed.stdout

    removed = run(env, "cdc", "unregister")
    assert removed.returncode == 0, removed.stderr
    assert f"deleted connector mds-outbox at {connect.url}" in removed.stdout
    assert connect.configs == {}
    assert "no connector mds-outbox" in run(env, "cdc", "unregister").stdout


def test_status_of_an_unknown_connector_names_the_url(
    env: dict[str, str], connect: FakeConnect
) -> None:
    result = run(env, "cdc", "status")
    assert result.returncode == 1
    assert f"not registered at {connect.url}" in result.stderr
    assert "404" in result.stderr


def test_register_without_a_connect_url_names_the_variable(env: dict[str, str]) -> None:
    result = run({**env, "DEBEZIUM_CONNECT_URL": ""}, "cdc", "register")
    assert result.returncode == 2
    assert "DEBEZIUM_CONNECT_URL" in result.stderr


def test_setup_then_teardown_on_the_database(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "db", "upgrade").returncode == 0
    slot = f"mds_e2e_{uuid.uuid4().hex[:12]}"  # slots are server-wide: one of its own
    env = {**cli_env, "MDS_CDC_SLOT_NAME": slot}
    try:
        first = run(env, "cdc", "setup", "--create-slot")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "publication mds_outbox_pub (public.outbox, inserts only): created" in first.stdout
        assert f"slot {slot} (pgoutput): created" in first.stdout
        assert "wal_level = logical" in first.stdout
        assert "max_slot_wal_keep_size" in first.stdout
        again = run(env, "cdc", "setup", "--create-slot")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "inserts only): unchanged" in again.stdout
        assert f"slot {slot} (pgoutput): exists" in again.stdout
    finally:
        down = run(env, "cdc", "teardown")
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"slot {slot}: dropped; publication mds_outbox_pub: dropped" in down.stdout
    with psycopg.connect(cli_env["DATABASE_URL"]) as conn:
        slots = conn.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        )
        assert slots.fetchone() == (0,)
