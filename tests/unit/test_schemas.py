"""Every schema kept in `schemas/` is backward compatible with its previous version, and the
check itself catches an incompatible change."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import pytest

from mds.streaming.serialization import SCHEMAS_DIR, backward_incompatibilities, load_schema

SCHEMA_NAMES = sorted(p.name for p in SCHEMAS_DIR.iterdir() if p.is_dir())


def _versions(name: str) -> list[Path]:
    return sorted((SCHEMAS_DIR / name).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))


def test_the_repository_holds_the_event_and_signal_schemas() -> None:
    assert {"user_event", "signal"} <= set(SCHEMA_NAMES)
    for name in SCHEMA_NAMES:
        numbers = [int(p.stem[1:]) for p in _versions(name)]
        assert numbers == list(range(1, len(numbers) + 1)), f"{name}: versions must be v1..vN"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_each_version_reads_what_the_previous_one_wrote(name: str) -> None:
    versions = [json.loads(p.read_text()) for p in _versions(name)]
    for old, new in itertools.pairwise(versions):
        assert backward_incompatibilities(old, new) == []
    # A version also reads its own data (the schema is valid and self-consistent).
    assert backward_incompatibilities(versions[-1], versions[-1]) == []


def test_a_new_required_field_is_caught_as_incompatible() -> None:
    old = load_schema("user_event")
    new = copy.deepcopy(old)
    new["fields"].append({"name": "tenant", "type": "string"})  # no default: old data lacks it
    assert backward_incompatibilities(old, new)
    with_default = copy.deepcopy(old)
    with_default["fields"].append({"name": "tenant", "type": "string", "default": "meetinity"})
    assert backward_incompatibilities(old, with_default) == []
