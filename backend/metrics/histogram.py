"""Execution-time histograms: fixed bucket bounds, so histograms from any worker and any second add up.

The same bounds and the same percentile rule are in frontend/src/metrics/histogram.ts (the browser merges the
ticks of several workers and computes p50/p95 itself); tests/metrics/test_histogram.py and its Vitest twin check
the same vectors.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

# Upper bounds in milliseconds; bucket i holds durations in (BOUNDS_MS[i-1], BOUNDS_MS[i]], the last bucket holds
# everything above the last bound. Roughly 1-2.5-5 steps: a percentile read from them is within a bucket's width.
BOUNDS_MS: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
)  # fmt: skip
BUCKETS = len(BOUNDS_MS) + 1


def bucket_of(ms: float) -> int:
    """The bucket a duration falls in."""
    return bisect_left(BOUNDS_MS, ms)


def empty() -> list[int]:
    return [0] * BUCKETS


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    out = empty()
    for hist in histograms:
        for i, count in enumerate(hist[:BUCKETS]):
            out[i] += int(count)
    return out


def percentile(hist: Sequence[int], q: float, max_ms: float | None = None) -> float | None:
    """The q-quantile (0 < q ≤ 1) in ms, interpolated linearly inside its bucket; None when there is no sample.

    The bucket's upper edge is capped by the observed maximum (and the open last bucket ends there), so a
    percentile never exceeds the slowest call actually seen.
    """
    total = sum(hist)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(hist):
        if count <= 0:
            continue
        if seen + count >= rank:
            lower = BOUNDS_MS[i - 1] if i > 0 else 0.0
            upper = BOUNDS_MS[i] if i < len(BOUNDS_MS) else (max_ms if max_ms is not None else lower)
            if max_ms is not None:
                upper = min(upper, max_ms)
                lower = min(lower, upper)
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return max_ms
