from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mds.domain.survivorship import (
    MOST_COMPLETE,
    MOST_RECENT,
    ONLY_SOURCE,
    SOURCE_TRUST,
    TIE_BREAK,
    Contribution,
    SurvivorshipRules,
    survive,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULES = SurvivorshipRules(trust_order=("crm", "support", "signup"))


def c(identity: str, source: str, attribute: str, value: object, days: int) -> Contribution:
    return Contribution(identity, source, attribute, value, T0 + timedelta(days=days))


def test_single_source_wins_as_only_source() -> None:
    winners = survive([c("s1", "signup", "email", "a@x.com", 0)], RULES)
    assert winners["email"].contribution.value == "a@x.com"
    assert winners["email"].rule == ONLY_SOURCE


def test_names_prefer_the_trusted_source_over_a_newer_one() -> None:
    winners = survive(
        [c("s1", "crm", "family_name", "García", 0), c("s2", "signup", "family_name", "Garcia", 9)],
        RULES,
    )
    assert winners["family_name"].contribution.value == "García"
    assert winners["family_name"].rule == SOURCE_TRUST


def test_contact_data_prefers_the_most_recent_observation() -> None:
    winners = survive(
        [c("s1", "crm", "email", "old@x.com", 0), c("s2", "signup", "email", "new@x.com", 5)],
        RULES,
    )
    assert winners["email"].contribution.value == "new@x.com"
    assert winners["email"].rule == MOST_RECENT


def test_address_tie_on_time_goes_to_the_more_complete_one() -> None:
    short = {"line1": "Calle Mayor 5"}
    full = {"line1": "Calle Mayor 5", "postal_code": "28013", "locality": "Madrid"}
    winners = survive(
        [c("s1", "crm", "address", short, 3), c("s2", "signup", "address", full, 3)], RULES
    )
    assert winners["address"].contribution.value == full
    assert winners["address"].rule == MOST_COMPLETE


def test_unlisted_sources_rank_below_listed_ones() -> None:
    assert RULES.trust("crm") > RULES.trust("signup") > RULES.trust("partner-feed") == 0


def test_full_tie_with_different_values_is_a_recorded_tie_break() -> None:
    winners = survive(
        [c("s1", "crm", "phone", "+341", 1), c("s2", "crm", "phone", "+342", 1)], RULES
    )
    assert winners["phone"].rule == TIE_BREAK


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["crm", "support", "signup", "other"]),
            st.integers(0, 30),
            st.sampled_from(["a", "b", "c"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_winner_does_not_depend_on_arrival_order(rows: list[tuple[str, int, str]]) -> None:
    contributions = [c(f"s{i}", s, "email", v, d) for i, (s, d, v) in enumerate(rows)]
    forward = survive(contributions, RULES)["email"]
    backward = survive(list(reversed(contributions)), RULES)["email"]
    assert forward == backward
