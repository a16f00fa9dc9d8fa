"""Versioned matching parameters: the active model and the history of trained ones."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mds.matching.parameters import DEFAULT_PARAMETERS, ModelParameters
from mds.store.models import MatchModel


def active(session: Session) -> ModelParameters:
    """The active model, or the built-in defaults (version 0) before any training."""
    row = session.scalars(select(MatchModel).where(MatchModel.is_active)).one_or_none()
    if row is None:
        return DEFAULT_PARAMETERS
    return ModelParameters.from_json(row.version, row.parameters)


def add(
    session: Session, parameters: ModelParameters, description: str, *, activate: bool = True
) -> int:
    """Store parameters as the next version; optionally make it the active one."""
    session.execute(select(func.pg_advisory_xact_lock(0x4D44_535F_4D4F_444C)))
    version = (session.scalar(select(func.max(MatchModel.version))) or 0) + 1
    if activate:
        session.execute(update(MatchModel).where(MatchModel.is_active).values(is_active=False))
    session.add(
        MatchModel(
            version=version,
            parameters=parameters.to_json(),
            description=description,
            is_active=activate,
        )
    )
    session.flush()
    return version
