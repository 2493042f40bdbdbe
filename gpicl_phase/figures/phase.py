"""Phase diagram: number of tasks (log2) x model size, one panel per facet value, boundary drawn over it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures import views
from gpicl_phase.figures.source import Source

# Columns of the cell table a phase diagram plots (and exports as CSV), one row per (facet, y, x) cell.
CELL_COLUMNS = ("facet", "y", "y_order", "num_tasks", "x", "value", "spread", "n", "phase", "agree", "key")
BOUNDARY_COLUMNS = ("facet", "y", "x")
MAX_COLS = 3


def phase_figure(cells: pd.DataFrame, boundary: pd.DataFrame | None, color: str, *, y_title: str,
                 metric_title: str = "", style: str = "screen") -> go.Figure:
    """Heatmap panels of cells (CELL_COLUMNS) coloured by phase (color='phase') or by value; boundary on top.

    Rows need not share columns (refinement samples each model size where its own phases change): each
    sampled cell spans halfway to its row's neighbours, and a dot marks where the runs are, so a refined,
    non-uniform task axis is drawn as it was sampled.
    """
    facets = list(dict.fromkeys(cells["facet"])) or [""]
    cols = min(len(facets), MAX_COLS)
    rows = math.ceil(len(facets) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f or " " for f in facets], shared_yaxes=True,
                        horizontal_spacing=0.06, vertical_spacing=0.14)
    ylabels = _y_labels(cells)
    present = [p for p in st.PHASES if p in set(cells["phase"])] or list(st.PHASES[:4])
    refined = _refined(cells)
    legend = set()  # each legend entry once, from the first panel that draws it (the first may have no boundary)
    for i, facet in enumerate(facets):
        r, c = divmod(i, cols)
        sub = cells[cells["facet"] == facet]
        for trace in _heatmaps(sub, ylabels, color, metric_title, present, y_title):
            fig.add_trace(trace, row=r + 1, col=c + 1)
        if refined and len(sub):
            fig.add_trace(_samples(sub, ylabels, "samples" not in legend, st.marker_size(style)), row=r + 1, col=c + 1)
            legend.add("samples")
        if boundary is not None and len(boundary):
            b = boundary[boundary["facet"] == facet]
            line = _boundary_line(b, ylabels, "boundary" not in legend, st.line_width(style) + 1) if len(b) else None
            if line is not None and any(x is not None for x in line.x):
                fig.add_trace(line, row=r + 1, col=c + 1)
                legend.add("boundary")
    fig.update_layout(coloraxis=_coloraxis(cells, color, metric_title, present), clickmode="event")
    ticks = st.log2_ticks(cells["x"].to_numpy())
    for i in range(len(facets)):
        r, c = divmod(i, cols)
        fig.update_xaxes(title_text="number of tasks" if r == rows - 1 else None, **ticks, row=r + 1, col=c + 1)
        fig.update_yaxes(tickmode="array", tickvals=list(range(len(ylabels))), ticktext=ylabels,
                         range=[-0.5, len(ylabels) - 0.5], title_text=y_title if c == 0 else None,
                         row=r + 1, col=c + 1)
    st.apply_style(fig, style, cols=cols, rows=rows)
    # Legend top right, clear of the title at top left.
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.08, xanchor="right", x=1),
                      margin=dict(t=80))
    return fig


def _y_labels(cells: pd.DataFrame) -> list[str]:
    order = cells[["y", "y_order"]].drop_duplicates().sort_values("y_order")
    return list(order["y"])


def _refined(cells: pd.DataFrame) -> bool:
    """True when rows were sampled at different task counts (a refined store), so sample dots help."""
    per_row = cells.groupby(["facet", "y"])["x"].apply(lambda v: tuple(sorted(v)))
    return per_row.nunique() > 1


def _edges(xs: np.ndarray) -> np.ndarray:
    """Cell edges halfway between sorted sample positions; the outer cells as wide as their inner halves."""
    if len(xs) == 1:
        return np.array([xs[0] - 0.5, xs[0] + 0.5])
    mid = (xs[1:] + xs[:-1]) / 2
    return np.concatenate([[xs[0] - (mid[0] - xs[0])], mid, [xs[-1] + (xs[-1] - mid[-1])]])


def _heatmaps(sub: pd.DataFrame, ylabels: list[str], color: str, metric_title: str, present: list[str],
              y_axis: str) -> list[go.Heatmap]:
    """One heatmap row per y value, each over its own sampled task counts."""
    out = []
    for j, y in enumerate(ylabels):
        row = sub[sub["y"] == y].sort_values("x")
        if not len(row):
            continue
        xs = row["x"].to_numpy(dtype=float)
        if color == "phase":
            z = [present.index(p) if p in present else np.nan for p in row["phase"]]
        else:
            z = row["value"].to_numpy(dtype=float)
        text = [_hover(r, metric_title, y_axis) for r in row.itertuples(index=False)]
        out.append(go.Heatmap(
            x=_edges(xs), y=[j - 0.5, j + 0.5], z=[list(z)], text=[text], customdata=[list(row["key"])],
            coloraxis="coloraxis", hovertemplate="%{text}<extra></extra>", xgap=1, ygap=1, hoverongaps=False,
            showlegend=False))
    return out


def _samples(sub: pd.DataFrame, ylabels: list[str], showlegend: bool, size: float) -> go.Scatter:
    """A dot at every sampled cell: where the runs are, as opposed to the extent drawn around them."""
    yi = {y: j for j, y in enumerate(ylabels)}
    return go.Scatter(x=sub["x"], y=[yi[y] for y in sub["y"]], mode="markers", name="sampled cell",
                      marker=dict(size=max(size - 2, 3), color="white", line=dict(color="black", width=1)),
                      legendgroup="samples", showlegend=showlegend, hoverinfo="skip")


def _hover(row, metric_title: str, y_axis: str) -> str:
    lines = [f"tasks 2<sup>{row.x:g}</sup> = {int(row.num_tasks)}", f"{y_axis}={row.y}"]
    if row.n:
        lines.append(f"phase: {row.phase} ({row.agree}/{row.n} seeds)")
        if metric_title and np.isfinite(row.value):
            lines.append(f"{metric_title}: {row.value:.3f} ± {row.spread:.3f} (std, n={row.n})")
    else:
        lines.append("no finished seed yet")
    return "<br>".join(lines)


def _coloraxis(cells: pd.DataFrame, color: str, metric_title: str, present: list[str]) -> dict:
    if color == "phase":
        n = len(present)
        # A stepped scale so each phase index maps to one flat colour band; only phases present are listed,
        # each keeping its fixed colour so panels and pages agree.
        scale = []
        for k, p in enumerate(present):
            scale += [(k / n, st.PHASE_COLORS[p]), ((k + 1) / n, st.PHASE_COLORS[p])]
        return dict(colorscale=scale, cmin=-0.5, cmax=n - 0.5,
                    colorbar=dict(title="phase", tickvals=list(range(n)), ticktext=present, len=0.9))
    v = cells["value"].to_numpy(dtype=float)
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return dict(colorscale=st.METRIC_SCALE, cmin=lo, cmax=hi if hi > lo else lo + 1e-9,
                colorbar=dict(title=dict(text=metric_title, side="right"), len=0.9))


def _boundary_line(b: pd.DataFrame, ylabels: list[str], showlegend: bool, width: float) -> go.Scatter:
    """A staircase: vertical at each row's boundary (interpolated log2 tasks), joined between rows."""
    yi = {y: j for j, y in enumerate(ylabels)}
    pts = sorted((yi[r.y], float(r.x)) for r in b.itertuples(index=False) if r.y in yi and np.isfinite(r.x))
    xs, ys = [], []
    prev = None
    for j, x in pts:
        if prev is not None and j != prev + 1:
            xs.append(None), ys.append(None)  # rows without a boundary break the line
        xs += [x, x]
        ys += [j - 0.5, j + 0.5]
        prev = j
    return go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="black", width=width), name="transition boundary",
                      legendgroup="boundary", showlegend=showlegend, hoverinfo="skip")


