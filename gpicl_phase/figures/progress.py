"""Sweep progress: every run's status on a grid, and counts per status."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr

from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures import views
from gpicl_phase.figures.source import Source

STATUS = ("pending", "running", "done", "diverged", "failed")
STATUS_COLORS = ("#E5E5E5", "#56B4E9", "#009E73", "#E69F00", "#D55E00")  # Okabe-Ito, grey for pending
RUN_COLUMNS = ("x", "row", "status", "message")


def status_frame(source: Source) -> pd.DataFrame:
    """One row per run: the axes, x (num_tasks, or the first axis), row (the other axes' values), status, message."""
    ds = source.ds
    axes = ax.sweep_axes(ds)
    codes = source.status_codes.reshape(-1)
    x_axis = ax.TASKS if ax.TASKS in axes else axes[0]
    idx = pd.MultiIndex.from_product([ds[a].values for a in axes], names=axes).to_frame(index=False)
    rest = [a for a in axes if a != x_axis]
    idx["row"] = idx[rest].apply(lambda r: " ".join(ax.label(a, v) for a, v in zip(rest, r, strict=True)),
                                 axis=1) if rest else ""
    idx["x"] = idx[x_axis]
    idx["status"] = [STATUS[c] if 0 <= c < len(STATUS) else str(c) for c in codes]
    idx["message"] = _messages(ds, codes)
    return idx


def _messages(ds: xr.Dataset, codes: np.ndarray) -> np.ndarray:
    """Messages of diverged and failed runs only: each run is its own chunk, so reading all would be slow."""
    out = np.full(codes.shape, "", dtype=object)
    bad = np.flatnonzero(codes >= STATUS.index("diverged"))
    shape = ds["status"].shape
    for i in bad[:200]:  # a sweep that failed everywhere needs no more than a page of examples
        out[i] = str(ds["message"][np.unravel_index(i, shape)].values)
    return out


def counts(df: pd.DataFrame) -> dict[str, int]:
    """Runs per status, every status present (zero when none)."""
    c = df["status"].value_counts()
    return {s: int(c.get(s, 0)) for s in STATUS}


def progress_figure(df: pd.DataFrame, *, x_title: str, style: str = "screen") -> go.Figure:
    """A status grid: columns are x values, rows every other axis combination, colour by status."""
    xs = list(dict.fromkeys(df["x"]))
    rows = list(dict.fromkeys(df["row"]))
    xi, ri = {x: i for i, x in enumerate(xs)}, {r: i for i, r in enumerate(rows)}
    z = np.full((len(rows), len(xs)), np.nan)
    text = np.full(z.shape, "", dtype=object)
    for r in df.itertuples(index=False):
        z[ri[r.row], xi[r.x]] = STATUS.index(r.status) if r.status in STATUS else np.nan
        text[ri[r.row], xi[r.x]] = f"{r.row}<br>{x_title}={ax.fmt(r.x)}<br>{r.status}" + (
            f"<br>{r.message}" if r.message else "")
    n = len(STATUS)
    scale = []
    for k, c in enumerate(STATUS_COLORS):
        scale += [(k / n, c), ((k + 1) / n, c)]
    fig = go.Figure(go.Heatmap(
        x=[ax.fmt(x) for x in xs], y=rows, z=z, text=text, hovertemplate="%{text}<extra></extra>",
        colorscale=scale, zmin=-0.5, zmax=n - 0.5, xgap=1, ygap=1,
        colorbar=dict(title="status", tickvals=list(range(n)), ticktext=list(STATUS))))
    # First axis value at the top, like a table; every row labelled while labels still fit.
    fig.update_layout(xaxis_title=x_title, xaxis_type="category", yaxis_type="category",
                      yaxis=dict(autorange="reversed", dtick=1 if len(rows) <= 80 else None))
    st.apply_style(fig, style)
    # Tall sweeps get one ~14 px row each so every run stays visible.
    fig.update_layout(height=max(300, 14 * len(rows) + 120))
    return fig


def build(source: Source, query: dict, style: str = "screen") -> views.Built:
    """The status grid for a store (works on empty and half-written stores), with its per-run table."""
    df = status_frame(source)
    x_title = ax.TASKS if ax.TASKS in ax.sweep_axes(source.ds) else ax.sweep_axes(source.ds)[0]
    fig = progress_figure(df, x_title=x_title, style=style)
    c = counts(df)
    fig.update_layout(title=f"Sweep progress of {source.name}: " + ", ".join(f"{v} {k}" for k, v in c.items()))
    return views.Built(fig, df, "progress")
