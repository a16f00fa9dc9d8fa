"""Linkage quality on people with known truth, ingested in random order: generated people
(`bench/people.py`) or a FEBRL benchmark dataset (`--dataset febrl3|febrl4`, `bench/febrl.py`).

Reports pairwise precision, recall and F1 of the automatic links, recall when open review items
count as found, blocking recall, and the agreement between two runs in different orders; with
`--trained`, also the links made with the model `mds model train` fits to the first run's store.

Run: `.venv/bin/python bench/quality.py [--dataset D] [--persons N] [--batch B] [--seed S]
[--trained] [--processes N] [--workers W]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench import febrl
from bench.ceiling import describe, link_descriptions, linkable_descriptions
from bench.common import bench_database, open_store, peak_rss_mib
from bench.febrl import FILES as FEBRL_FILES
from bench.pairwise import (
    Pair,
    blocking_recall,
    clusters_with_reviews,
    jaccard,
    linkage,
    match_records,
    missed_kinds,
    pair_set,
    truth_pairs,
)
from bench.people import PROFILES, Emitted, generate
from mds.config import DEFAULT_INGEST_BATCH_SIZE as DEFAULT_BATCH
from mds.config import load_settings
from mds.domain.signals import Signal
from mds.matching.parameters import DEFAULT_PARAMETERS, ModelParameters
from mds.services.ingest import IngestService
from mds.services.recompute import Recompute
from mds.services.resolution.config import ResolutionConfig
from mds.services.training import train_model
from mds.store.models import CanonicalUser, PotentialDuplicate, SourceIdentity

# The decision policy's settings, which the processes take from this environment as the runs do.
POLICY = ("MDS_LINK_THRESHOLD", "MDS_REVIEW_THRESHOLD", "MDS_HOUSEHOLD_NAME_BITS")


def import_processes(
    url: str, data_dir: Path, signals: list[Emitted], batch: int, n: int, workers: int = 1
) -> None:
    """`mds import --workers W` in `n` concurrent processes, process k taking every n-th
    signal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDS_") or k in POLICY}
    env.update(
        DATABASE_URL=url.replace("postgresql+psycopg", "postgresql"),
        MDS_DATA_DIR=str(data_dir),
        MDS_INGEST_BATCH_SIZE=str(batch),
        # Each process sees part of the file: as an operator splitting a load would, say how
        # big the whole load is, so that every process sizes its match prior alike.
        MDS_EXPECTED_IDENTITIES=str(len(signals)),
    )
    processes = []
    for k in range(n):
        path = data_dir / f"part{k}.jsonl"
        path.write_text("".join(json.dumps(e.signal) + "\n" for e in signals[k::n]))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "mds", "import", str(path), "--workers", str(workers)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"mds import failed: {err[-1000:]}")


def run_once(
    url: str,
    data_dir: Path,
    signals: list[Emitted],
    batch: int,
    processes: int = 0,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
    train: bool = False,
    workers: int = 1,
    recompute: str | None = None,
) -> tuple[dict[str, Any], float]:
    """Ingest `signals`; with `train`, also what `mds model train` makes of the store after."""
    store = open_store(url, data_dir)
    engine, sessions, keyring, settings = (
        store.engine,
        store.sessions,
        store.keyring,
        store.settings,
    )
    started = time.perf_counter()
    if processes:
        import_processes(url, data_dir, signals, batch, processes, workers)
    else:
        config = ResolutionConfig.from_settings(settings, parameters)
        service = IngestService(sessions, keyring, config)
        parsed = [Signal.model_validate(e.signal) for e in signals]
        service.expect_load(len(parsed))  # as `mds import` does for a file
        for offset in range(0, len(parsed), batch):
            service.ingest(parsed[offset : offset + batch])
    elapsed = time.perf_counter() - started

    result = read_store(sessions)
    if recompute:
        config = ResolutionConfig.from_settings(settings, parameters)
        began = time.perf_counter()
        done = Recompute(sessions, keyring, config, merge=recompute == "merge").run()
        result["recomputed"] = {
            **read_store(sessions),
            "progress": done,
            "seconds": time.perf_counter() - began,
        }
    trained = train_model(sessions, keyring, dry_run=True).result.parameters if train else None
    engine.dispose()
    result["trained"] = trained
    return result, elapsed