# --- data: from a Source and a URL query to the tables above ---------------------------------------------

HOVER_METRIC = "acc:unseen"  # shown in the hover when colouring by phase: the paper's generalization measure


def resolve(source: Source, query: dict) -> dict:
    """The view's selections (color, y, facet, fixed axis values) from the query, with defaults."""
    ds = source.ds
    views.require_axis(source, ax.TASKS, "phase diagram", min_values=2)  # as the paper's Fig. 2 and 4
    axes = ax.cell_axes(ds)
    y_choices = [a for a in axes if a != ax.TASKS]
    y = views.pick(query, "y", y_choices, ax.default_y(ds)) if y_choices else None
    facet_choices = [a for a in axes if a not in (ax.TASKS, y)]
    facet = views.pick(query, "facet", [*facet_choices, "none"], ax.default_facet(ds, (ax.TASKS, y)) or "none")
    color = views.pick(query, "color", ["phase", *views.metric_choices(source)], "phase")
    fixed = ax.fixed_selection(ds, (ax.TASKS, y, facet), query)
    y_label = views.pick(query, "ylabel", Y_LABELS, "value") if y in ax.SIZE_AXES else "value"
    return {"color": color, "y": y, "facet": facet, "fixed": fixed, "y_label": y_label}


Y_LABELS = ("value", "params")  # a model-size row is labelled by its axis value or by its parameter count


def param_labels(source: Source, sel: dict) -> dict[str, str]:
    """Row label (the y value as text) -> its parameter count as text, as the paper's Fig. 2 labels model size;
    '~' marks a row whose panels' models differ in size (the median is shown)."""
    y = sel["y"]
    counts = source.data["param_count"].sel({a: v for a, v in sel["fixed"].items()})
    finished = counts.where(counts > 0)
    out = {}
    for v in ax.sorted_values(source.ds, y):
        row = np.asarray(finished.sel({y: v}).values, dtype=float).ravel()
        row = row[np.isfinite(row)]
        if not row.size:
            continue
        mid = float(np.median(row))
        approx = "~" if row.max() > 1.01 * row.min() else ""
        out[ax.fmt(v)] = approx + _count_text(mid)
    return out


