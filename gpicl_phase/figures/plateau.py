"""Loss plateaus: curves overlaid across one intervention axis with escapes marked, and length vs that axis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from gpicl_phase.analysis import plateau_power_law
from gpicl_phase.analysis.seeds import nan_stats
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures import views
from gpicl_phase.figures.source import Source, StoreProblem

# curves: one row per (value, step); escapes: one row per (value, seed); fit: the power law's line, if any.
CURVE_COLUMNS = ("value", "label", "step", "loss")
ESCAPE_COLUMNS = ("value", "label", "seed", "start", "end", "length", "loss_at_end")
FIT_COLUMNS = ("value", "length_fit")


def plateau_figure(curves: pd.DataFrame, escapes: pd.DataFrame, fit: pd.DataFrame | None, *, over: str,
                   fit_text: str = "", style: str = "screen", num_classes: int = 10) -> go.Figure:
    """Left: seed-mean loss per value of `over`, plateau escapes as markers. Right: length vs `over`, fit line."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss (seed mean)", f"plateau length vs {over}"),
                        horizontal_spacing=0.16)
    labels = list(dict.fromkeys(curves["label"])) if len(curves) else []
    colors = {lab: st.color(i) for i, lab in enumerate(labels)}
    for lab in labels:
        g = curves[curves["label"] == lab]
        fig.add_trace(go.Scatter(x=g["step"], y=g["loss"], mode="lines", name=lab, legendgroup=lab,
                                 line=dict(color=colors[lab], width=st.line_width(style))), row=1, col=1)
        e = escapes[(escapes["label"] == lab) & np.isfinite(escapes["end"])]
        if len(e):
            fig.add_trace(go.Scatter(
                x=e["end"], y=e["loss_at_end"], mode="markers", legendgroup=lab, showlegend=False,
                marker=dict(color=colors[lab], symbol="x", size=st.marker_size(style) + 3,
                            line=dict(width=1, color="black")),
                customdata=np.stack([e["seed"].astype(str), e["length"]], -1),
                hovertemplate=f"{lab}, seed %{{customdata[0]}}<br>escape at step %{{x}}"
                              "<br>plateau length %{customdata[1]}<extra></extra>"), row=1, col=1)
    fig.add_hline(y=float(np.log(num_classes)), line=dict(color="grey", dash="dot", width=1), row=1, col=1,
                  annotation_text=f"ln {num_classes} (chance)", annotation_position="top right")
    pts = escapes[np.isfinite(escapes["length"]) & (escapes["length"] > 0)] if len(escapes) else escapes
    if not len(pts):
        fig.add_annotation(text="no run in this slice left the plateau<br>within its training budget",
                           showarrow=False, xref="x2 domain", yref="y2 domain", x=0.5, y=0.5)
    numeric = len(pts) and pd.api.types.is_numeric_dtype(pts["value"])
    if len(pts):
        fig.add_trace(go.Scatter(
            x=pts["value"], y=pts["length"], mode="markers", showlegend=False,
            marker=dict(color=[colors.get(lab, "black") for lab in pts["label"]], size=st.marker_size(style) + 1),
            customdata=pts["seed"].astype(str),
            hovertemplate=f"{over}=%{{x}}<br>seed %{{customdata}}<br>length %{{y}} steps<extra></extra>"),
            row=1, col=2)
    if fit is not None and len(fit):
        fig.add_trace(go.Scatter(x=fit["value"], y=fit["length_fit"], mode="lines", name=fit_text or "power law",
                                 line=dict(color="black", dash="dash", width=st.line_width(style))), row=1, col=2)
    log_x = bool(numeric) and (pts["value"] > 0).all()
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    # Ticks at the swept values: the default log ticks (3 4 5 ... 100 2 3) hide which values were run.
    ticks = dict(tickmode="array", tickvals=sorted(set(pts["value"]))) if log_x else {}
    fig.update_xaxes(title_text=over, type="log" if log_x else None, **ticks, row=1, col=2)
    lengths = list(pts["length"]) + (list(fit["length_fit"]) if fit is not None and len(fit) else [])
    fig.update_yaxes(title_text="plateau length (steps)", type="log", **st.log_ticks(lengths), row=1, col=2)
    st.apply_style(fig, style, cols=2)
    # Legend under the panels, below the axis titles, so the panels keep their width.
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, x=0), margin=dict(b=105),
                      height=(fig.layout.height or 400) + 30)
    return fig


# --- data: from a Source and a URL query to the tables above ---------------------------------------------

# Interventions the paper varies to shorten the plateau, preferred in this order for the overlay axis.
OVER_AXES = ("batch_size", "adam_eps", "bias", "tasks_per_batch", "lr", "clip_norm")


def resolve(source: Source, query: dict) -> dict:
    """The overlay axis (`over`) and the fixed values of every other cell axis."""
    axes = ax.cell_axes(source.ds)
    if not axes:
        raise StoreProblem(f"'{source.name}' sweeps only seeds; the plateau view needs an axis to compare")
    default = next((a for a in OVER_AXES if a in axes), axes[0])
    over = views.pick(query, "over", axes, default)
    fixed = ax.fixed_selection(source.ds, (over,), query)
    open_axes = [a for a in fixed if a not in query or not _valid(source, a, query[a])]
    if open_axes and source.status_counts["done"]:
        fixed |= _slice_with_escapes(source, over, fixed, open_axes)
    return {"over": over, "fixed": fixed}


