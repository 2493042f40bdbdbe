"""What a store's runs cost: run-steps trained, against a uniform grid at the same resolution and budget.

Adaptive runs stop when their phase is decided and refinement samples only where phases change, so the
fair comparison is the grid a uniform sweep would need to show the same diagram: every refined axis at the
final resolution over its whole range, every other axis as it is, every run at the maximum budget.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from gpicl_phase.analysis.metrics import axis_dims
from gpicl_phase.store import FINISHED


def refined_resolution(ds: xr.Dataset) -> dict[str, float]:
    """Octaves between values of each refined axis in a uniform grid of the same resolution."""
    settings = json.loads(json.dumps(ds.attrs.get("refinement", {}))).get("settings", {})
    axes = set(ds.attrs.get("extended_axes", [])) | set(settings.get("axes", []))
    out = {}
    for axis in sorted(axes):
        if axis not in ds.dims:
            continue
        values = np.log2(np.sort(ds[axis].values.astype(np.float64)))
        gaps = np.diff(values)
        out[axis] = float(settings.get("resolution") or (gaps.min() if gaps.size else 1.0))
    return out


def compute_used(ds: xr.Dataset) -> dict:
    """Run-steps trained by finished runs and what a uniform grid at the same resolution and budget needs.

    Returns runs, run_steps, uniform_runs, uniform_run_steps, ratio (run_steps / uniform_run_steps),
    max_steps (the largest maximum budget) and resolution ({axis: octaves} of the refined axes).
    """
    status = ds["status"].values
    finished = np.isin(status, list(FINISHED))
    trained = np.where(finished, ds["steps_trained"].values, 0)
    max_steps = int(np.max(ds["max_steps"].values)) if ds["max_steps"].size else 0
    resolution = refined_resolution(ds)
    uniform_runs = 1
    for dim in axis_dims(ds):
        if dim in resolution:
            lo, hi = np.log2(ds[dim].values.min()), np.log2(ds[dim].values.max())
            uniform_runs *= int(round((hi - lo) / resolution[dim])) + 1
        else:
            uniform_runs *= ds.sizes[dim]
    uniform = uniform_runs * max_steps
    run_steps = int(trained.sum())
    return {"runs": int(finished.sum()), "run_steps": run_steps, "uniform_runs": uniform_runs,
            "uniform_run_steps": uniform, "ratio": run_steps / uniform if uniform else float("nan"),
            "max_steps": max_steps, "resolution": resolution}


def compute_text(ds: xr.Dataset) -> list[str]:
    """The summary lines of `compute_used`."""
    c = compute_used(ds)
    if not c["runs"]:
        return []
    grid = ", ".join(f"{a} every {r:g} octave" for a, r in c["resolution"].items()) or "the same axes"
    return [
        f"Compute: {c['run_steps']:,} run-steps in {c['runs']} runs; a uniform grid at the same resolution "
        f"({grid}: {c['uniform_runs']} runs) and maximum budget ({c['max_steps']:,} steps) needs "
        f"{c['uniform_run_steps']:,}: ratio {c['ratio']:.3f}",
        "",
    ]
