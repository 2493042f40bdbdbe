"""The runs explorer's plots of runs against their parameters: parallel coordinates whose brush filters the
table, and a metric against one parameter, coloured by phase. Rows come from ``runs.runs_frame``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures.runs import PHASE, STORE, parameter_axes

MAX_TICKS = 12  # beyond this many distinct values an axis gets plotly's own ticks
LOG2_SPAN = 16  # positive axes spanning this factor or more are drawn on log2 (task counts, widths, batches)


# --- plot coordinates shared by the figures and the brushing -----------------------------------------------


def scale(values: pd.Series) -> str:
    """'category' for text, 'log2' for positive numbers spanning a factor of LOG2_SPAN or more, else 'linear'."""
    if values.dtype.kind not in "iuf":
        return "category"
    v = values.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size and v.min() > 0 and v.max() / v.min() >= LOG2_SPAN:
        return "log2"
    return "linear"


def categories(values: pd.Series) -> list:
    """Category order: phases in the paper's order, other text in order of appearance."""
    present = list(pd.unique(values.dropna()))
    if values.name == PHASE:
        return [p for p in st.PHASES if p in present] + [p for p in present if p not in st.PHASES]
    return present


def coordinates(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, dict]:
    """(plot coordinate per row (NaN where missing), tick settings) for a column: codes, log2 or the values."""
    values = frame[column]
    kind = scale(values)
    if kind == "category":
        cats = categories(values)
        codes = pd.Categorical(values, categories=cats).codes.astype(float)
        ticks = dict(tickvals=list(range(len(cats))), ticktext=[str(c) for c in cats])
        return np.where(codes < 0, np.nan, codes), ticks
    v = values.to_numpy(dtype=float)
    c = np.log2(v) if kind == "log2" else v
    distinct = np.unique(v[np.isfinite(v)])
    if len(distinct) > MAX_TICKS:
        if kind == "log2":  # ticks at whole powers of two, thinned to at most MAX_TICKS
            ks = np.arange(np.floor(np.nanmin(c)), np.ceil(np.nanmax(c)) + 1)
            ks = ks[:: -(-len(ks) // MAX_TICKS)]
            return c, dict(tickvals=ks.tolist(), ticktext=[ax.fmt(2.0**k) for k in ks])
        return c, {}
    ticks = np.log2(distinct) if kind == "log2" else distinct
    return c, dict(tickvals=ticks.tolist(), ticktext=[ax.fmt(x) for x in distinct])


def label(column: str) -> str:
    """Axis and title text for a column."""
    return column.replace("_", " ")


# --- parallel coordinates and brushing ---------------------------------------------------------------------


def parcoords_columns(frame: pd.DataFrame, metric: str) -> list[str]:
    """The dimensions, in order: store (when several), the parameters, the metric, the phase."""
    stores = [STORE] if frame[STORE].nunique() > 1 else []
    return [*stores, *parameter_axes(frame), metric, PHASE]


def parcoords_figure(frame: pd.DataFrame, metric: str, *, constraints: Mapping[str, list] | None = None,
                     style: str = "screen", max_lines: int | None = None) -> go.Figure:
    """Parallel coordinates over the swept parameters, `metric` and phase, lines coloured by phase.

    `constraints`: brushed ranges per column in plot coordinates (as `brush_update` keeps them), redrawn.
    Runs without a value on some dimension (no metric yet) are left out, and the subtitle says how many.
    `max_lines`: draw at most this many runs, an even, fixed subsample of them (a browser without a GPU draws
    10,000 lines in seconds); axes keep the range of every run, and a brush filters every run in the table.
    """
    columns = parcoords_columns(frame, metric)
    coords = {c: coordinates(frame, c) for c in columns}
    usable = np.all([np.isfinite(coords[c][0]) for c in columns], axis=0)
    keep = usable.copy()
    if max_lines is not None and usable.sum() > max_lines:
        rows = np.flatnonzero(usable)
        keep[:] = False
        keep[rows[np.linspace(0, len(rows) - 1, max_lines).round().astype(int)]] = True
    phase_codes, phase_ticks = coords[PHASE]
    names = phase_ticks["ticktext"]
    dims = []
    for c in columns:
        values, ticks = coords[c]
        dim = dict(label=label(c), values=values[keep], **ticks)
        if usable.any():
            dim["range"] = [float(values[usable].min()), float(values[usable].max())]
        if constraints and constraints.get(c):
            dim["constraintrange"] = constraints[c][0] if len(constraints[c]) == 1 else constraints[c]
        dims.append(dim)
    n = max(len(names), 1)
    colorscale = [[edge / n, st.PHASE_COLORS.get(p, "#999999")] for i, p in enumerate(names) for edge in (i, i + 1)]
    fig = go.Figure(go.Parcoords(
        dimensions=dims, line=dict(color=phase_codes[keep], colorscale=colorscale or "Greys", cmin=-0.5,
                                   cmax=n - 0.5, showscale=False)))
    legend = "  ".join(f"<span style='color:{st.PHASE_COLORS.get(p, '#999999')}'>&#9632;</span> {p}" for p in names)
    dropped = int((~usable).sum())
    note = f"; {dropped:,} runs without a value left out" if dropped else ""
    shown = f"{int(keep.sum()):,} of {int(usable.sum()):,} runs drawn (an even sample)" if keep.sum() < usable.sum() \
        else f"{int(keep.sum()):,} runs"
    fig.update_layout(title=dict(text=f"Runs by parameter: {label(metric)}<br><sup>{shown}{note}. "
                                      f"Drag along an axis to filter the table; click the axis to clear.</sup>"))
    fig.add_annotation(text=legend, showarrow=False, xref="paper", yref="paper", x=0, y=-0.12, xanchor="left")
    st.apply_style(fig, style)
    fig.update_layout(margin=dict(l=70, r=70, t=130, b=60))  # room for the title above the axis labels
    return fig


def brush_update(constraints: Mapping[str, list] | None, event, columns: Sequence[str]) -> dict[str, list]:
    """Brushed ranges per column after a parcoords `restyleData` event (None: no event), kept only for `columns`.

    Plotly reports a brush as `[{"dimensions[i].constraintrange": value}, [trace]]` with `i` the dimension's
    index as drawn; value is one range, a list of ranges, either wrapped once more per trace, or null (cleared).
    """
    out = {c: r for c, r in (constraints or {}).items() if c in columns}
    if not event or not isinstance(event[0], dict):
        return out
    for key, value in event[0].items():
        if not (key.startswith("dimensions[") and key.endswith("].constraintrange")):
            continue
        i = int(key[len("dimensions["):-len("].constraintrange")])
        if not 0 <= i < len(columns):
            continue
        ranges = _ranges(value)
        if ranges:
            out[columns[i]] = ranges
        else:
            out.pop(columns[i], None)
    return out


def _ranges(value) -> list[list[float]]:
    """[[lo, hi], ...] from a constraintrange in any of the shapes plotly sends; [] for none."""
    if not isinstance(value, (list, tuple)) or not value:
        return []
    if all(isinstance(v, (int, float)) for v in value):
        return [sorted(float(v) for v in value[:2])] if len(value) >= 2 else []
    if len(value) == 1:
        return _ranges(value[0])
    return [r for v in value for r in _ranges(v)]


def brushed(frame: pd.DataFrame, constraints: Mapping[str, list] | None) -> np.ndarray:
    """Rows inside every brushed column's ranges (any one range per column), as a boolean mask."""
    mask = np.ones(len(frame), dtype=bool)
    for column, ranges in (constraints or {}).items():
        if column not in frame or not ranges:
            continue
        c = coordinates(frame, column)[0]
        inside = np.zeros(len(frame), dtype=bool)
        for lo, hi in ranges:
            inside |= (c >= lo) & (c <= hi)
        mask &= inside
    return mask


# --- metric against a parameter ----------------------------------------------------------------------------


def scatter_figure(frame: pd.DataFrame, x: str, metric: str, *, style: str = "screen",
                   gl: bool = True) -> go.Figure:
    """`metric` against parameter `x`, one point per run coloured by phase (x jittered so seeds do not overlap).

    `gl`: WebGL points (fast on screen at 10,000 runs); False for files, where WebGL would become a bitmap.
    """
    xc, ticks = coordinates(frame, x)
    y = frame[metric].to_numpy(dtype=float)
    step = np.diff(np.unique(xc[np.isfinite(xc)])).min(initial=1.0)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(frame)) * step  # fixed: the same view each time
    hover, custom, text = _hover(frame)
    fig = go.Figure()
    for p in categories(frame[PHASE]):
        sel = (frame[PHASE] == p).to_numpy() & np.isfinite(y) & np.isfinite(xc)
        if not sel.any():
            continue
        fig.add_trace((go.Scattergl if gl else go.Scatter)(
            x=xc[sel] + jitter[sel], y=y[sel], mode="markers", name=p, customdata=custom[sel],
            text=None if text is None else text[sel],
            hovertemplate=f"{hover}<br>{label(metric)} %{{y:.3g}}<extra>{p}</extra>",
            marker=dict(color=st.PHASE_COLORS.get(p, "#999999"), size=st.marker_size(style),
                        line=dict(color="#555555", width=0.5))))
    kind = scale(frame[x])
    fig.update_layout(title=f"{label(metric)} by {label(x)}<br><sup>one point per run, colour by phase</sup>",
                      xaxis=dict(title=label(x) + (" (log2 scale)" if kind == "log2" else ""), **ticks),
                      yaxis_title=label(metric), legend_title_text="phase")
    return st.apply_style(fig, style)


def _hover(frame: pd.DataFrame) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(hover template, customdata, text): numeric axes as customdata (plotly sends numbers packed in binary),
    text axes (store, architecture) as text, only when they vary."""
    numeric = [a for a in frame.attrs["axes"] if frame[a].dtype.kind in "iuf"]
    named = [a for a in [STORE, *frame.attrs["axes"]] if a not in numeric and frame[a].nunique() > 1]
    lines = [f"{a}=%{{customdata[{i}]}}" for i, a in enumerate(numeric)]
    text = None
    if named:
        text = frame[named].astype(str).radd([f"{a}=" for a in named]).agg("<br>".join, axis=1).to_numpy()
        lines.insert(0, "%{text}")
    return "<br>".join(lines), frame[numeric].to_numpy(dtype=float), text
