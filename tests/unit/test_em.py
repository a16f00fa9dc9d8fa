import random

import pytest

from mds.matching.em import train, train_per_block, u_from_random_pairs, unblocked
from mds.matching.parameters import DEFAULT_PARAMETERS, ModelParameters
from mds.services.training import random_pairs


def test_em_recovers_separated_m_and_u() -> None:
    rng = random.Random(7)
    vectors = []
    for _ in range(300):  # matches
        vectors.append(
            {"given_name": "exact", "date_of_birth": rng.choice(["exact"] * 9 + ["transposed"])}
        )
    for _ in range(3000):  # non-matches
        vectors.append(
            {"given_name": rng.choice(["different"] * 9 + ["exact"]), "date_of_birth": "different"}
        )
    result = train(vectors, DEFAULT_PARAMETERS)
    params = result.parameters
    assert result.converged
    assert params.m["date_of_birth"]["exact"] > 0.75
    assert params.u["date_of_birth"]["different"] > 0.95
    assert 0.05 < params.prior < 0.15
    assert ModelParameters.from_json(1, params.to_json()).weights == params.weights


def test_em_keeps_u_measured_on_random_pairs() -> None:
    # Candidates blocked on the given name all agree on it, matches or not: a u measured among
    # them makes the shared name worthless. Random pairs say how rare agreeing on it is.
    rng = random.Random(3)
    blocked = [{"given_name": "exact", "date_of_birth": "exact"}] * 300
    blocked += [{"given_name": "exact", "date_of_birth": "different"}] * 3000
    at_random = [
        {
            "given_name": rng.choice(["different"] * 99 + ["exact"]),
            "date_of_birth": rng.choice(["different"] * 999 + ["exact"]),
        }
        for _ in range(20_000)
    ]
    u = u_from_random_pairs(at_random)
    fixed = train(blocked, DEFAULT_PARAMETERS, fixed_u=u).parameters
    free = train(blocked, DEFAULT_PARAMETERS).parameters
    assert fixed.u == u
    assert fixed.weights["given_name"]["exact"] > 4
    assert free.weights["given_name"]["exact"] < 1
    with pytest.raises(ValueError, match="random pairs"):
        u_from_random_pairs([])


def test_em_per_block_leaves_out_the_fields_each_key_forces() -> None:
    # Pairs sharing an email are the same people; pairs sharing a name are mostly strangers
    # born on other days. Scored with random-pair u, the shared name alone would make every
    # stranger look like a match, and m would learn that matches are born on different days.
    match = {"given_name": "exact", "family_name": "exact", "email": "exact"}
    pairs: list[tuple[dict[str, str], set[str]]] = [
        ({**match, "date_of_birth": "exact"}, {"email", "full_name"})
    ] * 300
    stranger = {"given_name": "exact", "family_name": "exact", "email": "different"}
    pairs += [({**stranger, "date_of_birth": "different"}, {"full_name"})] * 3000
    random_u = {"given_name": "exact", "family_name": "exact", "email": "different"}
    at_random = [{**random_u, "date_of_birth": "different"}] * 10
    at_random += [{"given_name": "different", "family_name": "different"}] * 990
    u = u_from_random_pairs(at_random)
    per_block = train_per_block(pairs, DEFAULT_PARAMETERS, u).parameters
    pooled = train([v for v, _ in pairs], DEFAULT_PARAMETERS, fixed_u=u).parameters
    assert per_block.m["date_of_birth"]["exact"] > 0.75
    assert pooled.m["date_of_birth"]["exact"] < 0.25
    assert unblocked(match, ["full_name"]) == {"email": "exact"}


def test_random_pairs_are_distinct_pairs_of_different_records() -> None:
    pairs = random_pairs(list(range(100)), 500, seed=1)
    assert len(pairs) == len(set(pairs)) == 500
    assert all(a < b for a, b in pairs)
    assert len(random_pairs(list(range(5)), 500, seed=1)) == 10  # all there are
