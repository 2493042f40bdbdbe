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
from gpicl_phase.store import STATUS as STORE_STATUS

STATUS = tuple(STORE_STATUS)  # the store's names in code order: pending, running, done, diverged, failed, ...
STATUS_COLORS = ("#E5E5E5", "#56B4E9", "#009E73", "#E69F00", "#D55E00", "#FFFFFF", "#000000")  # Okabe-Ito + grey
GRID_MAX_RUNS = 600  # above this a run grid is taller than a screen: the page opens on the summary instead
VIEWS = ("summary", "grid")


def status_frame(source: Source) -> pd.DataFrame:
    """One row per run: the axes, x (num_tasks, or the first axis), row (the other axes' values), status, message."""
    ds = source.ds
    axes = ax.sweep_axes(ds)
    codes = source.status_codes.reshape(-1)
    x_axis = ax.TASKS if ax.TASKS in axes else axes[0]
    idx = pd.MultiIndex.from_product([ds[a].values for a in axes], names=axes).to_frame(index=False)
    rest = [a for a in axes if a != x_axis]
    row = pd.Series("", index=idx.index)
    for i, a in enumerate(rest):  # column by column: 10,000 runs in milliseconds, not a Python call per row
        row = row + ("" if i == 0 else " ") + idx[a].map(lambda v, a=a: ax.label(a, v))
    idx["row"] = row
    idx["x"] = idx[x_axis]
    names = np.array([*STATUS, "?"], dtype=object)
    idx["status"] = names[np.where((codes >= 0) & (codes < len(STATUS)), codes, len(STATUS))]
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
        colorbar=dict(title="status", tickvals=list(range(n)), ticktext=list(STATUS), lenmode="pixels", len=220,
                      yanchor="top", y=1)))
    # First axis value at the top, like a table; every row labelled while labels still fit.
    fig.update_layout(xaxis_title=x_title, xaxis_type="category", yaxis_type="category",
                      yaxis=dict(autorange="reversed", dtick=1 if len(rows) <= 80 else None))
    st.apply_style(fig, style)
    # Tall sweeps get one ~14 px row each so every run stays visible.
    fig.update_layout(height=max(300, 14 * len(rows) + 120))
    return fig


def summary_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Runs per status for each x value (columns x, status, runs), every status of the store present."""
    c = df.groupby(["x", "status"], sort=False).size().unstack(fill_value=0).reindex(columns=list(STATUS),
                                                                                       fill_value=0)
    c = c.reindex(sorted(c.index, key=lambda v: (isinstance(v, str), v)))
    return c.rename_axis(columns="status").stack().rename("runs").reset_index()


def summary_figure(counts_df: pd.DataFrame, *, x_title: str, style: str = "screen") -> go.Figure:
    """Stacked bars: runs per status at each x value, for sweeps too big for a readable run grid."""
    fig = go.Figure()
    xs = [ax.fmt(x) for x in dict.fromkeys(counts_df["x"])]
    for status, c in zip(STATUS, STATUS_COLORS, strict=True):
        g = counts_df[counts_df["status"] == status]
        if g["runs"].sum() == 0:
            continue
        fig.add_trace(go.Bar(x=[ax.fmt(x) for x in g["x"]], y=g["runs"], name=status,
                             marker=dict(color=c, line=dict(color="#888", width=0.5)),
                             hovertemplate=f"{x_title}=%{{x}}<br>{status}: %{{y}} runs<extra></extra>"))
    fig.update_layout(barmode="stack", xaxis_title=x_title, yaxis_title="runs", xaxis_type="category",
                      xaxis=dict(categoryorder="array", categoryarray=xs))
    return st.apply_style(fig, style)


def pick_view(n_runs: int, query: dict) -> str:
    """'grid' or 'summary': the query's choice, else the grid only while it stays readable."""
    default = "grid" if n_runs <= GRID_MAX_RUNS else "summary"
    return views.pick(query, "view", VIEWS, default)


def build(source: Source, query: dict, style: str = "screen") -> views.Built:
    """The status grid or, for big sweeps, counts per status (works on empty and half-written stores)."""
    return from_runs(source, status_frame(source), query, style)


def from_runs(source: Source, df: pd.DataFrame, query: dict, style: str = "screen") -> views.Built:
    """`build` from a `status_frame` the caller already has (the app's page also lists its failed runs)."""
    x_title = ax.TASKS if ax.TASKS in ax.sweep_axes(source.ds) else ax.sweep_axes(source.ds)[0]
    c = counts(df)
    title = f"Sweep progress of {source.name}: " + ", ".join(f"{v} {k}" for k, v in c.items() if v or k in (
        "pending", "running", "done", "diverged", "failed"))
    if pick_view(len(df), query) == "summary":
        summary = summary_frame(df)
        fig = summary_figure(summary, x_title=x_title, style=style)
        fig.update_layout(title=title)
        return views.Built(fig, summary, "progress")
    fig = progress_figure(df, x_title=x_title, style=style)
    fig.update_layout(title=title)
    return views.Built(fig, df, "progress")
