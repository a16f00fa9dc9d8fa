"""The `mds` command line: one module per command group, imported when its command runs.

Importing every command module up front took about a second before any command started (the
API, Kafka and Alembic among them); `mds token issue` or `mds review list` need few of them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from mds.cli.common import cli_console
from mds.config import SettingsError
from mds.security.errors import SecurityError

# Each command: the module that defines it and its attribute there, a command function or a
# Typer group. In this order in `mds --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("mds.cli.serve", "serve"),
    "import": ("mds.cli.imports", "import_signals"),
    "relay": ("mds.cli.streaming", "relay"),
    "worker": ("mds.cli.streaming", "worker"),
    "recompute": ("mds.cli.recompute", "recompute"),
    "export": ("mds.cli.export", "app"),
    "model": ("mds.cli.model", "app"),
    "db": ("mds.cli.db", "app"),
    "keys": ("mds.cli.keys", "app"),
    "token": ("mds.cli.token", "app"),
    "review": ("mds.cli.review", "app"),
    "cdc": ("mds.cli.cdc", "app"),
    "audit": ("mds.cli.audit", "app"),
    "retention": ("mds.cli.audit", "retention_app"),
}


class _LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        # Registered on a Typer of its own, as it would be on the main one, and taken back as
        # the command Typer makes of it (a group's help, options and subcommands included).
        holder = typer.Typer()
        holder.callback()(_nothing)  # a group, even with one command
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=cmd_name)
        else:
            holder.command(cmd_name)(target)
        return typer.main.get_group(holder).get_command(ctx, cmd_name)


def _nothing() -> None:
    pass


app = typer.Typer(
    cls=_LazyGroup,
    name="mds",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Master Data Service: the canonical record of every Meetinity user."""


_stderr = cli_console(stderr=True)


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        _stderr.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except SecurityError as exc:
        _stderr.print(f"[red]error:[/red] {exc}")
        sys.exit(3)
