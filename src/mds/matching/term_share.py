"""How common a value is among the identities counted, and how common it may yet prove to be."""

from __future__ import annotations

import math
from typing import NamedTuple


class TermShare(NamedTuple):
    share: float  # of the identities, the part holding the value
    bound: float  # the largest share the counts leave plausible (>= share)


def wilson_upper(successes: int, trials: int, z: float) -> float:
    """The upper end of the Wilson score interval of a proportion (z standard deviations)."""
    if trials <= 0:
        return 1.0
    p = min(successes / trials, 1.0)
    z2 = z * z
    centre = p + z2 / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return min((centre + spread) / (1 + z2 / trials), 1.0)


def term_share(count: int, counted: int, floor: int, z: float) -> TermShare:
    """`count` holders among `counted` identities. The share is taken of at least `floor`
    identities (in a young store every value would look common); its bound is the Wilson upper
    bound over the identities really counted, `z` deviations out (0: the share itself)."""
    share = count / max(counted, floor, 1)
    if not z:
        return TermShare(share, share)
    return TermShare(share, max(share, wilson_upper(count, counted, z)))
