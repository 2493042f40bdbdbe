"""Per-run metrics read at one eval step: first/last accuracy, in-context improvement, AUC, final loss.

Adaptive runs stop at different meta-tests, so each run is read at its own last meta-test (or at the eval step
asked for, when the run got that far): `read_step`. `budget_used` says whether the run had trained its maximum
budget by then, which the phase rules need ("failed" versus "unresolved").
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from gpicl_phase.rules import Thresholds, on_plateau
from gpicl_phase.store import STATUS

METRICS_KIND = "run_metrics"
STREAM_METRICS = ("acc_first", "acc_last", "improvement", "auc")
RUN_VARIABLES = ("param_count", "state_size", "wall_time", "status", "diverged_step", "steps_trained", "max_steps",
                 "stop_reason", "round")


def axis_dims(ds: xr.Dataset) -> list[str]:
    """The swept axes of a results (or metrics) Dataset, in store order."""
    return list(ds["status"].dims)


def num_classes(ds: xr.Dataset) -> int:
    """K, the number of classes (chance = 1/K, plateau at ln K); 10 when the store does not say."""
    return int(ds.attrs.get("num_classes", 10))


def classes_per_run(ds: xr.Dataset) -> xr.DataArray:
    """K per run (over the axis dims): from a swept `num_classes` axis or a preset's `cfg_num_classes`
    coordinate when the sweep varies it, else the store's attribute."""
    dims = axis_dims(ds)
    template = xr.zeros_like(ds["status"], dtype=np.int64)
    for name in ("num_classes", "cfg_num_classes"):
        if name in ds.coords and set(ds[name].dims) <= set(dims):
            return (template + ds[name].astype(np.int64)).transpose(*dims).rename("num_classes")
    return (template + num_classes(ds)).rename("num_classes")


def usable(ds: xr.Dataset) -> xr.DataArray:
    """Runs whose numbers may be classified and aggregated: finished, never diverged."""
    return (ds["status"] == STATUS["done"]) & (ds["diverged_step"] < 0)


def axis_coords(ds: xr.Dataset, extra: dict | None = None) -> dict:
    """The axis coords plus every non-dim coord living on axis dims (cfg_*), to carry into derived Datasets."""
    dims = set(axis_dims(ds))
    coords = {name: c.variable for name, c in ds.coords.items() if c.dims and set(c.dims) <= dims}
    return coords | (extra or {})


def run_metrics(ds: xr.Dataset, th: Thresholds = Thresholds()) -> xr.Dataset:
    """Metrics per run (over the axis dims) and stream, at each run's `read_step`: its last meta-test at or
    before `th.eval_step` (default: the run's last meta-test).

    `acc_first`/`acc_last`: accuracy averaged over the first `n_first` / last `n_last` positions (one position
    is one test example, so a single position is noisy); `improvement` = acc_last - acc_first; `auc`: area
    under the accuracy-vs-position curve (trapezoid) divided by its length, in [0, 1]; `acc_at`: accuracy at
    `th.positions` (those inside the sequence); `final_loss`: the last finite training loss up to `read_step`;
    `budget_used`: `read_step` reached the run's maximum budget (`max_steps`); `plateau_settled`: the run left
    the plateau, or stayed on it through its maximum budget (so its plateau is a result, not a cut).
    Passing a Dataset that is already `run_metrics` output returns it unchanged.
    """
    if ds.attrs.get("kind") == METRICS_KIND:
        return ds
    dims = axis_dims(ds)
    steps = ds["eval_step"].values
    step = int(steps[-1]) if th.eval_step is None else th.eval_step
    if step not in steps:
        raise ValueError(f"eval_step {step} is not in the store's eval steps {steps.tolist()}")
    acc_ESP = np.asarray(ds["eval_acc"].transpose(*dims, "eval_step", "stream", "position").values)
    limit = int(np.searchsorted(steps, step))
    has = np.isfinite(acc_ESP[..., : limit + 1, :, :]).any(axis=(-1, -2))  # [*axes, E']
    idx = np.where(has.any(-1), limit - np.argmax(has[..., ::-1], axis=-1), limit)
    acc_SP = np.take_along_axis(acc_ESP, idx[..., None, None, None], axis=-3)[..., 0, :, :].astype(np.float64)
    read_step = steps[idx]
    T = acc_SP.shape[-1]
    if max(th.n_first, th.n_last) > T:  # a window past the sequence would silently become the whole of it
        raise ValueError(f"n_first {th.n_first} / n_last {th.n_last}: the store has {T} positions per sequence; "
                         "choose windows that fit")
    first = acc_SP[..., : min(th.n_first, T)].mean(axis=-1)
    last = acc_SP[..., -min(th.n_last, T) :].mean(axis=-1)
    auc = np.trapezoid(acc_SP, axis=-1) / (T - 1) if T > 1 else acc_SP[..., 0]
    at = [p for p in th.positions if p < T]

    by_stream = [*dims, "stream"]
    out = xr.Dataset(
        {
            "acc_first": (by_stream, first),
            "acc_last": (by_stream, last),
            "improvement": (by_stream, last - first),
            "auc": (by_stream, auc),
            "acc_at": ([*by_stream, "at_position"], acc_SP[..., at]),
            "final_loss": (dims, _last_finite(np.where(ds["log_step"].values <= read_step[..., None],
                                                       ds["train_loss"].transpose(*dims, "log_step").values,
                                                       np.nan))),
            **{name: ds[name].variable for name in RUN_VARIABLES},
            "num_classes": classes_per_run(ds).variable,
            "read_step": (dims, read_step.astype(np.int64)),
            "budget_used": (dims, (read_step >= ds["max_steps"].transpose(*dims).values)),
        },
        coords=axis_coords(ds, {"stream": ds["stream"].variable, "at_position": np.asarray(at, dtype=np.int64)}),
        attrs={
            "kind": METRICS_KIND,
            "eval_step": step,
            "num_classes": num_classes(ds),
            "thresholds": th.to_json(),
        },
    )
    out["usable"] = usable(out)
    out["plateau_settled"] = out["budget_used"] | ~on_plateau(out["final_loss"], out["num_classes"], th)
    return out


def stream_names(ds: xr.Dataset) -> list[str]:
    """Stream names as plain str."""
    return [str(s) for s in ds["stream"].values]


def unseen_datasets(ds: xr.Dataset) -> list[str]:
    """The `unseen:<dataset>` streams (new datasets rather than new tasks)."""
    return [s for s in stream_names(ds) if s.startswith("unseen:")]


def _last_finite(values: np.ndarray) -> np.ndarray:
    """The last finite entry along the last axis (NaN where none): the latest loss of finished or running runs."""
    finite = np.isfinite(values)
    n = values.shape[-1]
    if n == 0:
        return np.full(values.shape[:-1], np.nan)
    idx = n - 1 - np.argmax(finite[..., ::-1], axis=-1)
    last = np.take_along_axis(values, idx[..., None], axis=-1)[..., 0].astype(np.float64)
    return np.where(finite.any(axis=-1), last, np.nan)
