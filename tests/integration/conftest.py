"""Fixtures shared by integration tests that must really commit."""

from pathlib import Path

import pytest
from sqlalchemy import Engine

from mds.store import migrate
from tests.integration.helpers import settings_for


@pytest.fixture
def migrated(fresh_engine: Engine, fresh_database: str, tmp_path: Path) -> Engine:
    """An empty database of this test's own, migrated to head."""
    migrate.upgrade(fresh_engine, settings_for(fresh_database, tmp_path))
    return fresh_engine
