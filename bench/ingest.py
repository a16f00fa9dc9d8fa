"""Ingestion speed: `mds import` into a preloaded store, single-signal POST latency, memory.

Baseline in the same run: a raw COPY of the same signals into a plain table.
Run: `.venv/bin/python bench/ingest.py [--preload 100000] [--signals 5000] [--posts 1000]
[--workers 1,2]`; each `mds import --workers N` runs into its own clone of the preloaded store.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bench.common import (
    PreloadedStore,
    percentiles,
    server_cpu_seconds,
    wal_written,
)
from bench.people import Person, generate
from bench.posts import post_latencies
from bench.preload import person_attributes, preloaded_store
from mds.config import DEFAULT_INGEST_BATCH_SIZE as DEFAULT_BATCH


def copy_baseline(sessions: sessionmaker[Session], signals: list[dict[str, Any]]) -> float:
    with sessions() as session, session.begin():
        session.execute(text("CREATE TABLE IF NOT EXISTS bench_raw_signals (payload jsonb)"))
    started = time.perf_counter()
    with sessions() as session, session.begin():
        raw = session.connection().connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY bench_raw_signals (payload) FROM STDIN") as copy,
        ):
            for s in signals:
                copy.write_row([Jsonb(s)])
    return time.perf_counter() - started


# Runs `mds` and reports its own peak RSS at exit.
# VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child forked from this benchmark (which
# holds every generated person) would report the benchmark's size instead of its own.
_PEAK_RSS = """
import atexit, runpy, sys
def report():
    status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
    print(f"peak-rss-kib {status}", file=sys.stderr)
