"""Meta-test accuracy against state size and against parameter count, coloured by architecture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gpicl_phase.analysis import state_size_trend
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures import views
from gpicl_phase.figures.source import Source, StoreProblem
from gpicl_phase.store import StoreError, config_from_attrs

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon", "triangle-down")
POINT_COLUMNS = ("arch", "state_size", "param_count", "mean", "std", "n", "label")


def statesize_figure(points: pd.DataFrame, *, metric_title: str, style: str = "screen") -> go.Figure:
    """Two panels sharing y: accuracy vs state size (left) and vs parameter count (right), log x axes."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("vs state size", "vs parameter count"))
    for i, (arch, g) in enumerate(points.groupby("arch", sort=False)):
        for col, xcol in ((1, "state_size"), (2, "param_count")):
            fig.add_trace(go.Scatter(
                x=g[xcol], y=g["mean"], mode="markers", name=str(arch), legendgroup=str(arch), showlegend=col == 1,
                error_y=dict(type="data", array=g["std"], visible=True, thickness=1),
                marker=dict(color=st.color(i), size=st.marker_size(style) + 2, symbol=SYMBOLS[i % len(SYMBOLS)]),
                text=g["label"], customdata=g[["std", "n"]].to_numpy(),
                hovertemplate=f"%{{text}}<br>{xcol.replace('_', ' ')} %{{x}}<br>{metric_title} %{{y:.3f}}"
                              " ± %{customdata[0]:.3f} (n=%{customdata[1]})<extra></extra>"), row=1, col=col)
    for col, (xcol, title) in enumerate((("state_size", "state size (floats)"), ("param_count", "parameters")), 1):
        positive = len(points) and (points[xcol] > 0).all()
        ticks = st.log_ticks(points[xcol]) if positive else {}
        fig.update_xaxes(title_text=title, type="log" if positive else None, **ticks, row=1, col=col)
    fig.update_yaxes(title_text=metric_title, row=1, col=1)
    st.apply_style(fig, style, cols=2)
    fig.update_layout(legend=dict(tracegroupgap=0))  # one legend group per architecture: no gaps, so 9+ fit
    if not np.isfinite(points["mean"]).any() if len(points) else True:
        fig.add_annotation(text="no finished runs yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


# --- data: from a Source and a URL query to the tables above ---------------------------------------------

ARCH_AXES = ("arch", "model")


def resolve(source: Source, query: dict) -> dict:
    """The metric (a per-stream one) and the number of tasks to compare at (largest by default)."""
    choices = [k for k in views.metric_choices(source) if ":" in k]
    metric = views.pick(query, "metric", choices, "acc:unseen" if "acc:unseen" in choices else choices[0])
    fixed = ax.fixed_selection(source.ds, tuple(a for a in ax.cell_axes(source.ds) if a != ax.TASKS), query)
    return {"metric": metric, "fixed": fixed}


def arch_labels(source: Source) -> pd.Series:
    """Architecture per cell: the arch/model axis, else a cfg_model coordinate, else the base config's model."""
    ds = source.agg
    cells = ds["n_usable"].to_series().reset_index()
    for a in ARCH_AXES:
        if a in cells.columns:
            return cells[a].astype(str)
    if "cfg_model" in ds.coords:
        return ds["cfg_model"].broadcast_like(ds["n_usable"]).to_series().reset_index(drop=True).astype(str)
    try:
        model = config_from_attrs(source.ds.attrs).model
    except StoreError:  # a store not written by a sweep (no or no valid base config)
        model = "model"
    return pd.Series([model] * len(cells))


def tables(source: Source, sel: dict) -> tuple[pd.DataFrame, str, str]:
    """(points, metric label, subtitle with the state-size vs parameter-count statistics)."""
    kind, stream = sel["metric"].split(":", 1)
    base = "acc_last" if kind == "acc" else "improvement"
    agg = source.agg
    cols = {
        "state_size": agg["state_size_mean"], "param_count": agg["param_count_mean"],
        **{k: agg[f"{base}_{k}"].sel(stream=stream, drop=True) for k in ("mean", "std", "n")},
    }
    df = pd.DataFrame({k: v.to_series() for k, v in cols.items()}).reset_index()
    df["arch"] = arch_labels(source).to_numpy()
    axes = [a for a in ax.cell_axes(source.ds) if a in df.columns]
    df["label"] = df[axes].apply(lambda r: ", ".join(ax.label(a, v) for a, v in zip(axes, r, strict=True)), axis=1)
    for a, v in sel["fixed"].items():
        df = df[df[a] == v]
    df = df[np.isfinite(df["mean"]) & (df["n"] > 0)].reset_index(drop=True)
    label = views.metric_choices(source)[sel["metric"]]
    return df[list(POINT_COLUMNS)], label, _trend_text(source, sel, base, stream)


def _trend_text(source: Source, sel: dict, base: str, stream: str) -> str:
    m = source.metrics.sel(sel["fixed"]) if sel["fixed"] else source.metrics
    trend = state_size_trend(m, source.th, stream=stream, metric=base)
    parts = [f"{name.replace('_', ' ')}: Spearman ρ={row.spearman_rho:.2f}, R²={row.r2:.2f}"
             for name, row in trend.iterrows() if np.isfinite(row.spearman_rho)]
    return "; ".join(parts)


def build(source: Source, query: dict, style: str = "screen") -> views.Built:
    """Accuracy vs state size and vs parameter count for a store and query, with the points it plots."""
    source.check_finished()
    sizes = source.agg["state_size_mean"].values
    distinct = sorted({int(s) for s in np.ravel(sizes) if np.isfinite(s) and s > 0})
    if len(distinct) < 2:
        raise StoreProblem(f"{source.name}: its finished models have {len(distinct)} distinct nonzero state "
                           "size(s); the state-size plot needs two or more (e.g. sweeps/state_size.toml)")
    sel = resolve(source, query)
    points, label, trend = tables(source, sel)
    fig = statesize_figure(points, metric_title=label, style=style)
    fixed = ", ".join(ax.label(a, v) for a, v in sel["fixed"].items())
    title = f"State size in {source.name}" + (f" ({fixed})" if fixed else "")
    fig.update_layout(title=title + (f"<br><sup>{trend}</sup>" if trend else ""), margin=dict(t=95))
    return views.Built(fig, points, "statesize")
