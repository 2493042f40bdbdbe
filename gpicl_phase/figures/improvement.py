"""In-context improvement (last minus first position accuracy) vs number of tasks, phase bands shaded (Fig. 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures import views
from gpicl_phase.figures.source import Source

LINE_COLUMNS = ("stream", "num_tasks", "x", "mean", "std", "n")
BAND_COLUMNS = ("phase", "x0", "x1")


def phase_bands(x_phase: pd.DataFrame) -> pd.DataFrame:
    """Runs of equal phase along x (columns x, phase; x sorted) as bands [x0, x1] meeting half-way between cells."""
    x_phase = x_phase.sort_values("x").reset_index(drop=True)
    rows = []
    xs = list(x_phase["x"])
    for i, (x, phase) in enumerate(zip(xs, x_phase["phase"], strict=True)):
        lo = (xs[i - 1] + x) / 2 if i else x - 0.5
        hi = (x + xs[i + 1]) / 2 if i + 1 < len(xs) else x + 0.5
        if rows and rows[-1]["phase"] == phase:
            rows[-1]["x1"] = hi
        else:
            rows.append({"phase": phase, "x0": lo, "x1": hi})
    return pd.DataFrame(rows, columns=list(BAND_COLUMNS))


def improvement_figure(lines: pd.DataFrame, bands: pd.DataFrame, *, title: str = "",
                       style: str = "screen") -> go.Figure:
    """One line per stream with +-std error bars over seeds; phase bands behind; x is log2(number of tasks)."""
    fig = go.Figure()
    for b in bands.itertuples(index=False):
        if b.phase in st.PHASE_COLORS:
            fig.add_vrect(x0=b.x0, x1=b.x1, fillcolor=st.PHASE_COLORS[b.phase], opacity=0.15, line_width=0,
                          layer="below", annotation_text=b.phase, annotation_position="top left",
                          annotation_font_size=10)
    for i, (stream, g) in enumerate(lines.groupby("stream", sort=False)):
        g = g.sort_values("x")
        fig.add_trace(go.Scatter(
            x=g["x"], y=g["mean"], mode="lines+markers", name=stream,
            error_y=dict(type="data", array=g["std"], visible=True, thickness=1),
            line=dict(color=st.color(i), width=st.line_width(style)), marker=dict(size=st.marker_size(style)),
            customdata=g[["num_tasks", "std", "n"]].to_numpy(),
            hovertemplate=f"{stream}<br>tasks %{{customdata[0]}}<br>improvement %{{y:.3f}} ± %{{customdata[1]:.3f}}"
                          " (n=%{customdata[2]})<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="grey", width=1))
    fig.update_layout(title=title or None, xaxis_title="number of tasks",
                      yaxis_title="accuracy improvement within sequence",
                      xaxis=st.log2_ticks(lines["x"].to_numpy()) if len(lines) else {})
    st.apply_style(fig, style)
    return fig


# --- data: from a Source and a URL query to the tables above ---------------------------------------------


def resolve(source: Source, query: dict) -> dict:
    """Fixed values of every cell axis but num_tasks (largest model by default, as the paper's Fig. 4)."""
    views.require_axis(source, ax.TASKS, "in-context improvement plot", min_values=2)  # as the paper's Fig. 2 and 4
    return {"fixed": ax.fixed_selection(source.ds, (ax.TASKS,), query)}


def tables(source: Source, sel: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lines, bands): seed-aggregated improvement per stream and num_tasks, and the phase bands along it."""
    agg = source.agg.sel(sel["fixed"])
    parts = {k: agg[f"improvement_{k}"] for k in ("mean", "std", "n")}
    lines = pd.DataFrame({k: v.to_series() for k, v in parts.items()}).reset_index()
    lines = lines[[c for c in lines.columns if c in ("stream", ax.TASKS, "mean", "std", "n")]]
    lines.insert(2, "x", np.log2(lines[ax.TASKS].astype(float)))
    streams = [str(s) for s in source.ds["stream"].values]
    lines = lines.assign(_s=lines["stream"].map({s: i for i, s in enumerate(streams)}))
    lines = lines.sort_values(["_s", "x"]).drop(columns="_s").reset_index(drop=True)
    lines = lines[np.isfinite(lines["mean"])].reset_index(drop=True)
    phase = source.cells["phase"].sel(sel["fixed"]).to_series().reset_index()
    phase["x"] = np.log2(phase[ax.TASKS].astype(float))
    return lines[list(LINE_COLUMNS)], phase_bands(phase[["x", "phase"]])


def build(source: Source, query: dict, style: str = "screen") -> views.Built:
    """Paper Fig. 4 for a store and query, with the lines and bands it plots."""
    source.check_finished()
    sel = resolve(source, query)
    lines, bands = tables(source, sel)
    fixed = ", ".join(ax.label(a, v) for a, v in sel["fixed"].items())
    fig = improvement_figure(lines, bands, title=f"In-context improvement in {source.name}"
                             + (f" ({fixed})" if fixed else ""), style=style)
    data = pd.concat([lines.assign(part="line"), bands.assign(part="band")], ignore_index=True)
    return views.Built(fig, data, "improvement")
