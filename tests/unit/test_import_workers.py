from datetime import date
from pathlib import Path

import pytest

from mds.cli.import_batches import BatchReport
from mds.cli.import_workers import WorkerFailedError, WorkerPool, import_in_workers
from mds.config import load_settings
from mds.domain.signals import Signal
from mds.services.signal_files import ParsedLine


def _line(n: int) -> ParsedLine:
    return ParsedLine(n, _signal(n))


def _signal(n: int) -> Signal:
    return Signal.model_validate(
        {
            "event_id": f"e-{n}",
            "source_system": "crm",
            "source_record_id": f"C-{n}",
            "event_type": "crm_import",
            "occurred_at": "2026-11-01T10:00:00Z",
            "attributes": {"given_name": "Ana", "email": f"a{n}@example.com"},
        }
    )


def test_a_worker_that_fails_fails_the_import_with_its_error(tmp_path: Path) -> None:
    # Nothing listens on port 1: each worker fails to build its runtime.
    settings = load_settings(database_url="postgresql://mds@127.0.0.1:1/mds", data_dir=tmp_path)
    batches: list[BatchReport] = []
    pool = WorkerPool(settings, 2, 2, None, "import:test", batches.append)
    pool.start()
    try:
        with pytest.raises(WorkerFailedError, match="OperationalError"):
            import_in_workers(pool, iter([_line(n) for n in range(20)]), None, date(2026, 11, 25))
            pool.finish()
    finally:
        pool.stop()
    assert batches == []
