import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

MDS = [sys.executable, "-m", "mds"]


def run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MDS, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _signal(n: int, **attributes: object) -> str:
    return json.dumps(
        {
            "event_id": f"file-{n}",
            "source_system": "crm",
            "source_record_id": f"C-{n}",
            "event_type": "crm_import",
            "occurred_at": "2026-11-01T10:00:00Z",
            "attributes": attributes,
        }
    )


def test_import_reports_bad_lines_by_number_and_imports_the_rest(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    lines = [
        _signal(1, given_name="Ana", family_name="García", email="ana@example.com"),
        "{not json",
        _signal(3, given_name="Ana", family_name="Garcia", email="ana@example.com"),
        json.dumps({"event_id": "x", "source_system": "crm"}),
        _signal(5, given_name="Luis", family_name="Pérez", date_of_birth="1990-13-01"),
    ]
    path = tmp_path / "signals.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run(cli_env, "import", str(path))
    assert result.returncode == 1
    assert "line 2: rejected: line: invalid JSON" in result.stderr
    assert "line 4: rejected: source_record_id" in result.stderr
    assert "imported 3 signal(s)" in result.stderr

    again = run(cli_env, "import", str(path))
    assert "duplicate-ignored 3" in again.stderr

    identities = [json.loads(x) for x in run(cli_env, "export", "identities").stdout.splitlines()]
    assert {i["source_record_id"] for i in identities} == {"C-1", "C-3", "C-5"}
    by_record = {i["source_record_id"]: i["user_id"] for i in identities}
    assert by_record["C-1"] == by_record["C-3"] != by_record["C-5"]

    users = [json.loads(x) for x in run(cli_env, "export", "users").stdout.splitlines()]
    assert len(users) == 2
    luis = next(u for u in users if u["given_name"] == "Luis")
    assert luis["date_of_birth"] is None

    issues = [json.loads(x) for x in run(cli_env, "export", "issues").stdout.splitlines()]
    assert issues == [
        {
            "source_system": "crm",
            "source_record_id": "C-5",
            "user_id": luis["user_id"],
            "issues": [
                {
                    "attribute": "date_of_birth",
                    "code": "invalid_date",
                    "message": "month 13 is out of range",
                }
            ],
        }
    ]


def test_csv_import_with_a_column_mapping_and_duplicates_export(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "id,first,last,email,dob,phone,address_postal_code\n"
        "A1,Eva,García,eva@example.com,1990-04-01,+34612345678,28013\n"
        "A2,Ana,García,ana2@example.com,1990-04-01,+34612345678,28013\n"
    )
    result = run(
        cli_env, "import", str(path), "--format", "csv", "--source", "crm",
        "--map", "id=source_record_id", "--map", "first=given_name", "--map", "last=family_name",
        "--map", "dob=date_of_birth",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "created 1" in result.stderr and "review 1" in result.stderr
    items = [json.loads(x) for x in run(cli_env, "export", "duplicates").stdout.splitlines()]
    assert len(items) == 1
    refused = run(cli_env, "model", "train")  # no user holds two identities: no match to learn
    assert refused.returncode == 1
    assert "0 of 1 candidate pairs are identities of one user" in refused.stdout
    trained = run(cli_env, "model", "train", "--min-linked-pairs", "0")
    assert trained.returncode == 0, trained.stderr
    assert "stored as version 1 (active)" in trained.stdout
    assert "version" in run(cli_env, "model", "list").stdout
    rekeyed = run(cli_env, "model", "rebuild-keys")
    assert rekeyed.returncode == 0, rekeyed.stderr
    assert "rebuilt the keys of 2 identities" in rekeyed.stdout
    renormalized = run(cli_env, "model", "rebuild-keys", "--renormalize")
    assert renormalized.returncode == 0, renormalized.stderr
    # Stored by this version's normalization already: nothing to change.
    assert "(0 keys changed, 0 records renormalized)" in renormalized.stdout
    assert set(items[0]) == {"id", "user_a", "user_b", "score", "risk", "status"}
    assert items[0]["status"] == "open"


def test_import_from_stdin(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "import", "-", stdin=_signal(9, given_name="Io") + "\n")
    assert result.returncode == 0, result.stderr
    assert "created 1" in result.stderr


def test_import_in_parallel_workers_keeps_each_person_whole(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    people = [("Ana", "García"), ("Luis", "Pérez"), ("Marta", "Ruiz"), ("Jon", "Smith")] * 3
    lines = []
    for n in range(40):
        person = n % len(people)
        given, family = people[person]
        lines.append(
            _signal(n, given_name=given, family_name=family, email=f"p{person}@example.com")
        )
    lines.insert(17, "{not json")
    path = tmp_path / "signals.jsonl"
    path.write_text("\n".join(lines) + "\n")
    in_two = {**cli_env, "MDS_IMPORT_WORKERS": "2"}
    result = run(in_two, "import", str(path), "--batch-size", "3")
    assert result.returncode == 1, result.stderr
    assert "line 18: rejected: line: invalid JSON" in result.stderr
    assert "imported 40 signal(s)" in result.stderr
    again = run(cli_env, "import", str(path), "--workers", "3", "--batch-size", "3")
    assert "duplicate-ignored 40" in again.stderr

    identities = [json.loads(x) for x in run(cli_env, "export", "identities").stdout.splitlines()]
    user_of = {int(i["source_record_id"].split("-")[1]): i["user_id"] for i in identities}
    assert len(user_of) == 40
    for person in range(len(people)):
        assert len({user_of[n] for n in range(person, 40, len(people))}) == 1
    assert len(set(user_of.values())) == len(people)


def test_import_refuses_a_mapping_it_cannot_read(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("id,first\nA1,Eva\n")
    csv = ("import", str(path), "--format", "csv", "--source", "crm")
    malformed = run(cli_env, *csv, "--map", "id=source_record_id", "--map", "first")
    assert malformed.returncode == 2
    assert "'first' is not COLUMN=field" in malformed.stderr
    jsonl = run(cli_env, "import", str(path), "--map", "id=source_record_id")
    assert jsonl.returncode == 2 and "--format csv" in jsonl.stderr
    unmapped = run(cli_env, *csv, "--map", "id=source_record_id")  # 'first' names nothing
    assert unmapped.returncode == 2
    assert "column(s) 'first' name no signal field or attribute" in unmapped.stderr
    outputs = malformed.stderr + jsonl.stderr + unmapped.stderr
    assert "created" not in outputs, "nothing was imported"


def test_export_users_lists_live_users_suspended_ones_included(cli_env: dict[str, str]) -> None:
    signals = [_signal(1, given_name="Ana", family_name="Ruiz"), _signal(2, given_name="Eva")]
    assert run(cli_env, "import", "-", stdin="\n".join(signals) + "\n").returncode == 0
    users = [json.loads(x) for x in run(cli_env, "export", "users").stdout.splitlines()]
    assert len(users) == 2
    with psycopg.connect(cli_env["DATABASE_URL"]) as conn:
        conn.execute(
            "UPDATE canonical_users SET status = 'suspended' WHERE id = %s", (users[0]["user_id"],)
        )
    exported = [json.loads(x) for x in run(cli_env, "export", "users").stdout.splitlines()]
    statuses = {u["user_id"]: u["status"] for u in exported}
    assert statuses == {users[0]["user_id"]: "suspended", users[1]["user_id"]: "active"}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_line_postgresql_refuses_is_reported_by_number_and_the_rest_imported(
    cli_env: dict[str, str], tmp_path: Path, workers: str
) -> None:
    assert run(cli_env, "db", "upgrade").returncode == 0
    with psycopg.connect(cli_env["DATABASE_URL"]) as conn:  # a refusal nothing upstream foresees
        conn.execute("ALTER TABLE signals ADD CONSTRAINT refuse CHECK (event_id <> 'file-3')")
    path = tmp_path / "signals.jsonl"
    path.write_text("\n".join(_signal(n, given_name=f"P{n}") for n in range(1, 9)) + "\n")
    result = run(cli_env, "import", str(path), "--workers", workers, "--batch-size", "4")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    # Each on one line, however long (no wrapping at a pipe's 80 columns).
    assert any(
        line.startswith("line 3: rejected: could not be stored: new row for relation")
        and line.endswith('violates check constraint "refuse"')
        for line in lines
    ), lines
    [summary] = [line for line in lines if line.startswith("imported ")]
    assert summary.startswith("imported 7 signal(s)") and summary.endswith("rejected lines: 1")
    identities = [json.loads(x) for x in run(cli_env, "export", "identities").stdout.splitlines()]
    assert len(identities) == 7
