"""`mds model rebuild-keys [--renormalize]` speed over a preloaded store (as `bench/ingest.py`
builds it).

Baseline in the same run: reading the same identities' users, chunk by chunk, decrypted (what
any pass over the store pays). Then the keys made again from the stored comparison records,
then the same with `--renormalize` (raw attributes decrypted and normalized again first). On a
store this version wrote, both find nothing to change: what is measured is the walk and the
checking, which is what an upgrade pays for every identity that did not change. `--identities
N` stops after the first N identities in id order. Run: `.venv/bin/python bench/rekey.py
[--preload 100000] [--keep-store DIR] [--identities N] [--chunk 2000]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack, suppress
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import peak_rss_mib
from bench.preload import preloaded_store
from bench.recompute import read_baseline
from mds.gc_tuning import tune_for_resolution
from mds.services.rekeying import CHUNK, Normalize, RekeyProgress, normalizing, rebuild_match_keys


class _EnoughError(Exception):
    """Raised from the progress callback once the identities asked for were walked."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--identities", type=int, help="stop after this many (default: all)")
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--keep-store", type=Path, metavar="DIR")
    args = parser.parse_args()
    wanted = args.identities or args.preload

    with ExitStack() as stack:
        _, store = preloaded_store(stack, args.keep_store, args.preload)
        tune_for_resolution()

        baseline_s = read_baseline(store.sessions, store.keyring, wanted, args.chunk)
        print(
            f"baseline, reading {wanted:,} users' identities in chunks of {args.chunk}:"
            f" {wanted / baseline_s:,.0f} users/s"
        )

        def timed(normalize: Normalize | None) -> tuple[RekeyProgress, float]:
            done = RekeyProgress(0, 0)

            def enough(progress: RekeyProgress) -> None:
                nonlocal done
                done = progress
                if progress.identities >= wanted:
                    raise _EnoughError

            started = time.perf_counter()
            with suppress(_EnoughError):
                done = rebuild_match_keys(
                    store.sessions,
                    store.keyring,
                    chunk=args.chunk,
                    on_chunk=enough,
                    normalize=normalize,
                )
            return done, time.perf_counter() - started

        renormalize = normalizing(store.settings.default_region, date.today())
        for label, normalize in (
            ("rebuild-keys", None),
            ("rebuild-keys --renormalize", renormalize),
        ):
            done, elapsed = timed(normalize)
            print(
                f"`mds model {label}` over {done.identities:,} identities:"
                f" {done.identities / elapsed:,.0f} identities/s"
                f" ({elapsed / baseline_s:.1f}x the baseline's time), {done.keys:,} keys and"
                f" {done.records:,} records changed"
            )
        print(f"peak RSS {peak_rss_mib():.0f} MiB (this process)")
        store.engine.dispose()


if __name__ == "__main__":
    main()
