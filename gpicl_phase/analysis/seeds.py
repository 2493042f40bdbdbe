"""Seed aggregation: mean, standard deviation, t-based confidence interval and count, over usable runs only."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from gpicl_phase.analysis.metrics import axis_coords, run_metrics
from gpicl_phase.rules import Thresholds

SKIP = ("status", "diverged_step", "usable", "stop_reason", "round")  # codes and masks, not quantities


def nan_stats(values: np.ndarray, axis: int, level: float) -> dict[str, np.ndarray]:
    """Mean, std (ddof 1), CI half-width (Student t, `level`) and count of the finite values along `axis`.

    Written out rather than np.nanmean/nanstd, which warn on all-NaN slices (warnings are errors in tests);
    std and ci are NaN below two values, mean is NaN with none.
    """
    finite = np.isfinite(values)
    n = finite.sum(axis=axis)
    x = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, x.sum(axis=axis) / n, np.nan)
        dev = np.where(finite, values - np.expand_dims(mean, axis), 0.0)
        std = np.where(n > 1, np.sqrt((dev**2).sum(axis=axis) / (n - 1)), np.nan)
        t = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
        ci = np.where(n > 1, t * std / np.sqrt(n), np.nan)
    return {"mean": mean, "std": std, "ci": ci, "n": n}


def aggregate_seeds(ds: xr.Dataset, th: Thresholds = Thresholds(), dim: str = "seed") -> xr.Dataset:
    """For every metric m of `run_metrics`: m_mean, m_std, m_ci (half-width) and m_n over `dim`, usable runs only.

    Accepts a results Dataset or `run_metrics` output. Without a `dim` axis every run is its own cell (n = 1).
    Also gives `n_runs` (runs in the cell) and `n_usable`.
    """
    metrics = run_metrics(ds, th)
    ok = metrics["usable"]
    if dim not in metrics.dims:
        metrics, ok = metrics.expand_dims({dim: 1}), ok.expand_dims({dim: 1})
    out = {}
    for name, var in metrics.data_vars.items():
        if name in SKIP:
            continue
        masked = var.where(ok).transpose(dim, ...)  # where() also turns the int counts into float
        dims = [d for d in masked.dims if d != dim]
        for stat, values in nan_stats(masked.values.astype(np.float64), 0, th.ci_level).items():
            out[f"{name}_{stat}"] = (dims, values)
    cell_dims = tuple(d for d in ok.dims if d != dim)
    out["n_runs"] = (cell_dims, np.full(ok.isel({dim: 0}).shape, ok.sizes[dim]))
    out["n_usable"] = ok.sum(dim).variable
    coords = {k: v for k, v in axis_coords(metrics).items() if dim not in v.dims}
    coords |= {k: metrics.coords[k].variable for k in ("stream", "at_position")}
    return xr.Dataset(out, coords=coords, attrs={**metrics.attrs, "kind": "seed_aggregate", "seed_dim": dim})
