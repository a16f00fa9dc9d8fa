"""`mds export …`: JSONL on standard output, streamed in pages."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from sqlalchemy import Select, func, select

from mds.cli.common import cli_runtime
from mds.domain.profile import PII_ATTRIBUTES
from mds.store.models import (
    LIVE_STATUSES,
    CanonicalProfile,
    CanonicalUser,
    PotentialDuplicate,
    SourceIdentity,
)
from mds.store.users import decrypt_profile

app = typer.Typer(help="Export identities, review items or golden records as JSONL.")
PAGE = 2_000


def _write(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")


def _stream(query: Select[*tuple[Any, ...]]) -> None:
    """One JSON object per row, keyed by the selected columns' names."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        for row in session.execute(query.execution_options(yield_per=PAGE)):
            _write(dict(row._mapping))


_SOURCE = (SourceIdentity.source_system, SourceIdentity.source_record_id, SourceIdentity.user_id)
_BY_SOURCE = (SourceIdentity.source_system, SourceIdentity.source_record_id)


@app.command()
def identities() -> None:
    """{source_system, source_record_id, user_id} for every linked source identity."""
    _stream(select(*_SOURCE).where(SourceIdentity.user_id.is_not(None)).order_by(*_BY_SOURCE))


@app.command()
def duplicates(
    status: Annotated[str, typer.Option(help="open, merged, rejected, stale or all")] = "open",
) -> None:
    """{id, user_a, user_b, score, risk, status} of review items (open ones by default)."""
    d = PotentialDuplicate
    query = select(d.id, d.user_a, d.user_b, d.score, d.risk, d.status).order_by(d.created_at)
    _stream(query if status == "all" else query.where(d.status == status))


@app.command()
def users(
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Also merged and erased users")
    ] = False,
) -> None:
    """Golden records of live users, active or suspended: {user_id, status, version,
    given_name, …} (decrypted: PII)."""
    u, p = CanonicalUser, CanonicalProfile
    # Plain rows, not ORM objects: two entities per user cost about 7% of a 1M-user export.
    query = (
        select(u.status, u.version, u.merged_into, p.user_id, p.locale, p.preferences)
        .add_columns(*(getattr(p, f"{name}_enc") for name in PII_ATTRIBUTES))
        .join(p, p.user_id == u.id)
        .order_by(u.id)
    )
    if not include_inactive:
        query = query.where(u.status.in_(LIVE_STATUSES))
    with cli_runtime() as runtime, runtime.sessions() as session:
        for row in session.execute(query.execution_options(yield_per=PAGE)):
            golden = decrypt_profile(runtime.keyring, row)
            _write(
                {
                    "user_id": row.user_id,
                    "status": row.status,
                    "version": row.version,
                    "merged_into": row.merged_into,
                    **golden.as_dict(),
                }
            )


@app.command()
def issues() -> None:
    """Data-quality issues: {source_system, source_record_id, user_id, issues} per identity."""
    _stream(
        select(*_SOURCE, SourceIdentity.quality_issues.label("issues"))
        .where(func.jsonb_array_length(SourceIdentity.quality_issues) > 0)
        .order_by(*_BY_SOURCE)
    )
