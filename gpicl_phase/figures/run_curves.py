"""The runs explorer's curves of chosen runs, overlaid: training loss (smoothed as TensorBoard does) and
accuracy by position per stream at each run's last meta-test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gpicl_phase.analysis.metrics import stream_names
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures.runs import parse_run, run_label
from gpicl_phase.figures.source import Source, StoreProblem

MAX_OVERLAY = 20  # more curves than this in one panel stop being readable (and cost a read per run)
X_BY = ("step", "wall time")
ACC_PANEL_H = 230  # px per row of accuracy panels: four streams in two rows beside the loss curve's height


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