def _count_text(n: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def tables(source: Source, sel: dict) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(cells, boundary, metric label) for the selections; cells follow CELL_COLUMNS, boundary BOUNDARY_COLUMNS."""
    axes = ax.cell_axes(source.ds)
    metric = sel["color"] if sel["color"] != "phase" else HOVER_METRIC
    if metric not in views.metric_choices(source):
        metric = "final_loss"
    values, metric_title = views.metric_values(source, metric)
    phases = source.cells[["phase", "agreement", "n_usable"]].to_dataframe().reset_index()
    phases = phases[phases["phase"] != "unsampled"]  # cells refinement never ran are not data
    df = phases.merge(values, on=axes, how="left")
    df = _restrict(df, sel["fixed"])
    y, facet = sel["y"], sel["facet"]
    y_values = ax.sorted_values(source.ds, y) if y else [None]
    order = {v: i for i, v in enumerate(y_values)}
    cells = pd.DataFrame({
        "facet": df[facet].map(lambda v: ax.label(facet, v)) if facet != "none" else "",
        "y": df[y].map(ax.fmt) if y else "all",
        "y_order": df[y].map(order) if y else 0,
        "num_tasks": df[ax.TASKS],
        "x": np.log2(df[ax.TASKS].astype(float)),
        "value": df["value"],
        "spread": df["spread"],
        "n": df["n_usable"].astype(int),
        "phase": df["phase"],
        "agree": np.rint(df["agreement"].fillna(0) * df["n_usable"]).astype(int),
        "key": df[axes].apply(lambda r: cell_query(axes, r), axis=1) if len(df) else [],
    })
    facets = [ax.label(facet, v) for v in ax.sorted_values(source.ds, facet)] if facet != "none" else [""]
    facet_order = {f: i for i, f in enumerate(facets)}
    cells = cells.assign(_f=cells["facet"].map(facet_order))
    cells = cells.sort_values(["_f", "y_order", "x"], kind="stable").drop(columns="_f").reset_index(drop=True)
    return cells, _boundary(source, sel, y, facet, order), metric_title


def cell_query(axes: list[str], row) -> str:
    """A cell's axis values as a query string (no '?'), the customdata a click hands to the detail page."""
    from urllib.parse import urlencode

    return urlencode([(a, ax.fmt(v) if not isinstance(v, float) else repr(v)) for a, v in zip(axes, row, strict=True)])


def _restrict(df: pd.DataFrame, fixed: dict) -> pd.DataFrame:
    for a, v in fixed.items():
        df = df[df[a] == v]
    return df


def _boundary(source: Source, sel: dict, y: str | None, facet: str, order: dict) -> pd.DataFrame:
    b = source.boundaries
    if b is None or "boundary_log2_of_mean" not in b:
        return pd.DataFrame(columns=list(BOUNDARY_COLUMNS))
    line = b["boundary_log2_of_mean"]
    if line.ndim == 0:  # a store with no axis besides tasks and seeds: one boundary for the one row
        df = pd.DataFrame({"boundary_log2_of_mean": [float(line)]})
    else:
        df = _restrict(line.to_dataframe().reset_index(), sel["fixed"])
    return pd.DataFrame({
        "facet": df[facet].map(lambda v: ax.label(facet, v)) if facet != "none" else "",
        "y": df[y].map(ax.fmt) if y else "all",
        "x": df["boundary_log2_of_mean"],
    }).reset_index(drop=True)


def build(source: Source, query: dict, style: str = "screen") -> views.Built:
    """The phase diagram for a store and query, with the cell table it plots."""
    source.check_finished()
    sel = resolve(source, query)
    cells, boundary, metric_title = tables(source, sel)
    fig = phase_figure(cells, boundary, sel["color"], y_title=sel["y"] or "", metric_title=metric_title, style=style)
    fixed = ", ".join(ax.label(a, v) for a, v in sel["fixed"].items())
    if sel["y_label"] == "params":
        names = param_labels(source, sel)
        for yaxis in fig.select_yaxes():
            if yaxis.ticktext:
                yaxis.ticktext = [names.get(t, t) for t in yaxis.ticktext]
                yaxis.title.text = "parameters" if yaxis.title.text else None
    what = "Phases" if sel["color"] == "phase" else metric_title[:1].upper() + metric_title[1:]
    fig.update_layout(title=f"{what} of {source.name}" + (f" ({fixed})" if fixed else ""))
    ints = {c: "Int64" for c in ("y_order", "num_tasks", "n", "agree")}  # stay ints beside the boundary rows' NaN
    data = cells.drop(columns=["key"]).astype(ints).assign(part="cell")
    data = pd.concat([data, boundary.assign(part="boundary_log2_num_tasks")], ignore_index=True)
    return views.Built(fig, data, "phase")
