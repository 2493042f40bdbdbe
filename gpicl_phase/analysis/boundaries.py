"""Transition boundaries: the task count where in-context improvement on unseen tasks first crosses the threshold."""

from __future__ import annotations

import numpy as np
import xarray as xr

from gpicl_phase.analysis.metrics import axis_coords, run_metrics
from gpicl_phase.analysis.seeds import nan_stats
from gpicl_phase.rules import Thresholds

# Why a boundary is (not) a number; stored as int8 flags beside it.
FLAGS = {"crossed": 0, "below_range": 1, "above_range": 2, "no_data": 3}


def first_crossing(x: np.ndarray, y: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each row of `y` [M, n] (over increasing `x` [n]) first reaches `threshold`, interpolated linearly.

    NaN points are skipped: the crossing is between the last finite point below the threshold and the first
    finite point at or above it. Returns (x_cross [M], flag [M]) with FLAGS: "below_range" when the first
    finite point is already above (the crossing lies before the range), "above_range" when no point reaches
    it, "no_data" when a row has fewer than two finite points (e.g. a single task count).
    """
    M, n = y.shape
    finite = np.isfinite(y)
    above = finite & (y >= threshold)
    hit = np.argmax(above, axis=1)
    crossed = above.any(axis=1)
    # Index of the last finite point strictly before each position (-1 where none).
    last_finite = np.maximum.accumulate(np.where(finite, np.arange(n), -1), axis=1)
    before = np.concatenate([np.full((M, 1), -1), last_finite[:, :-1]], axis=1)
    prev = before[np.arange(M), hit]
    ok = crossed & (prev >= 0)
    i0, i1 = np.where(ok, prev, 0), np.where(ok, hit, 0)
    y0, y1 = y[np.arange(M), i0], y[np.arange(M), i1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(ok, (threshold - y0) / (y1 - y0), np.nan)
    x_cross = np.where(ok, x[i0] + frac * (x[i1] - x[i0]), np.nan)
    n_finite = finite.sum(axis=1)
    flag = np.select(
        [ok, n_finite < 2, crossed],
        [FLAGS["crossed"], FLAGS["no_data"], FLAGS["below_range"]],
        default=FLAGS["above_range"],
    ).astype(np.int8)
    return x_cross, flag


def transition_boundaries(
    ds: xr.Dataset,
    th: Thresholds = Thresholds(),
    *,
    stream: str = "unseen",
    metric: str = "improvement",
    axis: str = "num_tasks",
    dim: str = "seed",
    threshold: float | None = None,
) -> xr.Dataset:
    """log2(`axis`) where `metric` on `stream` first crosses `threshold` (default `th.improvement`), per series.

    With the default threshold the improvement is read as a fraction of the headroom above chance (1 - 1/K),
    as the phase rules read it; an explicit `threshold` is in the metric's own units.

    Series are all other axes including `dim` (seeds). Returns over the other axes: `boundary_log2` and
    `boundary_flag` per seed; `boundary_log2_mean/_std/_ci/_n` across seeds (crossing seeds only); and
    `boundary_log2_of_mean`/`flag_of_mean` from the seed-mean curve. NaN, never an error, when a series does
    not cross inside the range or has a single task count. Only usable runs count.
    """
    m = run_metrics(ds, th)
    if axis not in m["status"].dims:
        raise ValueError(f"no {axis!r} axis to find a transition along; axes: {list(m['status'].dims)}")
    y = m[metric].sel(stream=stream).where(m["usable"])
    normalized = threshold is None and metric == "improvement"
    if normalized:  # the phase rules' threshold is a fraction of the headroom above chance, 1 - 1/K
        y = y / (1.0 - 1.0 / m["num_classes"])
    level = th.improvement if threshold is None else threshold
    values = m[axis].values.astype(np.float64)
    if np.any(values <= 0):
        y, values = y.isel({axis: values > 0}), values[values > 0]
    order = np.argsort(values)
    x = np.log2(values[order])
    y = y.isel({axis: order}).transpose(..., axis)

    def crossings(curves: xr.DataArray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Crossing and flag of every curve, shaped by the curves' other dims."""
        dims = curves.dims[:-1]
        flat = curves.values.reshape(-1, curves.shape[-1])
        cross, flag = first_crossing(x, flat, level)
        shape = curves.shape[:-1]
        return cross.reshape(shape), flag.reshape(shape), dims

    cross, flag, dims = crossings(y)
    data = {"boundary_log2": (dims, cross), "boundary_flag": (dims, flag)}
    if dim in y.dims:
        seed_axis = dims.index(dim)
        rest = tuple(d for d in dims if d != dim)
        for stat, values_ in nan_stats(cross, seed_axis, th.ci_level).items():
            data[f"boundary_log2_{stat}"] = (rest, values_)
        mean_curve = _masked_mean(y, dim)
        cross_m, flag_m, rest_m = crossings(mean_curve)
        data |= {"boundary_log2_of_mean": (rest_m, cross_m), "flag_of_mean": (rest_m, flag_m)}
    coords = {k: v for k, v in axis_coords(m).items() if axis not in v.dims}
    attrs = {
        "stream": stream,
        "metric": metric,
        "axis": axis,
        "threshold": level,
        "normalized": int(normalized),
        "flag_values": list(FLAGS.values()),
        "flag_meanings": " ".join(FLAGS),
        "thresholds": th.to_json(),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _masked_mean(y: xr.DataArray, dim: str) -> xr.DataArray:
    """Mean over `dim` of the finite values (NaN where none), without all-NaN warnings."""
    finite = np.isfinite(y)
    total = y.where(finite, 0.0).sum(dim)
    count = finite.sum(dim)
    return (total / count.where(count > 0)).transpose(..., y.dims[-1])
