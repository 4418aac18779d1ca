"""Small statistics over timing samples (seconds in, milliseconds out)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no samples."""
    if not xs:
        return math.nan
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(samples_s: Sequence[float]) -> dict[str, float | int]:
    """n, median and p95 of samples given in seconds, reported in milliseconds."""
    xs = [x * 1000 for x in samples_s]
    return {
        "n": len(xs),
        "median_ms": round(statistics.median(xs), 3) if xs else math.nan,
        "p95_ms": round(percentile(xs, 95), 3),
    }


def ratio(a: float, b: float) -> float:
    """a / b, NaN when either is missing or b is zero."""
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return math.nan
    return a / b
