"""Summary statistics for evaluation tables: mean with a 95% confidence interval over clips,
and where one value lies among reference values (generated against real)."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

__all__ = ["Summary", "summarize", "intervals_overlap", "percentile_rank", "within_range"]


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean of ``n`` finite values with a two-sided 95% t-interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int

    def format(self, digits: int = 3) -> str:
        if self.n == 0:
            return "n/a"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def summarize(values, confidence: float = 0.95) -> Summary:
    """Mean and t-based confidence interval of the finite entries of ``values`` (NaN skipped)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Summary(float("nan"), float("nan"), float("nan"), 0)
    m = float(v.mean())
    if n == 1 or v.std() == 0:
        return Summary(m, m, m, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return Summary(m, m - half, m + half, n)


def intervals_overlap(a: Summary, b: Summary) -> bool:
    """Whether two confidence intervals overlap (a conservative 'not clearly different')."""
    return not (a.high < b.low or b.high < a.low)


def percentile_rank(value: float, references) -> float:
    """Percentile rank (0–100) of ``value`` among the finite ``references``: the percentage
    below it plus half the percentage equal to it (so the median of the references ranks 50).

    NaN when ``value`` is NaN or there are no finite references.
    """
    ref = np.asarray(references, dtype=np.float64).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size == 0 or not np.isfinite(value):
        return float("nan")
    below = np.count_nonzero(ref < value)
    equal = np.count_nonzero(ref == value)
    return float(100.0 * (below + 0.5 * equal) / ref.size)


def within_range(value: float, references, coverage: float = 0.95) -> bool:
    """Whether ``value`` lies within the central ``coverage`` of the finite ``references``
    (between their ``(1 - coverage) / 2`` and ``(1 + coverage) / 2`` quantiles, linear
    interpolation; with few references this is close to their min–max range).

    Raises:
        ValueError: no finite references, ``value`` NaN, or ``coverage`` outside (0, 1].
    """
    ref = np.asarray(references, dtype=np.float64).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        raise ValueError("within_range: no finite reference values")
    if not np.isfinite(value):
        raise ValueError("within_range: the value is NaN or infinite")
    if not 0 < coverage <= 1:
        raise ValueError(f"within_range: coverage must be in (0, 1], got {coverage}")
    lo, hi = np.quantile(ref, [(1 - coverage) / 2, (1 + coverage) / 2])
    return bool(lo <= value <= hi)
