"""Every run as a table row, and the runs explorer's figures: parallel coordinates with brushing, a metric
against a parameter coloured by phase, and the curves of chosen runs overlaid.

A run's id is the URL query of its store and axis values (``store=sweep&d_model=16&num_tasks=4&seed=0``), so it
reads as text, survives reloads, and opens the run's cell on the detail page as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, quote

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gpicl_phase.analysis import classify
from gpicl_phase.analysis.metrics import stream_names
from gpicl_phase.analysis.tables import metric_column
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures.source import Source, StoreProblem
from gpicl_phase.store import STATUS, STOP_REASONS

RUN = "run"
STORE = "store"
PHASE = "phase"
STREAM_METRICS = ("acc_first", "acc_last", "improvement")
RUN_NUMBERS = ("steps_trained", "max_steps", "wall_time", "param_count", "state_size")
MAX_OVERLAY = 20  # more curves than this in one panel stop being readable (and cost a read per run)
MAX_TICKS = 12  # beyond this many distinct values an axis gets plotly's own ticks
LOG2_SPAN = 16  # positive axes spanning this factor or more are drawn on log2 (task counts, widths, batches)
X_BY = ("step", "wall time")
ACC_PANEL_H = 230  # px per row of accuracy panels: four streams in two rows beside the loss curve's height


# --- the table --------------------------------------------------------------------------------------------


def runs_frame(source: Source) -> pd.DataFrame:
    """One row per run of the store, in store order: run id, store, axis values, status, phase and metrics.

    Columns: `run`, `store`, the swept axes, `status`, `phase`, `final_loss`, `acc_first[s]`,
    `acc_last[s]`, `improvement[s]` per stream s, `steps_trained`, `max_steps`, `stop_reason`, `wall_time`,
    `param_count`, `state_size`. `frame.attrs["axes"]` lists the swept axes. Vectorized: no loop over runs.
    """
    m = source.metrics
    dims = list(m["status"].dims)
    shape = m["status"].shape
    at = np.unravel_index(np.arange(int(np.prod(shape))), shape)  # C order, as .ravel() below
    cols: dict[str, object] = {STORE: source.name}
    for d, i in zip(dims, at, strict=True):
        cols[d] = m[d].values[i]
    codes = m["status"].transpose(*dims).values.ravel().astype(int)
    names = np.array(list(STATUS))
    cols["status"] = names[np.clip(codes, 0, len(names) - 1)]
    cols[PHASE] = classify(m, source.th).transpose(*dims).values.ravel()
    cols["final_loss"] = m["final_loss"].transpose(*dims).values.ravel()
    for metric in STREAM_METRICS:
        by_stream = m[metric].transpose(*dims, "stream").values.reshape(-1, m.sizes["stream"])
        for k, stream in enumerate(stream_names(m)):
            cols[metric_column(metric, stream)] = by_stream[:, k]
    for name in RUN_NUMBERS:
        cols[name] = m[name].transpose(*dims).values.ravel()
    reasons = np.array(list(STOP_REASONS) + ["?"])
    cols["stop_reason"] = reasons[np.clip(m["stop_reason"].transpose(*dims).values.ravel().astype(int), 0,
                                          len(reasons) - 1)]
    frame = pd.DataFrame(cols)
    frame.insert(0, RUN, run_ids(source.name, frame, dims))
    frame.attrs["axes"] = dims
    return frame


def run_ids(store: str, frame: pd.DataFrame, dims: Sequence[str]) -> pd.Series:
    """`store=<name>&<axis>=<value>...` per row, values spelled as the app's URLs spell them."""
    ids = pd.Series(f"store={quote(store, safe='')}", index=frame.index, dtype=object)
    for d in dims:
        numbers = frame[d].dtype.kind in "iufb"
        ids = ids + f"&{d}=" + (frame[d].astype(str) if numbers else frame[d].map(lambda v: quote(str(v), safe="")))
    return ids


def combine_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Several stores' runs in one table (axes a store does not sweep are empty there); attrs keep every axis."""
    axes = list(dict.fromkeys(a for f in frames for a in f.attrs["axes"]))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    frame.attrs["axes"] = axes
    return frame


