"""`mds recompute`: what a stricter past left apart, proposed or merged under today's settings."""

import json
from pathlib import Path

from tests.e2e.test_import_export import _signal, run

PERSON = {"given_name": "Ana", "family_name": "García", "date_of_birth": "1990-04-01"}


def test_recompute_proposes_then_merges_what_todays_thresholds_link(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "signals.jsonl"
    path.write_text(
        _signal(1, **PERSON, email="ana@example.com", phone="+34612345678")
        + "\n"
        + _signal(2, **PERSON, email="a.garcia@work.example", phone="+34612345678")
        + "\n"
    )
    strict = {
        **cli_env,
        "MDS_LINK_THRESHOLD": "0.9999999999999",
        "MDS_REVIEW_THRESHOLD": "0.9999999999999",
    }
    imported = run(strict, "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert "created 2" in imported.stderr  # the strict past kept them apart, without a question

    bad = run(cli_env, "recompute", "--after", "nope")
    assert bad.returncode == 2 and "--after is not a user id: 'nope'" in bad.stdout

    dry = run(cli_env, "recompute", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "compared 2 users (1 pairs): 1 review items would be opened" in dry.stdout
    assert run(cli_env, "export", "duplicates").stdout == ""

    proposed = run(cli_env, "recompute", "--workers", "2")  # a process per range of users
    assert proposed.returncode == 0, proposed.stderr
    assert "1 review items opened, 0 merges made" in proposed.stdout
    [item] = [json.loads(x) for x in run(cli_env, "export", "duplicates").stdout.splitlines()]
    assert (item["status"], item["risk"]) == ("open", "normal")

    merged = run(cli_env, "recompute", "--merge")
    assert merged.returncode == 0, merged.stderr
    assert "0 review items opened, 1 merges made" in merged.stdout
    identities = [json.loads(x) for x in run(cli_env, "export", "identities").stdout.splitlines()]
    assert len({i["user_id"] for i in identities}) == 1
    assert run(cli_env, "export", "duplicates").stdout == ""  # the item closed as stale
