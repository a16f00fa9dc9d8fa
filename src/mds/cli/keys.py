"""`mds keys …`: data-key and key-encryption-key rotation."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mds.bootstrap import make_key_provider
from mds.cli.common import cli_console, engine_for_cli, settings_for_cli
from mds.security.providers import LocalKeyFileProvider
from mds.services import keys as key_service
from mds.store import keys as key_store
from mds.store.database import make_session_factory

app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
console = cli_console()


@app.command("list")
def list_keys() -> None:
    """List data keys with their state and wrapping KEK (never the key material)."""
    settings = settings_for_cli()
    sessions = make_session_factory(engine_for_cli(settings))
    table = Table("id", "purpose", "state", "kek")
    with sessions() as session:
        for key in key_store.all_keys(session):
            table.add_row(str(key.id), key.purpose, key.state, key.kek_id)
    console.print(table)


@app.command()
def rotate(
    kek: Annotated[
        bool, typer.Option("--kek", help="Also make a new key-encryption key and re-wrap")
    ] = False,
) -> None:
    """Make a new primary data key; old keys keep decrypting what they wrote."""
    settings = settings_for_cli()
    sessions = make_session_factory(engine_for_cli(settings))
    provider = make_key_provider(settings)
    key_service.load_keyring(sessions, provider)
    if kek:
        if not isinstance(provider, LocalKeyFileProvider):  # pragma: no cover
            raise typer.BadParameter("KEK rotation here is for the local provider; use your KMS")
        new_kek = provider.add_kek()
        count = key_service.rewrap_all(sessions, provider)
        console.print(f"new key-encryption key {new_kek}; re-wrapped {count} data key(s)")
    result = key_service.rotate_data_key(sessions, provider)
    console.print(f"new primary data key {result.new_key_id} (was {result.previous_key_id})")
