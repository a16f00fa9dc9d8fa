"""Cost of PII encryption: per-cell crypto, and storing profiles encrypted vs a plaintext COPY.

Run: `make bench` or `.venv/bin/python bench/encryption.py [--rows N]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.common import bench_database, open_store, peak_rss_mib, percentiles, time_each
from mds.domain.profile import Profile
from mds.security.envelope import CellContext, generate_key
from mds.security.keyring import Keyring
from mds.store import users

SAMPLE = Profile(
    given_name="Ana",
    family_name="García",
    email="ana.garcia@example.com",
    phone="+34612345678",
    date_of_birth="1990-04-01",
    address={"line1": "Calle Mayor 5", "locality": "Madrid", "postal_code": "28013"},
    government_id={"type": "national_id", "country": "ES", "value": "12345678Z"},
    locale="es-ES",
)


def crypto_figures(count: int) -> None:
    key_id = uuid.uuid4()
    keyring = Keyring({key_id: generate_key()}, key_id, generate_key())
    cell = CellContext("canonical_profiles", "email_enc", str(uuid.uuid4()))
    value = SAMPLE.email or ""
    blob = keyring.encrypt_text(value, cell)

    baseline = time_each(lambda: json.dumps(value).encode(), count)
    encrypt = time_each(lambda: keyring.encrypt_text(value, cell), count)
    decrypt = time_each(lambda: keyring.decrypt_text(blob, cell), count)
    # Distinct values: the keyring caches digests, and a cached lookup is not what is measured.
    distinct = iter([f"user{n}@example.com" for n in range(count)])
    blind = time_each(lambda: keyring.blind_index("email", next(distinct)), count)
    print(f"cell crypto, {count:,} operations each")
    for name, samples in [
        ("baseline json encode", baseline),
        ("encrypt cell", encrypt),
        ("decrypt cell", decrypt),
        ("blind index", blind),
    ]:
        p50, p99 = percentiles(samples)
        rate = len(samples) / sum(samples)
        print(
            f"  {name:22s} {rate:>12,.0f} ops/s"
            f"   p50 {p50 * 1000:6.1f} µs   p99 {p99 * 1000:6.1f} µs"
        )
    print(f"  encrypt / baseline cost ratio: {sum(encrypt) / sum(baseline):.1f}x")


def storage_figures(rows: int, batch: int) -> None:
    with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        store = open_store(url, Path(tmp))
        engine, sessions, keyring = store.engine, store.sessions, store.keyring

        # Baseline: the same seven PII values per row, plaintext, COPY into an unlogged-free table.
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE plain_profiles (user_id uuid, data jsonb)"))
        started = time.perf_counter()
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy("COPY plain_profiles (user_id, data) FROM STDIN") as copy:
                payload = json.dumps(SAMPLE.as_dict())
                for _ in range(rows):
                    copy.write_row((uuid.uuid4(), payload))
            raw.commit()
        finally:
            raw.close()
        copy_s = time.perf_counter() - started

        started = time.perf_counter()
        done = 0
        while done < rows:
            with sessions() as session, session.begin():
                chunk = [(uuid.uuid4(), SAMPLE) for _ in range(min(batch, rows - done))]
                users.create_users(session, keyring, chunk)
            done += batch
        encrypted_s = time.perf_counter() - started
        engine.dispose()

    print(f"\nstoring {rows:,} profiles (batches of {batch})")
    print(f"  baseline plaintext COPY        {rows / copy_s:>10,.0f} rows/s")
    print(f"  encrypted via repository       {rows / encrypted_s:>10,.0f} rows/s")
    print(f"  repository / COPY time ratio: {encrypted_s / copy_s:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    crypto_figures(args.ops)
    storage_figures(args.rows, args.batch)
    print(f"\npeak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
