import os
import signal as signals
from datetime import date

import pytest

from mds.bootstrap import build_runtime
from mds.cli.import_batches import BatchReport
from mds.cli.import_workers import WorkerFailedError, WorkerPool, import_in_workers
from mds.config import Settings
from mds.services.signal_files import ParsedLine
from tests.integration.ingest_helpers import signal


# 40 records fill the dead worker's queue (the reader notices); 10 fit in it (the end does).
@pytest.mark.parametrize("count", [40, 10])
def test_a_worker_killed_without_a_word_fails_the_import(
    fresh_database: str, test_settings: Settings, count: int
) -> None:
    settings = test_settings.model_copy(update={"database_url": fresh_database})
    build_runtime(settings).close()  # migrated, keys made: the workers only connect
    done: list[BatchReport] = []
    pool = WorkerPool(settings, 2, 5, None, "import:test", done.append)
    pool.start()
    os.kill(pool.pids[0], signals.SIGKILL)
    records = [
        ParsedLine(n, signal(f"C-{n}", given_name="Ana", email=f"a{n}@example.com"))
        for n in range(count)
    ]
    try:
        with pytest.raises(WorkerFailedError, match="exited with code -9"):
            import_in_workers(pool, iter(records), None, date(2026, 11, 25))
            pool.finish()
    finally:
        pool.stop()
