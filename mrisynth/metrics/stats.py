"""Summary statistics for evaluation tables: mean with a 95% confidence interval over clips."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

__all__ = ["Summary", "summarize", "intervals_overlap"]


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