def read_store(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Which user each record ended on (followed to the survivor), and the open review items."""
    with sessions() as session:
        merged_into: dict[object, object] = {
            user: survivor
            for user, survivor in session.execute(
                select(CanonicalUser.id, CanonicalUser.merged_into).where(
                    CanonicalUser.merged_into.is_not(None)
                )
            )
        }

        def survivor(user: object) -> object:
            while user in merged_into:
                user = merged_into[user]
            return user

        assignment = {
            (system, record): survivor(user)
            for system, record, user in session.execute(
                select(
                    SourceIdentity.source_system,
                    SourceIdentity.source_record_id,
                    SourceIdentity.user_id,
                )
            )
        }
        review_rows = session.execute(
            select(
                PotentialDuplicate.user_a, PotentialDuplicate.user_b, PotentialDuplicate.explanation
            ).where(PotentialDuplicate.status == "open")
        ).all()
        reviews = [(survivor(a), survivor(b)) for a, b, _ in review_rows]
        reasons = [
            (
                *e.get("reasons", ()),
                "|".join(
                    f"{f['field'][:5]}={f['level']}"
                    for f in e.get("fields", ())
                    if f["level"] not in ("null", "different") and "name" not in f["field"]
                ),
            )
            for *_, e in review_rows
        ]
    return {"assignment": assignment, "reviews": reviews, "reasons": reasons}


def print_recomputed(after: dict[str, Any], truth: set[Pair], mode: str) -> None:
    done = after["progress"]
    precision, recall, f1, review_recall = linkage(after, truth)
    command = "mds recompute" + (" --merge" if mode == "merge" else "")
    print(
        f"  then `{command}`: {done.users / after['seconds']:,.0f} users/s, {done.pairs:,} pairs"
        f" scored, {done.proposed:,} review items opened, {done.merged:,} merges;"
        f" {len(after['reviews']):,} open items"
    )
    print(
        f"    precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f},"
        f" recall with review {review_recall:.4f}"
    )


def show_examples(signals: list[Emitted], pairs: list[Pair], label: str, count: int) -> None:
    by_record = {(e.signal["source_system"], e.signal["source_record_id"]): e for e in signals}
    for a, b in random.Random(0).sample(pairs, min(count, len(pairs))):
        print(f"  {label}")
        for record in (a, b):
            e = by_record[record]
            print(f"    person {e.person}: {e.signal['attributes']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=3_000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="sparse",
        help="which fields sources fill: sparse (what MDS sees) or complete (benchmark-like)",
    )
    parser.add_argument(
        "--dataset",
        choices=("generated", *FEBRL_FILES),
        default="generated",
        help="generated people (--persons, --profile) or a FEBRL benchmark dataset",
    )
    parser.add_argument("--examples", type=int, default=0, help="print N errors of each kind")
    parser.add_argument(
        "--processes", type=int, default=2, help="also run `mds import` in N interleaved processes"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="also run one `mds import --workers N`"
    )
    parser.add_argument(
        "--trained",
        action="store_true",
        help="also link with the model `mds model train` fits to the first run's store",
    )
    parser.add_argument(
        "--recompute",
        choices=("propose", "merge"),
        help="after each run's import, run `mds recompute` (or `--merge`) and measure again",
    )
    args = parser.parse_args()

    if args.dataset == "generated":
        signals = generate(args.persons, seed=args.seed, profile=args.profile).signals
        source = f"{args.profile} profile"
    else:
        signals = febrl.load(args.dataset)
        source = args.dataset.upper()
    people = len({e.person for e in signals})
    truth = truth_pairs(signals)
    records = match_records(signals)
    print(
        f"{people:,} people ({source}), {len(signals):,} signals,"
        f" {len(truth):,} true pairs; batches of {args.batch}"
    )
    policy = ResolutionConfig.from_settings(load_settings()).thresholds
    print(
        f"link at {policy.link}, review from {policy.review}; a household links on a given name"
        f" of {policy.household_name_bits:g} bits or more"
    )
    print(f"blocking recall        {blocking_recall(signals, records, truth):.4f}")
    described = describe(records, [e.person for e in signals])
    linkable = linkable_descriptions(described)
    oracle_precision, oracle = link_descriptions(described, linkable)
    print(
        f"ceiling: an oracle on the comparison vectors (every true pair compared) links with recall"
        f" {oracle:.4f} at precision {oracle_precision:.4f}"
    )
    if args.dataset == "generated":
        # The oracle's classes are fitted to the pairs it scores; on people it has not seen,
        # classes that were pure by chance link strangers.
        other = generate(args.persons, seed=args.seed + 1000, profile=args.profile).signals
        unseen = describe(match_records(other), [e.person for e in other])
        unseen_precision, unseen_recall = link_descriptions(unseen, linkable)
        print(
            f"  the same classes on other people (seed {args.seed + 1000}): recall"
            f" {unseen_recall:.4f} at precision {unseen_precision:.4f}"
        )

    runs = []
    for run, order_seed in enumerate((args.seed + 1, args.seed + 2), start=1):
        shuffled = signals[:]
        random.Random(order_seed).shuffle(shuffled)
        with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
            result, elapsed = run_once(
                url,
                Path(tmp),
                shuffled,
                args.batch,
                train=args.trained and run == 1,
                recompute=args.recompute,
            )
        runs.append(result)
        linked = pair_set(result["assignment"])
        precision, recall, f1, review_recall = linkage(result, truth)
        users = len(set(result["assignment"].values()))
        print(
            f"run {run} (order seed {order_seed}): {len(signals) / elapsed:,.0f} signals/s,"
            f" {users:,} users for {people:,} people,"
            f" {len(result['reviews']):,} open review items"
        )
        print(f"  auto-link precision  {precision:.4f}")
        print(f"  auto-link recall     {recall:.4f}")
        print(f"  auto-link F1         {f1:.4f}")
        print(f"  recall with review   {review_recall:.4f}")
        with_review = pair_set(clusters_with_reviews(result["assignment"], result["reviews"]))
        kinds = missed_kinds(signals, records, truth - with_review)
        print(
            f"  not found ({sum(kinds.values()):,} true pairs): "
            + ", ".join(f"{kind} {n:,}" for kind, n in kinds.items())
        )
        false_pairs = linked - truth
        if false_pairs:
            print(f"  false links          {len(false_pairs):,} pairs")
        if "recomputed" in result:
            print_recomputed(result["recomputed"], truth, args.recompute)
        if args.examples and run == 1:
            persons_of: dict[object, set[int]] = defaultdict(set)
            person_by_record = {
                (e.signal["source_system"], e.signal["source_record_id"]): e.person for e in signals
            }
            for record, user in result["assignment"].items():
                persons_of[user].add(person_by_record[record])
            tally: Counter[tuple[str, tuple[str, ...]]] = Counter()
            for (a, b), why in zip(result["reviews"], result["reasons"], strict=True):
                same = bool(persons_of[a] & persons_of[b])
                tally[("same person" if same else "different", why)] += 1
            for (kind, why), n in tally.most_common(25):
                print(f"  review items, {kind:11s} {n:5d}  {', '.join(why)}")
            show_examples(signals, sorted(false_pairs), "FALSE LINK", args.examples)
            show_examples(signals, sorted(truth - with_review), "MISSED", args.examples)
            show_examples(
                signals, sorted((truth - linked) & with_review), "IN REVIEW", args.examples
            )

    first, second = (pair_set(r["assignment"]) for r in runs)
    differ = first ^ second
    print(
        f"order agreement (linked pairs, Jaccard) {jaccard(first, second):.4f}"
        f" ({len(differ):,} pairs linked in one order only, {len(differ & truth):,} of them true)"
    )
    if args.recompute:
        first_after, second_after = (pair_set(r["recomputed"]["assignment"]) for r in runs)
        print(
            "  after `mds recompute`"
            f" {jaccard(first_after, second_after):.4f} ({len(first_after ^ second_after):,} pairs)"
        )
    if args.examples:
        show_examples(signals, sorted(first - second), "LINKED IN RUN 1 ONLY", args.examples)
        show_examples(signals, sorted(second - first), "LINKED IN RUN 2 ONLY", args.examples)

    if args.trained:
        # What a data engineer gets from `mds model train` after the first load: the model
        # trained on run 1's store, then the same signals in the same order into a fresh one.
        shuffled = signals[:]
        random.Random(args.seed + 1).shuffle(shuffled)
        with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
            trained = runs[0]["trained"]
            result, _ = run_once(url, Path(tmp), shuffled, args.batch, parameters=trained)
        precision, recall, f1, review_recall = linkage(result, truth)
        print(
            f"with the model `mds model train` fits to run 1's store (run 1's order):"
            f" precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f},"
            f" recall with review {review_recall:.4f}"
        )

    if args.processes:
        shuffled = signals[:]
        random.Random(args.seed + 1).shuffle(shuffled)
        with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
            result, elapsed = run_once(url, Path(tmp), shuffled, args.batch, args.processes)
            linked = pair_set(result["assignment"])
            tp = len(linked & truth)
            print(
                f"{args.processes} `mds import` processes on interleaved parts of run 1's order:"
                f" {len(signals) / elapsed:,.0f} signals/s (process start included),"
                f" precision {tp / max(len(linked), 1):.4f}, recall {tp / len(truth):.4f},"
                f" agreement with run 1 {jaccard(linked, first):.4f}"
            )
            again, _ = run_once(url, Path(tmp), shuffled, args.batch, args.processes)
            unchanged = again["assignment"] == result["assignment"]
            print(f"importing the same files again changes nothing: {unchanged}")
    if args.workers > 1:
        shuffled = signals[:]
        random.Random(args.seed + 1).shuffle(shuffled)
        with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
            result, elapsed = run_once(
                url, Path(tmp), shuffled, args.batch, processes=1, workers=args.workers
            )
        linked = pair_set(result["assignment"])
        precision, recall, f1, review_recall = linkage(result, truth)
        print(
            f"`mds import --workers {args.workers}` on run 1's order:"
            f" {len(signals) / elapsed:,.0f} signals/s (process start included),"
            f" precision {precision:.4f}, F1 {f1:.4f}, recall with review {review_recall:.4f},"
            f" agreement with run 1 {jaccard(linked, first):.4f}"
        )
        if args.examples:
            label = f"FALSE LINK (--workers {args.workers})"
            show_examples(signals, sorted(linked - truth), label, args.examples)
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
