"""`mds review …`: the review queue for a steward at a terminal."""

from __future__ import annotations

import getpass
import json
import uuid
from typing import Annotated

import typer
from rich.table import Table

from mds.cli.common import cli_console, cli_runtime
from mds.services.errors import ServiceError
from mds.services.query.users import find_user
from mds.services.stewardship.review_queue import Decision, QueueFilter, get_item, list_items

app = typer.Typer(help="List, show and decide review items (doubtful and high-risk pairs).")
_console = cli_console()
_errors = cli_console(stderr=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.command("list")
def list_command(
    status: Annotated[str, typer.Option(help="open, merged, rejected or stale")] = "open",
    risk: Annotated[str | None, typer.Option(help="normal or high")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Items, oldest first."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        page = list_items(session, QueueFilter(status, risk), after=None, limit=limit)
    table = Table("id", "score", "risk", "opened", "user_a", "user_b", "reasons")
    for item in page.items:
        reasons = ", ".join(item["explanation"].get("reasons", []))
        table.add_row(
            item["id"],
            f"{item['score']:.3f}",
            item["risk"],
            item["created_at"][:19],
            item["user_a"],
            item["user_b"],
            reasons,
        )
    _console.print(table)


@app.command()
def show(item_id: uuid.UUID) -> None:
    """One item with both golden records (PII: this is a steward's tool) as JSON."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        try:
            item = get_item(session, item_id)
        except ServiceError as exc:
            _errors.print(f"[red]error:[/red] {exc.detail}")
            raise typer.Exit(1) from None
        users = {}
        for side, user_id in (("user_a", item.user_a), ("user_b", item.user_b)):
            view = find_user(session, runtime.keyring, user_id)
            users[side] = view.as_dict(pii=True) if view else None
        body = {
            "id": str(item.id),
            "status": item.status,
            "risk": item.risk,
            "score": item.score,
            "explanation": item.explanation,
            "users": users,
        }
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False, default=str))


@app.command()
def decide(
    item_id: uuid.UUID,
    decision: Annotated[str, typer.Argument(help="merge or reject")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail)")],
    confirm: Annotated[bool, typer.Option(help="Needed for a high-risk item")] = False,
) -> None:
    """Merge or reject an open item (the CLI acts with the review scope)."""
    with cli_runtime() as runtime:
        try:
            result = runtime.review_queue().decide(
                item_id, Decision(decision, reason, _actor(), True, confirm)
            )
        except ServiceError as exc:
            _errors.print(f"[red]error:[/red] {exc.detail}")
            raise typer.Exit(1) from None
    if result.get("stale"):
        _errors.print("[yellow]stale:[/yellow] a user changed since the item opened; closed")
        raise typer.Exit(1)
    typer.echo(json.dumps(result, default=str))
