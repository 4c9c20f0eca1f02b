"""Latency as a distribution: percentiles of per-item times, each labelled with what it measures.

    distribution([0.2, 0.4, 0.3], "per request: the client's round trip")
    -> {"measures": "per request: ...", "items": 3, "p50_s": 0.3, "p90_s": 0.38, ...}

The eval records the student's per-item times (evals.generate: an item's share of its batch's
time, or a served student's round trip); the report adds the teacher's, from the journal.
"""

from __future__ import annotations

from typing import Any

QUANTILES = (50, 90, 95, 99)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def distribution(values: list[float], measures: str) -> dict[str, Any] | None:
    """Items, p50 / p90 / p95 / p99, mean and max of `values` (seconds); None when empty."""
    if not values:
        return None
    out: dict[str, Any] = {"measures": measures, "items": len(values)}
    for q in QUANTILES:
        out[f"p{q}_s"] = percentile(values, q)
    out["mean_s"] = sum(values) / len(values)
    out["max_s"] = max(values)
    return out
