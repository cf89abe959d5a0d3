"""How sure a score is: the one place for confidence intervals (compare tables, the honest-results verdict).

A metric measured on n evaluation examples is a proportion-like score in [0, 1]; its 95% interval comes from the
Wilson score interval, which stays inside [0, 1] and behaves on small sets (a normal interval around 1.0 from 20
examples would claim no uncertainty at all).
"""

from __future__ import annotations

import math

Z95 = 1.959964  # two-sided 95% quantile of the standard normal


def wilson_interval(score: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% interval of a proportion ``score`` observed on ``n`` examples; (0, 1) when there are none."""
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, float(score)))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def half_width(score: float, n: int) -> float:
    """Half the width of the 95% interval: the "± x" shown next to a score."""
    lo, hi = wilson_interval(score, n)
    return (hi - lo) / 2


def clearly_above(score: float, baseline: float, n: int) -> bool:
    """True when ``baseline`` lies below the score's 95% interval: the run beats it by more than chance."""
    lo, _ = wilson_interval(score, n)
    return baseline < lo