def _valid(source: Source, axis: str, text) -> bool:
    try:
        ax.coerce(source.ds, axis, text)
    except ValueError:
        return False
    return True


def _slice_with_escapes(source: Source, over: str, fixed: dict, open_axes: list[str]) -> dict:
    """Values for the axes the query leaves open: the slice where most runs leave the plateau (ties: the usual
    default), so the view opens on curves with escapes instead of a blank length panel."""
    pl = source.plateaus.sel({a: v for a, v in fixed.items() if a not in open_axes})
    escaped = (pl["usable"] & ~pl["censored"]).sum([d for d in pl["usable"].dims if d not in open_axes])
    if int(escaped.max()) == 0 or escaped.sel({a: fixed[a] for a in open_axes}).item() == escaped.max().item():
        return {}
    best = escaped.where(escaped == escaped.max(), drop=True)
    first = {a: best[a].values[-1 if a in ax.PREFER_LAST else 0] for a in open_axes}
    return {a: (v.item() if hasattr(v, "item") else v) for a, v in first.items()}


def tables(source: Source, sel: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """(curves, escapes, fit line, fit label) for the selections."""
    over, fixed = sel["over"], sel["fixed"]
    loss = source.data["train_loss"].sel(fixed)
    values = ax.sorted_values(source.ds, over)
    curves, escapes = [], []
    pl = source.plateaus.sel(fixed)
    steps = source.ds["log_step"].values
    for v in values:
        lab = ax.label(over, v)
        runs = loss.sel({over: v})
        mean = _seed_mean(runs)
        ok = np.isfinite(mean)
        curves.append(pd.DataFrame({"value": v, "label": lab, "step": steps[ok], "loss": mean[ok]}))
        p = pl.sel({over: v})
        for seed, leave, length, censored, usable in _per_seed(p):
            if not usable:
                continue
            # The marker sits on the seed's own curve: seeds leave at different steps, so the mean would blur it.
            own = np.asarray((runs.sel({ax.SEED: seed}) if ax.SEED in runs.dims else runs).values, dtype=float)
            fin = np.isfinite(own)
            at = np.interp(leave, steps[fin], own[fin]) if np.isfinite(leave) and fin.any() else np.nan
            escapes.append({"value": v, "label": lab, "seed": seed, "start": 0, "end": leave,
                            "length": length if not censored else np.nan, "loss_at_end": at})
    curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=list(CURVE_COLUMNS))
    escapes = pd.DataFrame(escapes, columns=list(ESCAPE_COLUMNS))
    fit, text = _fit_line(pl, over, values, source)
    return curves, escapes, fit, text


def _seed_mean(runs: xr.DataArray) -> np.ndarray:
    if ax.SEED not in runs.dims:
        return np.asarray(runs.values, dtype=float)
    v = runs.transpose(ax.SEED, "log_step").values.astype(float)
    return nan_stats(v, 0, 0.95)["mean"]


def _per_seed(p: xr.Dataset):
    p = p.expand_dims(ax.SEED) if ax.SEED not in p.dims else p
    seeds = p[ax.SEED].values if ax.SEED in p.coords else range(p.sizes[ax.SEED])
    for i, seed in enumerate(seeds):
        q = p.isel({ax.SEED: i})
        yield (seed.item() if hasattr(seed, "item") else seed, float(q["leave_step"]), float(q["plateau_steps"]),
               bool(q["censored"]), bool(q["usable"]))


def _fit_line(pl: xr.Dataset, over: str, values: list, source: Source) -> tuple[pd.DataFrame, str]:
    empty = pd.DataFrame(columns=list(FIT_COLUMNS))
    numeric = [float(v) for v in values if not isinstance(v, str) and float(v) > 0]
    if len(numeric) < 2:
        return empty, ""
    row = plateau_power_law(pl, source.th, x=over).iloc[0]
    if not np.isfinite(row["exponent"]):
        return empty, f"no power law fit: {row['note']}"
    grid = np.geomspace(min(numeric), max(numeric), 50)
    ci = (row["exponent_ci_high"] - row["exponent_ci_low"]) / 2
    text = f"fit: length ∝ {over}^{row['exponent']:.2f} ± {ci:.2f} (R² {row['r2']:.2f}, n={int(row['n_used'])})"
    return pd.DataFrame({"value": grid, "length_fit": row["prefactor"] * grid ** row["exponent"]}), text


def build(source: Source, query: dict, style: str = "screen") -> views.Built:
    """The plateau figure for a store and query, with the curves, escapes and fit it plots."""
    source.check_finished()
    sel = resolve(source, query)
    curves, escapes, fit, text = tables(source, sel)
    fig = plateau_figure(curves, escapes, fit, over=sel["over"], fit_text=text, style=style,
                         num_classes=int(source.ds.attrs.get("num_classes", 10)))
    fixed = ", ".join(ax.label(a, v) for a, v in sel["fixed"].items())
    fig.update_layout(title=f"Loss plateaus in {source.name}" + (f" ({fixed})" if fixed else ""))
    data = pd.concat([curves.assign(part="curve"), escapes.assign(part="escape"), fit.assign(part="fit")],
                     ignore_index=True)
    return views.Built(fig, data, "plateau")
