"""`mds cdc …`: the Debezium connector (config, register, status) and its database side."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.exc import DBAPIError

from mds.cli.common import cli_console, engine_for_cli, settings_for_cli
from mds.config import OutboxMode, Settings, SettingsError
from mds.store.database import resolve_database_url
from mds.streaming import replication
from mds.streaming.debezium import CdcConfigError, DatabaseEndpoint, connector_spec
from mds.streaming.kafka_connect import ConnectorStatus, KafkaConnect, KafkaConnectError

app = typer.Typer(
    help="Debezium CDC: the Kafka Connect connector and the database side.",
    no_args_is_help=True,
)
# soft_wrap: long lines stay whole when the output is a pipe or a log, not a terminal.
console = cli_console(highlight=False)
err = cli_console(stderr=True, highlight=False)

DatabaseHost = Annotated[
    str | None,
    typer.Option(help="Host Kafka Connect uses for PostgreSQL (default: DATABASE_URL's)"),
]
DatabasePort = Annotated[
    int | None, typer.Option(help="Port Kafka Connect uses (default: DATABASE_URL's, or 5432)")
]
DatabaseUser = Annotated[
    str | None,
    typer.Option(help="Role the connector logs in as (default: DATABASE_URL's); needs REPLICATION"),
]


def _spec(
    settings: Settings,
    host: str | None,
    port: int | None,
    user: str | None,
    *,
    show_secrets: bool,
) -> dict[str, object]:
    # Without DATABASE_URL this is the embedded server's socket URL: only --database-host helps.
    url = settings.database_url or resolve_database_url(settings)
    try:
        endpoint = DatabaseEndpoint.from_url(url, host=host, port=port, user=user)
    except CdcConfigError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    return connector_spec(settings, endpoint, show_secrets=show_secrets)


def _warn_about_mode(settings: Settings) -> None:
    if settings.outbox_mode is not OutboxMode.DEBEZIUM:
        err.print(
            "note: MDS_OUTBOX_MODE is relay: the connector skips the relay's rows, so it"
            " publishes nothing until MDS runs with MDS_OUTBOX_MODE=debezium (the relay"
            " publishes meanwhile).",
            markup=False,
        )
    if settings.schema_registry_url:
        err.print(
            "note: SCHEMA_REGISTRY_URL is set: the relay writes Avro but the connector writes"
            " JSON; consumers would see both formats.",
            markup=False,
        )


def _connect(settings: Settings) -> KafkaConnect:
    if not settings.debezium_connect_url:
        raise SettingsError(
            "DEBEZIUM_CONNECT_URL: not set; it is the Kafka Connect REST URL"
            " (e.g. http://connect:8083)"
        )
    try:
        return KafkaConnect(settings.debezium_connect_url)
    except KafkaConnectError as exc:
        raise SettingsError(str(exc)) from None


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False)
    return typer.Exit(1)


@app.command()
def config(
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print DATABASE_URL's password, not the ref")
    ] = False,
    database_host: DatabaseHost = None,
    database_port: DatabasePort = None,
    database_user: DatabaseUser = None,
) -> None:
    """Print the connector as JSON ({"name", "config"}), ready for Kafka Connect."""
    settings = settings_for_cli()
    spec = _spec(settings, database_host, database_port, database_user, show_secrets=show_secrets)
    _warn_about_mode(settings)
    print(json.dumps(spec, indent=2))


@app.command()
def register(
    inline_password: Annotated[
        bool,
        typer.Option(
            "--inline-password",
            help="Send DATABASE_URL's password itself (Connect then stores it in plain text)",
        ),
    ] = False,
    database_host: DatabaseHost = None,
    database_port: DatabasePort = None,
    database_user: DatabaseUser = None,
) -> None:
    """Create or update the connector through DEBEZIUM_CONNECT_URL (idempotent)."""
    settings = settings_for_cli()
    spec = _spec(
        settings, database_host, database_port, database_user, show_secrets=inline_password
    )
    _warn_about_mode(settings)
    name, connector_config = settings.cdc_connector_name, spec["config"]
    assert isinstance(connector_config, dict)
    with _connect(settings) as connect:
        try:
            created = connect.put_config(name, connector_config)
        except KafkaConnectError as exc:
            raise _fail(str(exc)) from None
        console.print(
            f"{'created' if created else 'updated'} connector {name} at {connect.url};"
            f" events go to {settings.user_topic}",
            markup=False,
        )


@app.command()
def status() -> None:
    """Show the connector's and each task's state; exit 1 unless all are RUNNING."""
    settings = settings_for_cli()
    with _connect(settings) as connect:
        try:
            state = connect.status(settings.cdc_connector_name)
        except KafkaConnectError as exc:
            raise _fail(str(exc)) from None
    _print_status(state)
    if not state.running:
        raise typer.Exit(1)


@app.command()
def unregister() -> None:
    """Delete the connector from Kafka Connect (the slot stays: see `mds cdc teardown`)."""
    settings = settings_for_cli()
    name = settings.cdc_connector_name
    with _connect(settings) as connect:
        try:
            deleted = connect.delete(name)
        except KafkaConnectError as exc:
            raise _fail(str(exc)) from None
        console.print(
            f"{'deleted' if deleted else 'no'} connector {name} at {connect.url}", markup=False
        )


def _print_status(state: ConnectorStatus) -> None:
    console.print(f"connector {state.name}: {state.state} on {state.worker_id}", markup=False)
    if state.trace:
        console.print(f"  {_first_line(state.trace)}", markup=False)
    if not state.tasks:
        console.print("no tasks (the connector is not publishing)", markup=False)
    for task in state.tasks:
        console.print(f"task {task.id}: {task.state} on {task.worker_id}", markup=False)
        if task.trace:
            console.print(f"  {_first_line(task.trace)}", markup=False)


def _first_line(trace: str) -> str:
    return trace.strip().splitlines()[0] if trace.strip() else ""


@app.command()
def setup(
    create_slot: Annotated[
        bool,
        typer.Option("--create-slot", help="Also create the logical slot (pgoutput) now"),
    ] = False,
) -> None:
    """Create the outbox publication (idempotent), optionally the slot; print advice."""
    settings = settings_for_cli()
    engine = engine_for_cli(settings)
    try:
        report = replication.setup(
            engine, settings.cdc_publication, settings.cdc_slot_name, create_slot=create_slot
        )
    except replication.ReplicationSetupError as exc:
        raise _fail(str(exc)) from None
    except DBAPIError as exc:
        raise _fail(str(exc.orig).strip()) from None
    finally:
        engine.dispose()
    console.print(
        f"publication {report.publication} ({replication.OUTBOX}, inserts only):"
        f" {report.publication_action}",
        markup=False,
    )
    slot = report.slot
    if slot is not None:
        console.print(
            f"slot {slot.name} ({slot.plugin}): {'created' if report.slot_created else 'exists'},"
            f" {'active' if slot.active else 'inactive'}, wal_status {slot.wal_status},"
            f" {slot.flush_lag_bytes} bytes behind",
            markup=False,
        )
    for name, value in report.settings.items():
        console.print(f"{name} = {value}", markup=False)
    console.print(f"outbox replica identity: {report.replica_identity}", markup=False)
    for note in replication.advice(report):
        console.print(f"- {note}", markup=False)
    if not report.logical:
        raise typer.Exit(1)


@app.command()
def teardown() -> None:
    """Drop the slot (it pins WAL) and the publication; delete the connector first."""
    settings = settings_for_cli()
    engine = engine_for_cli(settings)
    try:
        slot, publication = replication.teardown(
            engine, settings.cdc_publication, settings.cdc_slot_name
        )
    except replication.ReplicationSetupError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    console.print(
        f"slot {settings.cdc_slot_name}: {'dropped' if slot else 'absent'};"
        f" publication {settings.cdc_publication}: {'dropped' if publication else 'absent'}",
        markup=False,
    )
