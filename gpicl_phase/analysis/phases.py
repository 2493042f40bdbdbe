"""Phase classification of runs and of seed-aggregated cells (rules and paper names in docs/analysis.md)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from gpicl_phase.analysis.metrics import axis_coords, run_metrics, stream_names, unseen_datasets
from gpicl_phase.analysis.seeds import aggregate_seeds
from gpicl_phase.analysis.thresholds import Thresholds
from gpicl_phase.store import STATUS

# Learned phases first, then labels that say why a run has no phase; never a guess.
PHASES = ("memorizing", "identifying", "generalizing", "failed", "unclassified", "diverged", "unfinished", "error")
PHASE_DTYPE = "<U12"


def decide(seen_first, seen_imp, unseen_imp, datasets_imp, final_loss, *, ln_k: float, th: Thresholds) -> np.ndarray:
    """The phase rules on plain arrays (any matching shapes): failed > generalizing > identifying > memorizing.

    `datasets_imp`: improvement per unseen-dataset stream on a trailing axis, or None when there are none.
    A NaN anywhere a rule needs a number makes that rule false, so such runs end "unclassified".
    """
    imp = th.improvement
    failed = final_loss >= ln_k * (1.0 - th.plateau_band)  # never got below the plateau band
    if datasets_imp is None or th.unseen_datasets == "ignore":
        datasets_ok = True
    else:
        reduce = np.all if th.unseen_datasets == "all" else np.any
        datasets_ok = reduce(datasets_imp >= imp, axis=-1)
    unseen_flat = unseen_imp < imp
    generalizing = (unseen_imp >= imp) & datasets_ok
    identifying = (seen_imp >= imp) & unseen_flat
    memorizing = (seen_first >= th.memorization_acc) & (seen_imp < imp) & unseen_flat
    return np.select(
        [failed, generalizing, identifying, memorizing],
        ["failed", "generalizing", "identifying", "memorizing"],
        default="unclassified",
    ).astype(PHASE_DTYPE)


def classify(ds: xr.Dataset, th: Thresholds = Thresholds()) -> xr.DataArray:
    """Phase label per run (str over the axis dims); accepts a results Dataset or `run_metrics` output.

    Only finished runs are classified; pending/running runs are "unfinished", diverged ones (status or a
    recorded diverged_step) "diverged", runs that crashed (status "failed") "error".
    """
    m = run_metrics(ds, th)
    phase = decide(*_inputs(m, ""), ln_k=np.log(m["num_classes"].values), th=th)
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
    phase = decide(*_inputs(agg, "_mean"), ln_k=np.log(k), th=th)

    runs = classify(m, th)
    if dim not in runs.dims:
        runs, m = runs.expand_dims({dim: 1}), m.expand_dims({dim: 1})
    runs = runs.transpose(dim, ...)
    status = m["status"].transpose(dim, ...).values
    diverged = m["diverged_step"].transpose(dim, ...).values
    unfinished = np.isin(status, [STATUS["pending"], STATUS["running"]]).any(axis=0)
    gone = ((status == STATUS["diverged"]) | (diverged >= 0)).any(axis=0)
    fallback = np.where(unfinished, "unfinished", np.where(gone, "diverged", "error"))
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
    labels[np.isin(status, [STATUS["pending"], STATUS["running"]])] = "unfinished"
    labels[(status == STATUS["diverged"]) | ((status == STATUS["done"]) & (diverged_step >= 0))] = "diverged"
    return labels