def metric_options(frame: pd.DataFrame) -> list[str]:
    """Columns a plot may show as the metric: per-stream metrics (unseen first), final loss, run numbers."""
    streams = [c for c in frame.columns if c.startswith(STREAM_METRICS)]
    streams.sort(key=lambda c: (STREAM_METRICS.index(c.split("[")[0]), "[unseen]" not in c))
    return [*streams, "final_loss", *[c for c in RUN_NUMBERS if c in frame]]


def default_metric(frame: pd.DataFrame) -> str:
    """In-context improvement on unseen tasks: the quantity the phases are about."""
    options = metric_options(frame)
    unseen = metric_column("improvement", "unseen")
    return unseen if unseen in options else options[0]


def parameter_axes(frame: pd.DataFrame) -> list[str]:
    """Swept axes worth a plot axis: not the seed (a repeat, not a parameter), more than one value."""
    return [a for a in frame.attrs["axes"] if a != ax.SEED and frame[a].nunique() > 1]


def grid_columns(frame: pd.DataFrame, digits: int = 4) -> dict[str, list]:
    """The table as {column: values}, JSON-ready: floats rounded to `digits` decimals (more is noise here and
    bytes on the wire), NaN as None. Column-wise: row dicts repeat every column name in every row, 3.3x the
    bytes at 10,000 runs (benchmarks/bench_runs_explorer.py)."""
    out = {}
    for c in frame.columns:
        s = frame[c]
        if s.dtype.kind == "f":
            s = s.round(digits)
        out[c] = s.astype(object).where(s.notna(), None).tolist()
    return out


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


# --- curves of chosen runs ---------------------------------------------------------------------------------


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average over the finite values (NaN stay NaN)."""
    y = np.asarray(values, dtype=float)
    if weight <= 0:
        return y.copy()
    from scipy.signal import lfilter

    out = np.full_like(y, np.nan)
    ok = np.isfinite(y)
    w = min(float(weight), 0.999)
    smooth = lfilter([1 - w], [1, -w], y[ok])
    out[ok] = smooth / (1 - w ** np.arange(1, ok.sum() + 1))  # the start would lean towards 0 otherwise
    return out


def parse_run(run_id: str) -> tuple[str, dict[str, str]]:
    """(store name, {axis: value text}) of a run id."""
    parts = dict(parse_qsl(run_id, keep_blank_values=True))
    return parts.pop(STORE, ""), parts


def run_label(run_id: str, with_store: bool = False) -> str:
    """Short legend text: the axis values, the store too when runs of several stores are shown."""
    name, cell = parse_run(run_id)
    text = ", ".join(f"{a}={v}" for a, v in cell.items())
    return f"{name}: {text}" if with_store else text


def _run(source: Source, cell: dict[str, str]) -> dict:
    """The run's selection in the store (StoreProblem naming the run when it is not there)."""
    axes = list(source.ds["status"].dims)
    if set(cell) != set(axes):
        raise StoreProblem(f"run {cell} does not name every axis of '{source.name}' ({', '.join(axes)})")
    return {a: ax.coerce(source.ds, a, cell[a]) for a in axes}


