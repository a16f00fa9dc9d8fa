"""`mds review list|show|decide` against a real database, in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import run

GOV = {"type": "national_id", "country": "ES"}
PERSON = {
    "given_name": "Ana",
    "family_name": "García",
    "email": "ana@example.com",
    "date_of_birth": "1990-04-01",
}


def _signal(record: str, gov_value: str) -> dict[str, object]:
    return {
        "event_id": f"e-{record}",
        "source_system": "crm",
        "source_record_id": record,
        "event_type": "crm_import",
        "occurred_at": "2026-11-02T10:00:00Z",
        "attributes": {**PERSON, "government_id": {**GOV, "value": gov_value}},
    }


def test_a_steward_decides_a_high_risk_item_from_the_terminal(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    signals = tmp_path / "signals.jsonl"
    lines = [_signal("C-1", "12345678Z"), _signal("C-2", "87654321X")]
    signals.write_text("\n".join(json.dumps(s) for s in lines) + "\n")
    imported = run(cli_env, "import", str(signals))
    assert imported.returncode == 0, imported.stderr

    listed = run(cli_env, "review", "list", "--risk", "high")
    assert listed.returncode == 0, listed.stderr
    exported = run(cli_env, "export", "duplicates")
    [item] = [json.loads(line) for line in exported.stdout.splitlines()]
    assert item["id"][:8] in listed.stdout

    shown = run(cli_env, "review", "show", item["id"])
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["users"]["user_a"]["profile"]["given_name"] == "Ana"

    refused = run(cli_env, "review", "decide", item["id"], "merge", "--reason", "same")
    assert refused.returncode == 1 and "confirm" in refused.stderr
    decided = run(cli_env, "review", "decide", item["id"], "merge", "--reason", "same", "--confirm")
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout)["item"]["status"] == "merged"
    assert run(cli_env, "export", "duplicates").stdout == ""
