"""Recompute speed: `mds recompute [--workers N]` over a preloaded store (as `bench/ingest.py`
builds it).

Baseline in the same run: reading the same users' identities, chunk by chunk, as the pass reads
them (one query per chunk, decrypted), without candidates or scoring. `--users N` stops after
the first N users in id order: a 1M-user store takes most of an hour to walk, and its rate is
the rate of any part of it. Run: `.venv/bin/python bench/recompute.py [--preload 100000]
[--keep-store DIR] [--users N] [--chunk 500] [--merge] [--workers N]`.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from contextlib import ExitStack, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import peak_rss_mib, percentiles
from bench.preload import preloaded_store
from mds.cli.recompute_workers import PassOptions, recompute_in_workers
from mds.gc_tuning import tune_for_resolution
from mds.security.keyring import Keyring
from mds.services.recompute import CHUNK, Recompute, RecomputeProgress, split_points
from mds.services.resolution.config import ResolutionConfig
from mds.store import source_identities as identities
from mds.store.models import CanonicalUser


class _EnoughError(Exception):
    """Raised from the progress callback once the users asked for were walked."""


def read_baseline(
    sessions: sessionmaker[Session], keyring: Keyring, users: int, chunk: int
) -> float:
    """Seconds to read the first `users` users' identities in chunks, as the pass does."""
    started = time.perf_counter()
    after: uuid.UUID | None = None
    walked = 0
    while walked < users:
        with sessions() as session:
            statement = select(CanonicalUser.id).order_by(CanonicalUser.id).limit(chunk)
            if after is not None:
                statement = statement.where(CanonicalUser.id > after)
            ids = list(session.scalars(statement))
            if not ids:
                break
            identities.load_by_users(session, keyring, ids)
        after, walked = ids[-1], walked + len(ids)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--users", type=int, help="stop after this many users (default: all)")
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--merge", action="store_true", help="as `mds recompute --merge`")
    parser.add_argument(
        "--workers", type=int, default=1, help="as `mds recompute --workers N` (processes)"
    )
    parser.add_argument(
        "--keep-store",
        metavar="DIR",
        type=Path,
        help="the store directory `bench/ingest.py --keep-store` kept (built here if missing)",
    )
    args = parser.parse_args()
    users = args.users or args.preload

    with ExitStack() as stack:
        _, store = preloaded_store(stack, args.keep_store, args.preload)

        baseline_s = read_baseline(store.sessions, store.keyring, users, args.chunk)
        print(
            f"baseline, reading {users:,} users' identities in chunks of {args.chunk}:"
            f" {users / baseline_s:,.0f} users/s"
        )

        config = ResolutionConfig.from_settings(store.settings)
        tune_for_resolution()  # as the command does (its workers too)
        chunk_seconds: list[float] = []
        last = [time.perf_counter()]
        seen = [RecomputeProgress()]

        def on_chunk(progress: RecomputeProgress) -> None:
            now = time.perf_counter()
            chunk_seconds.append(now - last[0])
            last[0], seen[0] = now, progress
            if progress.users >= users and args.workers == 1:
                raise _EnoughError

        started, cpu = time.perf_counter(), time.process_time()
        if args.workers > 1:
            with store.sessions() as session:
                until = session.scalar(
                    select(CanonicalUser.id)
                    .where(CanonicalUser.status == "active")
                    .order_by(CanonicalUser.id)
                    .offset(users - 1)
                    .limit(1)
                )
                bounds = split_points(session, args.workers, None, until)
            options = PassOptions(merge=args.merge, dry_run=False, chunk=args.chunk)
            seen[0] = recompute_in_workers(store.settings, bounds, options, on_chunk)
        else:
            with suppress(_EnoughError):
                Recompute(
                    store.sessions, store.keyring, config, merge=args.merge, chunk=args.chunk
                ).run(on_chunk=on_chunk)
        elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        done = seen[0]
        p50, p99 = percentiles(chunk_seconds)
        command = "mds recompute" + (" --merge" if args.merge else "")
        print(
            f"`{command}` over {done.users:,} of {args.preload:,} users:"
            f" {done.users / elapsed:,.0f} users/s ({elapsed / baseline_s:.1f}x the baseline's"
            f" time), {done.pairs:,} pairs scored, {done.proposed:,} review items opened,"
            f" {done.merged:,} merges"
        )
        # With workers, progress comes when any worker finishes a chunk: the interval between
        # reports is then a chunk's time divided by the workers, and the CPU is theirs.
        per = "per chunk" if args.workers == 1 else f"between reports of {args.workers} workers"
        cpu_part = (
            f"Python CPU {cpu_s / max(done.users, 1) * 1000:.2f} ms per user; "
            if args.workers == 1
            else ""
        )
        print(
            f"  {per} of {args.chunk}: p50 {p50:.0f} ms, p99 {p99:.0f} ms;"
            f" {cpu_part}peak RSS {peak_rss_mib():.0f} MiB (this process)"
        )
        store.engine.dispose()


if __name__ == "__main__":
    main()