def overlay_figures(sources: Mapping[str, Source], run_ids: Sequence[str], *, smoothing: float = 0.0,
                    log_y: bool = False, x_by: str = "step", style: str = "screen") -> tuple[go.Figure, go.Figure]:
    """(training loss, accuracy by position per stream) of the chosen runs, one colour per run.

    `sources`: store name -> Source (a run names its store). The first MAX_OVERLAY runs are drawn and the
    titles say so. `smoothing` in [0, 1): EMA weight on the loss; `x_by` 'wall time' scales each run's steps
    by its wall time per step, an estimate (the store keeps one wall time per run, not per step).
    """
    if not run_ids:
        text = "Select runs in the table (tick their boxes) to overlay their curves"
        return _blank(text, style), _blank(text, style)
    shown = list(run_ids)[:MAX_OVERLAY]
    cut = f" (first {MAX_OVERLAY} of {len(run_ids)} selected)" if len(run_ids) > MAX_OVERLAY else ""
    runs = [(r, *parse_run(r)) for r in shown]
    several = len({name for _, name, _ in runs}) > 1
    lost = sorted({name for _, name, _ in runs if name not in sources})
    if lost:  # a selection from before the table changed stores
        raise StoreProblem(f"the selected runs name stores not shown here: {', '.join(lost)}")
    streams = list(dict.fromkeys(s for _, name, _ in runs for s in stream_names(sources[name].ds)))
    loss = go.Figure()
    cols = min(len(streams), 2)  # two panels a row: four streams side by side leave each too narrow to read
    rows = -(-len(streams) // cols)
    acc = make_subplots(rows=rows, cols=cols, shared_yaxes=True, shared_xaxes=True, subplot_titles=streams,
                        horizontal_spacing=0.04, vertical_spacing=0.12)
    for i, (run_id, name, cell) in enumerate(runs):
        source = sources[name]
        sel = _run(source, cell)
        line = dict(color=st.color(i), width=st.line_width(style), dash=("solid", "dash", "dot")[i // 8 % 3])
        text = run_label(run_id, several)
        steps = source.data["log_step"].values.astype(float)
        x = steps * _seconds_per_step(source, sel) if x_by == "wall time" else steps
        y = ema(source.data["train_loss"].sel(sel).values, smoothing)
        ok = np.isfinite(y) & np.isfinite(x)
        loss.add_trace(go.Scatter(x=x[ok], y=y[ok], mode="lines", name=text, legendgroup=run_id, line=line,
                                  hovertemplate=f"{text}<br>%{{x:.4g}}, loss %{{y:.4g}}<extra></extra>"))
        curves = _last_eval(source, sel)
        for k, stream in enumerate(streams):
            if stream not in curves:
                continue
            acc.add_trace(go.Scatter(x=source.ds["position"].values, y=curves[stream], mode="lines", name=text,
                                     legendgroup=run_id, showlegend=k == 0, line=line,
                                     hovertemplate=f"{text}<br>position %{{x}}, accuracy %{{y:.3f}}<extra></extra>"),
                          row=k // cols + 1, col=k % cols + 1)
    xtitle = "estimated wall time (s): step x the run's wall time / steps trained" if x_by == "wall time" else "step"
    smooth = f", EMA smoothing {smoothing:g}" if smoothing > 0 else ""
    loss.update_layout(title=f"Training loss{cut}<br><sup>{len(shown)} runs{smooth}</sup>", xaxis_title=xtitle,
                       yaxis_title="training loss", yaxis_type="log" if log_y else "linear")
    acc.update_layout(title=f"Accuracy by position at each run's last meta-test{cut}")
    acc.update_xaxes(title_text="examples seen (position)", row=rows, col=1)
    acc.update_yaxes(range=[0, 1.02])
    acc.update_yaxes(title_text="meta-test accuracy", col=1)
    below = dict(orientation="h", yanchor="top", y=-0.2, x=0, xanchor="left")  # long run labels: below the panels
    loss, acc = st.apply_style(loss, style), st.apply_style(acc, style, cols=cols, rows=rows)
    loss.update_layout(legend=below, height=(loss.layout.height or 470) + 22 * len(shown))
    acc.update_layout(legend=dict(below, y=-0.1 if rows > 1 else -0.2),
                      height=ACC_PANEL_H * rows + 120 + 22 * len(shown))
    return loss, acc


def _seconds_per_step(source: Source, sel: dict) -> float:
    """The run's wall time per trained step (NaN when unknown, so its curve is left out)."""
    wall = float(source.data["wall_time"].sel(sel))
    steps = float(source.data["steps_trained"].sel(sel))
    return wall / steps if steps > 0 and np.isfinite(wall) and wall > 0 else np.nan


def _last_eval(source: Source, sel: dict) -> dict[str, np.ndarray]:
    """Accuracy per position per stream at the run's read step (its last meta-test); {} before any."""
    step = int(source.metrics["read_step"].sel(sel))
    acc = source.data["eval_acc"].sel(sel).sel(eval_step=step).transpose("stream", "position").values
    if not np.isfinite(acc).any():
        return {}
    return {s: acc[k] for k, s in enumerate(stream_names(source.ds))}


def _blank(text: str, style: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(xaxis_visible=False, yaxis_visible=False)
    return st.apply_style(fig, style)
