"""Which store axes a figure plots, facets by, fixes or aggregates; and how axis values read as text."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

# Dims that index inside a run rather than across the sweep (DESIGN.md store schema).
RUN_DIMS = ("log_step", "eval_step", "stream", "position")
SEED = "seed"
TASKS = "num_tasks"
# Preferred model-size axes, in order: the paper's N_M, a preset architecture label, then depth/width proxies.
SIZE_AXES = ("d_model", "arch", "num_layers", "model")
# Preferred facet axes: the paper's interventions first.
FACET_AXES = ("batch_size", "arch", "model", "adam_eps", "bias", "lr", "tasks_per_batch")


def sweep_axes(ds: xr.Dataset) -> list[str]:
    """The swept dims of a store, in store order (seed included)."""
    return [d for d in ds.dims if d not in RUN_DIMS]


def cell_axes(ds: xr.Dataset) -> list[str]:
    """Swept dims that define a cell: every swept dim but the seed."""
    return [d for d in sweep_axes(ds) if d != SEED]


def default_y(ds: xr.Dataset, x: str = TASKS) -> str | None:
    """The model-size axis for phase diagrams, or None when the store sweeps nothing else."""
    axes = [a for a in cell_axes(ds) if a != x]
    for a in SIZE_AXES:
        if a in axes:
            return a
    return axes[0] if axes else None


def default_facet(ds: xr.Dataset, used: tuple[str, ...]) -> str | None:
    """The axis whose values become panels, preferring interventions; None when nothing is left."""
    axes = [a for a in cell_axes(ds) if a not in used]
    for a in FACET_AXES:
        if a in axes:
            return a
    return axes[0] if axes else None


def coerce(ds: xr.Dataset, axis: str, text) -> object:
    """The coordinate value of axis matching text (as found in a URL); ValueError if there is none."""
    values = ds[axis].values
    for v in values:
        if _same(v, text):
            return v.item() if hasattr(v, "item") else v
    raise ValueError(f"{axis}={text!r} is not in the store (values: {', '.join(fmt(v) for v in values)})")


def _same(v, text) -> bool:
    if isinstance(text, str):
        if isinstance(v, (str, np.str_)):
            return str(v) == text
        try:
            t = float(text)
        except ValueError:
            return False
    else:
        t = text
    try:
        return math.isclose(float(v), float(t), rel_tol=1e-9, abs_tol=0.0)
    except (TypeError, ValueError):
        return str(v) == str(t)


# Axes whose largest value is the better default when a view must fix them: the paper's interesting regime
# (many tasks, big models) is at the top of these sweeps.
PREFER_LAST = (TASKS, "d_model")


def fixed_selection(ds: xr.Dataset, free: tuple, query: dict) -> dict[str, object]:
    """Values for every cell axis a view does not plot: from the query when valid, else a default value."""
    sel = {}
    for a in cell_axes(ds):
        if a in free:
            continue
        try:
            sel[a] = coerce(ds, a, query[a]) if a in query else _default(ds, a)
        except ValueError:
            sel[a] = _default(ds, a)
    return sel


def _default(ds: xr.Dataset, axis: str):
    values = sorted_values(ds, axis)
    return values[-1] if axis in PREFER_LAST else values[0]


def fmt(v) -> str:
    """Short human text for an axis value: powers of two as 2^k, small floats in e-notation."""
    if isinstance(v, (str, np.str_)):
        return str(v)
    f = float(v)
    if f == int(f) and abs(f) < 1e15:
        return str(int(f))
    return f"{f:.3g}"


def label(axis: str, v) -> str:
    """'axis=value' text for legends and panel titles."""
    return f"{axis}={fmt(v)}"


def sorted_values(ds: xr.Dataset, axis: str) -> list:
    """Axis values in ascending order (strings keep store order) as Python scalars."""
    values = [v.item() if hasattr(v, "item") else v for v in ds[axis].values]
    if values and not isinstance(values[0], str):
        values = sorted(values)
    return values
