"""The `mds` command line loads a command's module only when that command runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mds.cli import COMMANDS, app

HEAVY = ("sqlalchemy", "fastapi", "alembic", "confluent_kafka", "mds.bootstrap")


def modules_loaded_by(code: str) -> list[str]:
    loaded = f"[m for m in {HEAVY!r} if m in sys.modules]"
    probe = f"{code}\nimport sys, json; print(json.dumps({loaded}))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return list(json.loads(result.stdout.splitlines()[-1]))


def test_the_command_line_itself_loads_no_database_api_or_kafka_module() -> None:
    assert modules_loaded_by("import mds.cli") == []


def test_a_command_that_needs_no_database_loads_none() -> None:
    code = (
        "from typer.testing import CliRunner; from mds.cli import app\n"
        "assert CliRunner().invoke(app, ['token', '--help']).exit_code == 0"
    )
    assert modules_loaded_by(code) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_resolves_to_its_own_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"Usage: mds {name}" in result.output


def test_an_unknown_command_is_refused_with_its_name() -> None:
    result = CliRunner().invoke(app, ["merge-everything"])
    assert result.exit_code == 2
    assert "No such command 'merge-everything'" in result.output
