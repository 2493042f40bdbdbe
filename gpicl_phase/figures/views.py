"""What a view shows, resolved from a URL query against a store: metric names and the fixed axis values."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from gpicl_phase.figures import axes as ax
from gpicl_phase.figures.source import Source, StoreProblem


@dataclass(frozen=True)
class Built:
    """A figure and exactly the data it plots (the CSV written beside an export)."""

    figure: go.Figure
    data: pd.DataFrame
    name: str = ""  # the catalog name, used in file names


def metric_choices(source: Source) -> dict[str, str]:
    """Colour/metric keys -> labels: accuracy and improvement per stream, and the final training loss."""
    streams = [str(s) for s in source.ds["stream"].values]
    out = {f"acc:{s}": f"{s} accuracy (last positions)" for s in streams}
    out |= {f"improvement:{s}": f"{s} in-context improvement" for s in streams}
    out["final_loss"] = "final training loss"
    return out


def metric_values(source: Source, key: str) -> tuple[pd.DataFrame, str]:
    """Seed-aggregated metric per cell as columns value/spread/n over the cell axes, and its label."""
    choices = metric_choices(source)
    if key not in choices:
        raise StoreProblem(f"unknown metric {key!r}; choose one of {', '.join(choices)}")
    agg = source.agg
    if key == "final_loss":
        base, stream = "final_loss", None
    else:
        kind, stream = key.split(":", 1)
        base = "acc_last" if kind == "acc" else "improvement"
    parts = {"value": agg[f"{base}_mean"], "spread": agg[f"{base}_std"], "n": agg[f"{base}_n"]}
    if stream is not None:
        parts = {k: v.sel(stream=stream, drop=True) for k, v in parts.items()}
    frame = pd.DataFrame({k: v.to_series() for k, v in parts.items()}).reset_index()
    return frame, choices[key]


def require_axis(source: Source, axis: str, view: str, min_values: int = 1) -> None:
    """StoreProblem naming the store's axes when a view needs an axis the store does not sweep (with at least
    `min_values` values)."""
    axes = ax.cell_axes(source.ds)
    if axis not in axes:
        swept = ", ".join(axes) or "nothing"
        raise StoreProblem(f"the {view} needs a swept '{axis}' axis; '{source.name}' sweeps {swept}")
    if source.ds.sizes[axis] < min_values:
        raise StoreProblem(f"the {view} needs {min_values} or more {axis} values; '{source.name}' has "
                           f"{source.ds.sizes[axis]}")


def pick(query: dict, key: str, choices, default):
    """query[key] when it is one of choices, else default (stale URLs fall back instead of failing)."""
    value = query.get(key)
    return value if value in choices else default
