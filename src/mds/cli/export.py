"""`mds export …`: JSONL on standard output, streamed in pages."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from mds.cli.common import cli_runtime
from mds.store.models import CanonicalProfile, CanonicalUser, PotentialDuplicate, SourceIdentity
from mds.store.users import decrypt_profile

app = typer.Typer(help="Export identities, review items or golden records as JSONL.")
PAGE = 2_000


def _write(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")


@app.command()
def identities() -> None:
    """{source_system, source_record_id, user_id} for every linked source identity."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        rows = session.execute(
            select(
                SourceIdentity.source_system,
                SourceIdentity.source_record_id,
                SourceIdentity.user_id,
            )
            .where(SourceIdentity.user_id.is_not(None))
            .order_by(SourceIdentity.source_system, SourceIdentity.source_record_id)
            .execution_options(yield_per=PAGE)
        )
        for system, record_id, user_id in rows:
            _write({"source_system": system, "source_record_id": record_id, "user_id": user_id})


@app.command()
def duplicates(
    status: Annotated[str, typer.Option(help="open, merged, rejected, stale or all")] = "open",
) -> None:
    """{id, user_a, user_b, score, risk, status} of review items (open ones by default)."""
    with cli_runtime() as runtime:
        query = select(PotentialDuplicate).order_by(PotentialDuplicate.created_at)
        if status != "all":
            query = query.where(PotentialDuplicate.status == status)
        with runtime.sessions() as session:
            for item in session.scalars(query.execution_options(yield_per=PAGE)):
                _write(
                    {
                        "id": item.id,
                        "user_a": item.user_a,
                        "user_b": item.user_b,
                        "score": item.score,
                        "risk": item.risk,
                        "status": item.status,
                    }
                )


@app.command()
def users(
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Also merged and erased users")
    ] = False,
) -> None:
    """Golden records: {user_id, status, version, given_name, …} (decrypted: PII)."""
    with cli_runtime() as runtime:
        query = (
            select(CanonicalUser, CanonicalProfile)
            .join(CanonicalProfile, CanonicalProfile.user_id == CanonicalUser.id)
            .order_by(CanonicalUser.id)
        )
        if not include_inactive:
            query = query.where(CanonicalUser.status == "active")
        with runtime.sessions() as session:
            for user, profile in session.execute(query.execution_options(yield_per=PAGE)):
                golden = decrypt_profile(runtime.keyring, profile)
                _write(
                    {
                        "user_id": user.id,
                        "status": user.status,
                        "version": user.version,
                        "merged_into": user.merged_into,
                        **golden.as_dict(),
                    }
                )


@app.command()
def issues() -> None:
    """Data-quality issues: {source_system, source_record_id, user_id, issues} per identity."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        rows = session.execute(
            select(
                SourceIdentity.source_system,
                SourceIdentity.source_record_id,
                SourceIdentity.user_id,
                SourceIdentity.quality_issues,
            )
            .where(func.jsonb_array_length(SourceIdentity.quality_issues) > 0)
            .order_by(SourceIdentity.source_system, SourceIdentity.source_record_id)
            .execution_options(yield_per=PAGE)
        )
        for system, record_id, user_id, found in rows:
            _write(
                {
                    "source_system": system,
                    "source_record_id": record_id,
                    "user_id": user_id,
                    "issues": found,
                }
            )
