"""Readable ranges for charts of heavy-tailed data: a histogram's robust window, the standard-normal
reference, TensorBoard's EMA smoothing and a log axis range from percentiles."""

from __future__ import annotations

import math

import numpy as np

TAIL = 0.005  # the robust window shows the 0.5th to 99.5th percentile; the rest is counted at the edges
SMOOTHING = 0.6  # TensorBoard's default smoothing weight
NORMAL_POINTS = 241


def robust_window(counts: np.ndarray, tail: float = TAIL) -> tuple[int, int]:
    """Bins [first, stop) of a histogram that leave at most `tail` of the total count out on each side
    (whole bins only, so what is left out is counted exactly); all bins for an empty histogram."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0, len(counts)
    first = int(np.searchsorted(np.cumsum(counts), tail * total, side="right"))
    stop = len(counts) - int(np.searchsorted(np.cumsum(counts[::-1]), tail * total, side="right"))
    return (first, stop) if first < stop else (0, len(counts))


def outside(edges: np.ndarray, counts: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    """Counts of the bins that lie wholly below `lo` and wholly above `hi`: what a chart over [lo, hi] hides."""
    counts = np.asarray(counts)
    return int(counts[edges[1:] <= lo].sum()), int(counts[edges[:-1] >= hi].sum())


def normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2 * math.pi)


def normal_curve(lo: float, hi: float, area: float = 1.0, points: int = NORMAL_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The standard normal density times `area` (a density histogram's area is 1) over [lo, hi]: what a
    BatchNorm output is at init (gamma 1, beta 0) when its input is close to normal."""
    x = np.linspace(lo, hi, points)
    return x, area * normal_pdf(x)


def ema(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """TensorBoard's smoothing along axis 0: last = weight * last + (1 - weight) * x, debiased by
    1 - weight^(finite values so far); a non-finite value is skipped (and stays NaN in the output)."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight={weight!r} is out of range: 0 <= weight < 1")
    values = np.asarray(values, dtype=np.float64)
    out = np.full_like(values, np.nan)
    for column in np.ndindex(values.shape[1:]):  # each series on its own: their gaps differ
        where = (slice(None), *column)
        series = values[where]
        ok = np.isfinite(series)
        if ok.any():
            kept = series[ok]
            out[where][ok] = _filter(kept, weight) / (1 - weight ** np.arange(1, len(kept) + 1))
    return out


def _filter(x: np.ndarray, weight: float) -> np.ndarray:
    """y_t = weight * y_(t-1) + (1 - weight) * x_t from y_(-1) = 0, along axis 0, in blocks: within a block
    y_k = weight^(k+1) * carry + weight^k * cumsum((1 - weight) * weight^-i * x_i), with weight^-k kept
    far from overflow by the block's length."""
    if weight == 0 or not len(x):
        return x.copy()
    block = max(1, min(256, int(600 / -math.log(weight))))
    out, carry = np.empty_like(x), np.zeros(x.shape[1:])
    for start in range(0, len(x), block):
        chunk = x[start:start + block]
        k = np.arange(len(chunk), dtype=np.float64).reshape(-1, *[1] * (x.ndim - 1))
        sums = np.cumsum((1 - weight) * chunk * weight ** -k, axis=0)
        out[start:start + block] = weight ** (k + 1) * carry + weight ** k * sums
        carry = out[start + len(chunk) - 1]
    return out


def log_range(values: np.ndarray, low: float = 1, high: float = 99, pad: float = 0.25) -> list[float] | None:
    """A log axis range (in decades, as plotly wants) from the `low` and `high` percentiles of the
    positive finite values, padded by `pad` decades; None when there is nothing to range over."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return None
    lo, hi = np.log10(np.percentile(values, [low, high]))
    return [float(lo - pad), float(hi + pad)]
