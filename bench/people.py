"""A generator of realistic people and the signals upstream systems send about them.

Ground truth is kept per signal (`person`). Errors follow what real feeds do: typos and OCR
confusions, nicknames, swapped given/family names, missing fields, day/month transposition,
moves, changed emails and phones, id typos, case and accent noise. Hard negatives are built in:
twins (same surname, birth date, address, phone), households sharing surname, address and phone,
and very common names drawn from a Zipf distribution.
"""

from __future__ import annotations

import random
import string
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.vocabulary import (
    CITIES,
    FAMILY_EN,
    FAMILY_ES,
    GIVEN_EN,
    GIVEN_ES,
    NICKNAMES,
    PROVIDERS,
    STREETS_EN,
    STREETS_ES,
)

DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
OCR = {"0": "O", "O": "0", "1": "l", "l": "1", "5": "S", "rn": "m", "m": "rn", "e": "c"}
SOURCES = ("signup", "crm", "support")
# How often each upstream system fills a field. A sign-up always has the login email; a CRM import
# carries the postal and identity data; a support ticket knows the email it came from.
PRESENCE = {
    "signup": {"family": 0.95, "dob": 0.7, "email": 1.0, "phone": 0.4, "address": 0.2, "id": 0.1},
    "crm": {"family": 1.0, "dob": 0.6, "email": 0.8, "phone": 0.7, "address": 0.85, "id": 0.6},
    "support": {"family": 0.8, "dob": 0.2, "email": 0.95, "phone": 0.5, "address": 0.3, "id": 0.05},
}
# `sparse` is what MDS sees: systems that know a person by a name and an email. `complete` is how
# standard person-linkage benchmarks (FEBRL and its kin) are built: every record carries most
# fields, so the same error model can be compared with the figures published for batch linkers.
PROFILES = {
    "sparse": PRESENCE,
    "complete": {
        source: {"family": 1.0, "dob": 0.95, "email": 0.9, "phone": 0.9, "address": 0.9, "id": 0.9}
        for source in SOURCES
    },
}


@dataclass
class Person:
    pid: int
    country: str
    given: str
    family: str
    dob: date
    email: str
    phone: str
    address: dict[str, str]
    gov_id: str | None


@dataclass
class Emitted:
    person: int
    signal: dict[str, Any]


@dataclass
class Population:
    people: list[Person] = field(default_factory=list)
    signals: list[Emitted] = field(default_factory=list)


def _zipf(rng: random.Random, pool: list[str], s: float = 1.1) -> str:
    weights = [1 / (rank**s) for rank in range(1, len(pool) + 1)]
    return rng.choices(pool, weights=weights)[0]


def _dni(rng: random.Random) -> str:
    number = rng.randrange(10_000_000, 99_999_999)
    return f"{number}{DNI_LETTERS[number % 23]}"


def _phone(rng: random.Random, country: str) -> str:
    if country == "ES":
        return f"+34 6{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}"
    return f"+44 7{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}"


def _address(rng: random.Random, country: str) -> dict[str, str]:
    city, prefix = rng.choice(CITIES[country])
    if country == "ES":
        street = f"Calle {rng.choice(STREETS_ES)} {rng.randrange(1, 120)}"
        postcode = f"{prefix}{rng.randrange(10, 99)}"
    else:
        street = f"{rng.randrange(1, 200)} {rng.choice(STREETS_EN)} Street"
        postcode = f"{prefix} {rng.randrange(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRST')}"
    return {"line1": street, "locality": city, "postal_code": postcode, "country": country}


def _email(rng: random.Random, given: str, family: str) -> str:
    def ascii_only(text: str) -> str:
        return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()

    style = rng.randrange(4)
    g, f = ascii_only(given).replace(" ", ""), ascii_only(family).split()[0]
    local = [f"{g}.{f}", f"{g[0]}{f}", f"{g}{f}{rng.randrange(1, 99)}", f"{f}.{g}"][style]
    return f"{local}{rng.randrange(100, 9999)}@{rng.choice(PROVIDERS)}"


def _new_person(rng: random.Random, pid: int) -> Person:
    country = "ES" if rng.random() < 0.65 else "GB"
    if country == "ES":
        given = _zipf(rng, GIVEN_ES)
        family = _zipf(rng, FAMILY_ES)
        if rng.random() < 0.6:
            family = f"{family} {_zipf(rng, FAMILY_ES)}"
    else:
        given, family = _zipf(rng, GIVEN_EN), _zipf(rng, FAMILY_EN)
    dob = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    return Person(
        pid,
        country,
        given,
        family,
        dob,
        _email(rng, given, family),
        _phone(rng, country),
        _address(rng, country),
        _dni(rng) if country == "ES" and rng.random() < 0.5 else None,
    )


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(5)
    if kind == 0:
        return text[:i] + text[i + 1 :]  # deletion
    if kind == 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]  # transposition
    if kind == 2:
        return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :]  # substitution
    if kind == 3:
        return text[:i] + text[i] + text[i:]  # doubled letter
    for wrong, right in OCR.items():  # an OCR confusion, if the text allows one
        if wrong in text:
            return text.replace(wrong, right, 1)
    return text[:i] + text[i + 1 :]