atexit.register(report)
sys.argv = ["mds", *sys.argv[1:]]
runpy.run_module("mds", run_name="__main__", alter_sys=True)
"""


class TreeRss(threading.Thread):
    """The largest total resident memory of a process and its descendants, sampled every 50 ms
    (worker processes exit without reporting their own peak)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_kib, self._done = root, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in self._tree()))

    def stop(self) -> None:
        self._done.set()
        self.join()

    def _tree(self) -> list[int]:
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int(
                        (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                    )
                except (OSError, ValueError):
                    continue
        tree, frontier = [self.root], [self.root]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree += frontier
        return tree


def _rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0


def time_import(
    env: dict[str, str], path: Path, profile: str | None, workers: int = 1
) -> tuple[float, float, str, str]:
    """Seconds, CPU seconds (process start and workers included), peak memory and summary line
    of one `mds import` run."""
    runner = ["-m", "cProfile", "-o", profile, "-m", "mds"] if profile else ["-c", _PEAK_RSS]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *runner, "import", str(path), "--workers", str(workers)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    tree_peak = TreeRss(process.pid)
    tree_peak.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    tree_peak.stop()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (
        children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
    )
    if result.returncode != 0:
        print(result.stderr[-2000:])
    lines = result.stderr.splitlines()
    peak = next((line.split()[1] for line in lines if line.startswith("peak-rss-kib")), None)
    memory = f"peak RSS {int(peak) / 1024:.0f} MiB" if peak else "peak RSS not measured (profiled)"
    if workers > 1:
        memory += f" (reader), {tree_peak.peak_kib / 1024:.0f} MiB all processes (sampled)"
    summary = [line for line in lines if line.startswith("imported")]
    return seconds, cpu, memory, summary[-1] if summary else result.stderr[-300:]


def measure_import(
    env: dict[str, str],
    path: Path,
    profile: str | None,
    workers: int,
    count: int,
    baseline_s: float,
    preloaded: PreloadedStore,
) -> None:
    pgdata = preloaded.server.pgdata
    server_before, wal_before = server_cpu_seconds(pgdata), wal_written(env["DATABASE_URL"])
    seconds, import_cpu_s, memory, summary = time_import(env, path, profile, workers)
    server_s = server_cpu_seconds(pgdata) - server_before
    wal_after = wal_written(env["DATABASE_URL"])
    wal_bytes, wal_fpi = wal_after[0] - wal_before[0], wal_after[1] - wal_before[1]
    print(
        f"  --workers {workers}: {count / seconds:,.0f} signals/s ({seconds:.1f}s, process start"
        f" included; import / COPY time {seconds / baseline_s:,.0f}x), {memory}"
    )
    print(f"    {summary}")
    # Work done, steadier than wall time on a shared machine: CPU per signal on each side of
    # the connection, and the WAL the database wrote (full-page images mostly).
    per_signal = 1000 / count
    print(
        f"    CPU per signal: import {import_cpu_s * per_signal:.2f} ms (process start"
        f" included), PostgreSQL {server_s * per_signal:.2f} ms; WAL"
        f" {wal_bytes / count / 1024:.0f} KiB per signal"
        f" ({wal_fpi / count:.1f} full-page images per signal)"
    )


def update_signals(stored: list[Person], count: int) -> list[dict[str, Any]]:
    """Updates of preloaded identities (the same source records): each a new phone number."""
    rng = random.Random(5)
    updates = []
    for n, p in enumerate(rng.sample(stored, min(len(stored), count))):
        attributes = person_attributes(p)
        attributes["phone"] = f"+3461{rng.randrange(10**7):07d}"
        updates.append(
            {
                "event_id": f"phone-{n}",
                "source_system": "preload",
                "source_record_id": f"P-{p.pid}",
                "event_type": "crm_import",
                "occurred_at": "2026-11-20T10:00:00+00:00",
                "attributes": attributes,
            }
        )
    return updates


def bench_signals(stored: list[Person], count: int) -> list[dict[str, Any]]:
    """Fresh people (each seen a few times) and updates of stored users, shuffled."""
    population = generate(max(count // 2, 1), seed=11)
    fresh = [e.signal for e in population.signals][: count // 2]
    rng = random.Random(3)
    updates = []
    for n, p in enumerate(rng.sample(stored, min(len(stored), count - len(fresh)))):
        updates.append(
            {
                "event_id": f"upd-{n}",
                "source_system": "crm",
                "source_record_id": f"U-{p.pid}",
                "event_type": "crm_import",
                "occurred_at": "2026-11-01T10:00:00+00:00",
                "attributes": {k: v for k, v in person_attributes(p).items() if k != "address"},
            }
        )
    signals = fresh + updates
    rng.shuffle(signals)
    return signals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--signals", type=int, default=5_000)
    parser.add_argument(
        "--posts", type=int, default=1_000, help="single-signal POSTs to time (0: none)"
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument(
        "--serve-workers", type=int, default=1, help="`mds serve --workers` for the POSTs"
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="`mds import --workers` counts to measure, comma-separated (default 1,2)",
    )
    parser.add_argument(
        "--updates",
        type=int,
        default=0,
        help="also import N updates of preloaded identities (one worker): an update-heavy load",
    )
    parser.add_argument(
        "--keep-store",
        metavar="DIR",
        type=Path,
        help="keep the preloaded store in DIR and clone it on later runs (for 1M-user stores)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="run the import under cProfile, stats written to FILE"
    )
    args = parser.parse_args()

    stored = generate(args.preload, seed=7).people[: args.preload]
    signals = bench_signals(stored, args.signals)

    with ExitStack() as stack:
        preloaded, store = preloaded_store(stack, args.keep_store, args.preload, stored)
        data_dir = preloaded.data_dir

        baseline_s = copy_baseline(store.sessions, signals)
        store.engine.dispose()
        path = data_dir / "signals.jsonl"
        path.write_text("".join(json.dumps(s) + "\n" for s in signals))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDS_")}
        env.update(MDS_DATA_DIR=str(data_dir), MDS_INGEST_BATCH_SIZE=str(args.batch))
        print(f"`mds import` of {len(signals):,} signals into a {len(stored):,}-user store:")
        print(f"  baseline raw COPY of the same rows: {len(signals) / baseline_s:,.0f} rows/s")
        for workers in args.workers:
            # Each count of workers imports into its own clone of the preloaded store.
            env["DATABASE_URL"] = preloaded.fresh_run().replace("postgresql+psycopg", "postgresql")
            measure_import(env, path, args.profile, workers, len(signals), baseline_s, preloaded)
        if args.updates:
            updates = update_signals(stored, args.updates)
            updates_path = data_dir / "updates.jsonl"
            updates_path.write_text("".join(json.dumps(s) + "\n" for s in updates))
            print(f"`mds import` of {len(updates):,} updates of stored identities (new phones):")
            env["DATABASE_URL"] = preloaded.fresh_run().replace("postgresql+psycopg", "postgresql")
            # The COPY baseline was timed on the main signals: scaled to this file's length.
            scaled_s = baseline_s * len(updates) / len(signals)
            measure_import(env, updates_path, None, 1, len(updates), scaled_s, preloaded)

        if not args.posts:
            return
        # People of their own, under ids of their own: with the import's ids they would be
        # replays, answered from the inbox without resolving anything.
        posts = generate(args.posts, seed=99, namespace="post-").signals[: args.posts]
        wal_before = wal_written(env["DATABASE_URL"])
        latencies, server_mib, batches = post_latencies(
            env, [e.signal for e in posts], args.rate, args.serve_workers
        )
        wal_after = wal_written(env["DATABASE_URL"])
        p50, p99 = percentiles(latencies)
        ordered = sorted(latencies)
        p90 = ordered[int(len(ordered) * 0.9)] * 1000
        print(
            f"single-signal POST /v1/signals at {args.rate:.0f} req/s, {len(latencies):,} requests"
            f" ({args.serve_workers} server process(es)):"
            f" p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms,"
            f" max {ordered[-1] * 1000:.0f} ms"
        )
        # A server's first requests pay for its cold caches; in a 1,000-request run the few
        # that queue behind them can be the whole p99. Shown apart, never left out above.
        first = max(1, int(args.rate))
        if len(latencies) > 2 * first:
            rest_p50, rest_p99 = percentiles(latencies[first:])
            print(
                f"  the first second ({first} requests): max {max(latencies[:first]) * 1000:.0f}"
                f" ms; after it: p50 {rest_p50:.1f} ms, p99 {rest_p99:.1f} ms,"
                f" max {max(latencies[first:]) * 1000:.0f} ms"
            )
        print(f"  peak RSS of the server: {server_mib:.0f} MiB; {batches.summary()}")
        # A store whose pages were not written since the last checkpoint logs each page whole
        # on its first change: what a short import leaves the POSTs to pay.
        print(
            f"  WAL per POST {(wal_after[0] - wal_before[0]) / len(latencies) / 1024:.0f} KiB"
            f" ({(wal_after[1] - wal_before[1]) / len(latencies):.1f} full-page images)"
        )


if __name__ == "__main__":
    main()
