import io
import json
from datetime import UTC, datetime

import pytest

from mds.services.signal_files import UnknownColumnsError, read_csv, read_jsonl

WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def csv_lines(text: str, **mapping: str) -> list:
    return list(
        read_csv(
            io.StringIO(text),
            source_system="crm",
            mapping=mapping,
            default_event_type="crm_import",
            default_occurred_at=WHEN,
        )
    )


def test_csv_rows_are_numbered_by_the_line_they_start_on() -> None:
    text = (
        "source_record_id,given_name,address_line1\n"
        "C-1,Ana,Calle Mayor 1\n"
        "\n"
        'C-2,Luis,"Calle Mayor 2\nPiso 3"\n'
        "C-3,,\n"
        ",Eva,\n"
    )
    lines = csv_lines(text)
    assert [line.number for line in lines] == [2, 4, 6, 7]
    assert lines[1].signal is not None
    assert lines[1].signal.attributes.address is not None
    assert lines[2].signal is not None and lines[2].signal.source_record_id == "C-3"
    assert lines[3].signal is None
    assert lines[3].errors[0]["field"] == "source_record_id"


def test_a_csv_row_with_more_values_than_columns_is_rejected_and_the_rest_go_on() -> None:
    lines = csv_lines(
        "id,first\nC-1,Ana,extra\nC-2,Luis\n", id="source_record_id", first="given_name"
    )
    assert lines[0].signal is None and lines[0].number == 2
    assert "3 values for the header's 2 columns" in lines[0].errors[0]["message"]
    assert lines[1].signal is not None and lines[1].signal.attributes.given_name == "Luis"


def signal_line(**envelope: str) -> str:
    return json.dumps(
        {
            "event_id": "e-1",
            "source_record_id": "C-1",
            "event_type": "crm_import",
            "occurred_at": "2026-11-01T00:00:00Z",
            "attributes": {"given_name": "Ana"},
            **envelope,
        }
    )


def test_jsonl_lines_take_the_files_source_and_may_not_name_another() -> None:
    text = "\n".join(
        [signal_line(), signal_line(source_system="crm"), signal_line(source_system="support")]
    )
    unnamed, named, other = read_jsonl(io.StringIO(text), source_system="crm")
    assert unnamed.signal is not None and unnamed.signal.source_system == "crm"
    assert named.signal is not None
    assert other.signal is None and other.number == 3
    assert other.errors[0]["field"] == "source_system"
    assert "'support'" in other.errors[0]["message"]


def test_without_a_source_a_jsonl_line_must_name_its_own() -> None:
    [line] = read_jsonl(io.StringIO(signal_line()))
    assert line.signal is None and line.errors[0]["field"] == "source_system"


def test_a_short_row_reads_as_the_same_signal_as_with_its_empty_values_written() -> None:
    [short] = csv_lines("source_record_id,given_name,email\nC-1,Ana\n")
    [full] = csv_lines("source_record_id,given_name,email\nC-1,Ana,\n")
    assert short.signal is not None and full.signal is not None
    assert short.signal.event_id == full.signal.event_id


def test_a_byte_order_mark_before_the_first_line_is_not_data() -> None:
    [row] = csv_lines("\ufeffsource_record_id,given_name\nC-1,Ana\n")
    assert row.errors == [] and row.signal is not None
    assert row.signal.source_record_id == "C-1"
    line = json.dumps(
        {
            "event_id": "e-1",
            "source_system": "crm",
            "source_record_id": "C-1",
            "event_type": "crm_import",
            "occurred_at": "2026-11-01T10:00:00Z",
        }
    )
    [parsed] = list(read_jsonl(io.StringIO(f"\ufeff{line}\n")))
    assert parsed.errors == [] and parsed.signal is not None


def test_a_csv_column_that_names_nothing_refuses_the_file_before_any_row() -> None:
    with pytest.raises(UnknownColumnsError) as raised:
        csv_lines("source_record_id,nickname,address_street,address_locality\nC-1,Annie,x,y\n")
    assert raised.value.columns == ["nickname", "address_street"]
    [row] = csv_lines("id,nickname\nC-1,Ana\n", id="source_record_id", nickname="given_name")
    assert row.signal is not None and row.signal.attributes.given_name == "Ana"