def _noise_case(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.08:
        return text.upper()
    if roll < 0.12:
        return "".join(
            c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)
        )
    return text


def _variant(rng: random.Random, current: Person, presence: dict[str, float]) -> dict[str, Any]:
    """One source's view of a person: a noisy subset of their (possibly updated) attributes."""
    given, family = current.given, current.family
    if rng.random() < 0.08 and current.given in NICKNAMES:
        given = NICKNAMES[current.given]
    if rng.random() < 0.08:
        given = _typo(rng, given)
    if rng.random() < 0.08:
        family = _typo(rng, family)
    if current.country == "ES" and " " in family and rng.random() < 0.15:
        family = family.split()[0]  # second surname dropped
    attrs: dict[str, Any] = {"given_name": _noise_case(rng, given)}
    if rng.random() < presence["family"]:
        attrs["family_name"] = _noise_case(rng, family)
        if rng.random() < 0.03:
            attrs["given_name"], attrs["family_name"] = attrs["family_name"], attrs["given_name"]
    dob = current.dob
    if rng.random() < presence["dob"]:
        text = dob.isoformat()
        if rng.random() < 0.03 and dob.day <= 12:
            text = f"{dob.year:04d}-{dob.day:02d}-{dob.month:02d}"
        elif rng.random() < 0.02:
            text = f"{dob.year + rng.choice([-1, 1]):04d}-{dob.month:02d}-{dob.day:02d}"
        attrs["date_of_birth"] = text
    if rng.random() < presence["email"]:
        attrs["email"] = current.email if rng.random() > 0.05 else current.email.upper()
    if rng.random() < presence["phone"]:
        attrs["phone"] = current.phone.replace(" ", "") if rng.random() < 0.5 else current.phone
    if rng.random() < presence["address"]:
        attrs["address"] = dict(current.address)
    if current.gov_id and rng.random() < presence["id"]:
        value = current.gov_id
        if rng.random() < 0.05:
            i = rng.randrange(0, 8)
            value = value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]
        attrs["government_id"] = {"type": "national_id", "country": "ES", "value": value}
    return attrs


def _moved(rng: random.Random, p: Person) -> Person:
    """The same person later in life: new address, email or phone."""
    updated = p
    if rng.random() < 0.15:
        updated = replace(updated, address=_address(rng, p.country))
    if rng.random() < 0.15:
        updated = replace(updated, email=_email(rng, p.given, p.family))
    if rng.random() < 0.10:
        updated = replace(updated, phone=_phone(rng, p.country))
    return updated


def generate(
    persons: int, seed: int = 42, profile: str = "sparse", namespace: str = ""
) -> Population:
    """`persons` people and their signals. Event and record ids count up per source from 1
    whatever the seed: give populations that meet in one store their own `namespace` (a prefix
    of both), or the second one's signals replay the first one's."""
    presence = PROFILES[profile]
    rng = random.Random(seed)
    population = Population()
    pid = 0
    while len(population.people) < persons:
        base = _new_person(rng, pid)
        pid += 1
        population.people.append(base)
        roll = rng.random()
        if roll < 0.03:  # twins: same surname, birth date, address and phone
            twin_given = _zipf(rng, GIVEN_ES if base.country == "ES" else GIVEN_EN)
            if twin_given != base.given:
                population.people.append(
                    replace(
                        base,
                        pid=pid,
                        given=twin_given,
                        email=_email(rng, twin_given, base.family),
                        gov_id=_dni(rng) if base.gov_id else None,
                    )
                )
                pid += 1
        elif roll < 0.10:  # household: shared surname, address and phone; other name and age
            member = _new_person(rng, pid)
            population.people.append(
                replace(member, family=base.family, address=base.address, phone=base.phone)
            )
            pid += 1

    record_ids = {source: 0 for source in SOURCES}
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for person in population.people:
        current = person
        for _ in range(rng.choices([1, 2, 3, 4], weights=[0.25, 0.4, 0.25, 0.1])[0]):
            current = _moved(rng, current)
            source = rng.choice(SOURCES)
            record_ids[source] += 1
            occurred = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
            population.signals.append(
                Emitted(
                    person.pid,
                    {
                        "event_id": f"{namespace}{source}-{record_ids[source]}",
                        "source_system": source,
                        "source_record_id": f"{namespace}{source[0].upper()}-{record_ids[source]}",
                        "event_type": "signup"
                        if source == "signup"
                        else f"{source}_import"
                        if source == "crm"
                        else "support_update",
                        "occurred_at": occurred.isoformat(),
                        "attributes": _variant(rng, current, presence[source]),
                    },
                )
            )
    return population
