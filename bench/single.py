"""The fixed cost of a transaction: one-signal batches, as a quiet server resolves its POSTs.

Resolves signals one per batch through the service (no HTTP) into a clone of a preloaded
store and prints wall time (p50/p99) and CPU (this process's and PostgreSQL's) per batch;
baseline in the same run: the same kind of signals in batches of `--batch`, per signal.
`--sizes 1,2,3` cycles through those batch sizes instead of one signal per batch (a loaded
server's group commits hold a few requests each).
Run: `.venv/bin/python bench/single.py [--preload 100000] [--signals 300] [--sizes 1]
[--keep-store DIR]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentiles, server_cpu_seconds
from bench.people import generate
from bench.preload import preloaded_store
from mds.bootstrap import build_runtime
from mds.config import DEFAULT_INGEST_BATCH_SIZE, load_settings
from mds.domain.signals import Signal
from mds.services.ingest import IngestService

WARM_UP = 50


def run(
    ingest: IngestService, batches: list[list[Signal]], pgdata: Path
) -> tuple[list[float], float, float]:
    """Each batch's wall seconds; CPU seconds of this thread and of PostgreSQL in all."""
    walls = []
    pg_before, cpu_before = server_cpu_seconds(pgdata), time.thread_time()
    for batch in batches:
        started = time.perf_counter()
        ingest.ingest(batch, actor="api")
        walls.append(time.perf_counter() - started)
    return walls, time.thread_time() - cpu_before, server_cpu_seconds(pgdata) - pg_before


def cycled(signals: list[Signal], sizes: list[int]) -> list[list[Signal]]:
    """`signals` cut into batches whose sizes cycle through `sizes`."""
    batches: list[list[Signal]] = []
    start = 0
    while start < len(signals):
        size = sizes[len(batches) % len(sizes)]
        batches.append(signals[start : start + size])
        start += size
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--signals", type=int, default=300)
    parser.add_argument("--batch", type=int, default=DEFAULT_INGEST_BATCH_SIZE)
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        help="batch sizes to cycle through, comma-separated (default 1)",
    )
    parser.add_argument("--keep-store", metavar="DIR", type=Path)
    args = parser.parse_args()

    count = WARM_UP + 2 * args.signals
    emitted = generate(count, seed=99, namespace="single-").signals[:count]
    signals = [Signal.model_validate(e.signal) for e in emitted]
    warm, alone, together = (
        signals[:WARM_UP],
        signals[WARM_UP : WARM_UP + args.signals],
        signals[WARM_UP + args.signals :],
    )
    with ExitStack() as stack:
        preloaded, store = preloaded_store(stack, args.keep_store, args.preload)
        store.engine.dispose()
        settings = load_settings(
            database_url=store.settings.database_url, data_dir=preloaded.data_dir
        )
        runtime = build_runtime(settings)
        stack.callback(runtime.close)
        ingest = runtime.ingest_service()
        pgdata = preloaded.server.pgdata
        run(ingest, [[s] for s in warm], pgdata)
        small = cycled(alone, args.sizes)
        walls, cpu, pg = run(ingest, small, pgdata)
        chunks = [together[i : i + args.batch] for i in range(0, len(together), args.batch)]
        _, bulk_cpu, bulk_pg = run(ingest, chunks, pgdata)

    p50, p99 = percentiles(walls)
    per_batch = 1000 / len(small)
    per_signal = 1000 / len(together)
    sizes = ",".join(str(n) for n in args.sizes)
    small_signal = 1000 / len(alone)
    print(
        f"{len(alone):,} signals in {len(small):,} batches of {sizes}"
        f" into a {args.preload:,}-user store:"
    )
    print(
        f"  wall p50 {p50:.1f} ms, p99 {p99:.1f} ms; CPU per batch {cpu * per_batch:.2f} ms"
        f" (PostgreSQL {pg * per_batch:.2f} ms), per signal {cpu * small_signal:.2f} ms"
    )
    print(
        f"  baseline, batches of {args.batch}: CPU per signal {bulk_cpu * per_signal:.2f} ms"
        f" (PostgreSQL {bulk_pg * per_signal:.2f} ms); a signal of these small batches costs"
        f" {cpu * small_signal / (bulk_cpu * per_signal):.1f}x a signal of a full batch"
    )


if __name__ == "__main__":
    main()
