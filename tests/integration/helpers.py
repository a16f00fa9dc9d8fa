"""Small helpers shared by integration tests."""

from __future__ import annotations

from pathlib import Path

from mds.config import Settings, load_settings


def settings_for(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    return load_settings(database_url=database_url, data_dir=data_dir, **overrides)
