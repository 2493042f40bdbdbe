"""The tidy table: one row per run plus one per seed-aggregated cell, written as CSV and Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gpicl_phase.analysis.metrics import STREAM_METRICS, axis_coords, run_metrics, stream_names
from gpicl_phase.analysis.phases import classify, classify_cells
from gpicl_phase.analysis.plateau import plateaus
from gpicl_phase.analysis.seeds import aggregate_seeds, nan_stats
from gpicl_phase.rules import Thresholds
from gpicl_phase.store import STATUS

SCALARS = ("final_loss", "param_count", "state_size", "wall_time")


def metric_column(metric: str, stream: str) -> str:
    """Column name of a per-stream metric, e.g. `improvement[unseen:fashion_mnist]`."""
    return f"{metric}[{stream}]"


def tidy_table(ds: xr.Dataset, th: Thresholds = Thresholds(), dim: str = "seed") -> pd.DataFrame:
    """One row per run (`row` = "run") and, when there is a `dim` axis, one per cell (`row` = "seeds", `dim` <NA>).

    Columns: the axes and cfg_* coords; `status`, `phase`; run metrics (per-stream ones as
    `metric[stream]`, accuracies at chosen positions as `acc_p<pos>[stream]`); plateau (`leave_step`,
    `plateau_steps`, `plateau_censored`); on seed rows the same metric columns hold seed means, with
    `<column>_std`, `<column>_ci` (half-width at `th.ci_level`), `agreement`, `n_usable`, `n_runs`, `n_censored`.
    `df.attrs` holds the thresholds JSON and the eval step.
    """
    m = run_metrics(ds, th)
    pl = plateaus(ds, th)
    names = np.array(list(STATUS))
    runs = {
        "status": (m["status"].dims, names[m["status"].values.astype(int)]),
        "phase": classify(m, th).variable,
        **_flat(m, ""),
        "leave_step": pl["leave_step"].variable,
        "plateau_steps": pl["plateau_steps"].variable,
        "plateau_censored": pl["censored"].variable,
        "diverged_step": m["diverged_step"].variable,
        "message": (ds["message"].dims, np.array(ds["message"].values.tolist(), dtype=str)),
    }
    frame = _frame(xr.Dataset(runs, coords=axis_coords(m)), "run")
    if dim not in m["status"].dims:
        return _finish(frame, m, th)

    agg = aggregate_seeds(m, th, dim=dim)
    cells = classify_cells(m, th, dim=dim)
    leave = pl["leave_step"].where(pl["usable"]).transpose(dim, ...)
    leave_stats = nan_stats(leave.values, 0, th.ci_level)
    cell_dims = leave.dims[1:]
    seeds = {
        "phase": cells["phase"].variable,
        "agreement": cells["agreement"].variable,
        "n_usable": cells["n_usable"].variable,
        "n_runs": cells["n_runs"].variable,
    }
    for stat, suffix in (("mean", ""), ("std", "_std"), ("ci", "_ci")):
        seeds |= {f"{k}{suffix}": v for k, v in _flat(agg, f"_{stat}").items()}
        seeds[f"leave_step{suffix}"] = (cell_dims, leave_stats[stat])
    seeds["n_censored"] = (pl["censored"] & pl["usable"]).sum(dim).variable
    coords = {k: v for k, v in axis_coords(m).items() if dim not in v.dims}
    cell_frame = _frame(xr.Dataset(seeds, coords=coords), "seeds")
    return _finish(pd.concat([frame, cell_frame], ignore_index=True), m, th)


def write_tables(df: pd.DataFrame, out_prefix: str | Path) -> list[Path]:
    """Write `<prefix>.csv`, `<prefix>.parquet` and, from df.attrs, `<prefix>.thresholds.json`; return the paths."""
    prefix = Path(out_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = [prefix.with_name(prefix.name + ext) for ext in (".csv", ".parquet")]
    df.to_csv(paths[0], index=False)
    df.to_parquet(paths[1], index=False)  # pandas keeps df.attrs in the Parquet metadata
    if "thresholds" in df.attrs:
        paths.append(prefix.with_name(prefix.name + ".thresholds.json"))
        paths[-1].write_text(df.attrs["thresholds"] + "\n")
    return paths


def _flat(m: xr.Dataset, suffix: str) -> dict[str, xr.Variable]:
    """Per-stream metrics (and positions) split into one variable per column; run scalars as they are."""
    out = {}
    for metric in STREAM_METRICS:
        for stream in stream_names(m):
            out[metric_column(metric, stream)] = m[metric + suffix].sel(stream=stream).variable
    for pos in m["at_position"].values:
        for stream in stream_names(m):
            at = m["acc_at" + suffix].sel(stream=stream, at_position=pos)
            out[metric_column(f"acc_p{pos}", stream)] = at.variable
    for name in SCALARS:
        out[name] = m[name + suffix].variable
    return out


def _frame(table: xr.Dataset, kind: str) -> pd.DataFrame:
    """A flat DataFrame of an all-axes Dataset with the row kind first."""
    df = table.to_dataframe().reset_index()
    df.insert(0, "row", kind)
    return df


def _finish(df: pd.DataFrame, m: xr.Dataset, th: Thresholds) -> pd.DataFrame:
    """Nullable dtypes where seed rows leave run-only columns empty, and the provenance in attrs."""
    for name in m["status"].dims:
        if m[name].dtype.kind in "iu":
            df[name] = df[name].astype("Int64")
    df["plateau_censored"] = df["plateau_censored"].astype("boolean")
    df.attrs = {"thresholds": th.to_json(), "eval_step": int(m.attrs["eval_step"])}
    return df
