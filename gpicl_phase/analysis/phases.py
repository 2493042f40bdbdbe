"""Phase classification of runs and of seed-aggregated cells (rules and paper names in docs/analysis.md).

The rules themselves live in `gpicl_phase.rules` (numpy only), which the sweep's stop rules share.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from gpicl_phase.analysis.metrics import axis_coords, run_metrics, stream_names, unseen_datasets
from gpicl_phase.analysis.seeds import aggregate_seeds
from gpicl_phase.rules import PHASE_DTYPE, PHASES, Thresholds, decide
from gpicl_phase.store import STATUS

__all__ = ["PHASES", "PHASE_DTYPE", "classify", "classify_cells", "decide"]


def classify(ds: xr.Dataset, th: Thresholds = Thresholds()) -> xr.DataArray:
    """Phase label per run (str over the axis dims); accepts a results Dataset or `run_metrics` output.

    Only finished runs are classified; pending/running runs are "unfinished", diverged ones (status or a
    recorded diverged_step) "diverged", runs that crashed (status "failed") "error", cells refinement did not
    sample "unsampled".
    """
    m = run_metrics(ds, th)
    phase = decide(*_inputs(m, ""), k=m["num_classes"].values, budget_used=m["budget_used"].values, th=th)
    phase = np.where(m["usable"].values, phase, _status_label(m["status"].values, m["diverged_step"].values))
    dims, attrs = m["status"].dims, {"phases": list(PHASES)}
    return xr.DataArray(phase, dims=dims, coords=axis_coords(m), name="phase", attrs=attrs)


def classify_cells(ds: xr.Dataset, th: Thresholds = Thresholds(), dim: str = "seed") -> xr.Dataset:
    """Phase per cell (all axes but `dim`) from the seed-mean metrics of its usable runs.

    Returns `phase`, `agreement` (fraction of the cell's usable runs whose own phase is the cell's phase;
    NaN with none), `n_usable` and `n_runs`. A cell without usable runs is "unfinished" if any run still is,
    else "diverged" if any diverged, else "error".
    """
    m = run_metrics(ds, th)
    agg = aggregate_seeds(m, th, dim=dim)
    k = m["num_classes"].max(dim) if dim in m["num_classes"].dims else m["num_classes"]
    k = k.transpose(*agg["n_usable"].dims).values  # K never varies with the seed
    # A cell's plateau is a result when every usable seed either left the plateau or used its whole budget on it.
    used = agg["plateau_settled_mean"].values >= 1.0
    phase = decide(*_inputs(agg, "_mean"), k=k, budget_used=used, th=th)

    runs = classify(m, th)
    if dim not in runs.dims:
        runs, m = runs.expand_dims({dim: 1}), m.expand_dims({dim: 1})
    runs = runs.transpose(dim, ...)
    status = m["status"].transpose(dim, ...).values
    diverged = m["diverged_step"].transpose(dim, ...).values
    unfinished = np.isin(status, [STATUS["pending"], STATUS["running"]]).any(axis=0)
    gone = ((status == STATUS["diverged"]) | (diverged >= 0)).any(axis=0)
    unsampled = (status == STATUS["skipped"]).all(axis=0)
    fallback = np.select([unsampled, unfinished, gone], ["unsampled", "unfinished", "diverged"], "error")
    n_usable = agg["n_usable"].values
    phase = np.where(n_usable > 0, phase, fallback).astype(PHASE_DTYPE)

    ok = m["usable"].transpose(dim, ...).values
    same = ((runs.values == phase) & ok).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(n_usable > 0, same / n_usable, np.nan)
    cell_dims = agg["n_usable"].dims
    return xr.Dataset(
        {
            "phase": (cell_dims, phase, {"phases": list(PHASES)}),
            "agreement": (cell_dims, agreement),
            "n_usable": agg["n_usable"].variable,
            "n_runs": agg["n_runs"].variable,
        },
        coords={k: v for k, v in agg.coords.items() if set(v.dims) <= set(cell_dims)},
        attrs={"thresholds": th.to_json(), "seed_dim": dim, "eval_step": m.attrs["eval_step"]},
    )


def _inputs(m: xr.Dataset, suffix: str):
    """Seen first-accuracy, seen/unseen improvement, worst unseen-dataset improvement and final loss."""
    names = stream_names(m)
    for needed in ("seen", "unseen"):
        if needed not in names:
            raise ValueError(f"phase classification needs a {needed!r} stream; the store has {names}")
    imp = m[f"improvement{suffix}"]
    extra = unseen_datasets(m)
    datasets = imp.sel(stream=extra).transpose(..., "stream").values if extra else None
    return (
        m[f"acc_first{suffix}"].sel(stream="seen").values,
        imp.sel(stream="seen").values,
        imp.sel(stream="unseen").values,
        datasets,
        m[f"final_loss{suffix}"].values,
    )


def _status_label(status: np.ndarray, diverged_step: np.ndarray) -> np.ndarray:
    """Why a run has no phase, from its status."""
    labels = np.full(status.shape, "error", dtype=PHASE_DTYPE)
    labels[status == STATUS["skipped"]] = "unsampled"
    labels[np.isin(status, [STATUS["pending"], STATUS["running"]])] = "unfinished"
    labels[(status == STATUS["diverged"]) | ((status == STATUS["done"]) & (diverged_step >= 0))] = "diverged"
    return labels
