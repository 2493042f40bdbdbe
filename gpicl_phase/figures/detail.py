"""One cell in detail: training loss per seed and per-position meta-test accuracy per stream (paper Fig. 3)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr

from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import style as st
from gpicl_phase.figures import views
from gpicl_phase.figures.source import Source
from gpicl_phase.store import StoreError, config_from_attrs

STATUS_NAMES = ("pending", "running", "done", "diverged", "failed")


def cell_slice(ds: xr.Dataset, cell: dict) -> xr.Dataset:
    """The runs of one cell (every seed), selected by axis values; axes missing from cell are kept."""
    return ds.sel({a: v for a, v in cell.items() if a in ds.dims})


def _seeds(sub: xr.Dataset) -> list:
    return [s.item() for s in sub[ax.SEED].values] if ax.SEED in sub.dims else [None]


def _one(sub: xr.Dataset, var: str, seed) -> xr.DataArray:
    a = sub[var]
    return a.sel({ax.SEED: seed}) if seed is not None else a


def runs_table(ds: xr.Dataset, cell: dict) -> pd.DataFrame:
    """Per seed: status, message, parameter count, state size, wall time and diverged step."""
    sub = cell_slice(ds, cell)
    rows = []
    for seed in _seeds(sub):
        code = int(_one(sub, "status", seed).values)
        rows.append({
            **({"seed": seed} if seed is not None else {}),  # a store without a seed axis has one run per cell
            "status": STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else str(code),
            "param_count": int(_one(sub, "param_count", seed).values),
            "state_size": int(_one(sub, "state_size", seed).values),
            "wall_time_s": round(float(_one(sub, "wall_time", seed).values), 2),
            "diverged_step": int(_one(sub, "diverged_step", seed).values),
            "message": str(_one(sub, "message", seed).values),
        })
    return pd.DataFrame(rows)


def cell_config(ds: xr.Dataset, cell: dict) -> dict:
    """The cell's full config: base config, then the per-cell cfg_* coordinates, then the axis values."""
    try:
        cfg = json.loads(config_from_attrs(ds.attrs).to_json())  # every field, JSON types
    except StoreError:  # a store not written by a sweep (no or no valid base config)
        cfg = {}
    sub = cell_slice(ds, cell)
    for name in sub.coords:
        if str(name).startswith("cfg_"):
            vals = np.unique(np.asarray(sub[name].values).ravel())
            cfg[str(name)[4:]] = vals[0].item() if len(vals) == 1 else [v.item() for v in vals]
    cfg.update(cell)
    return cfg


def loss_frame(ds: xr.Dataset, cell: dict) -> pd.DataFrame:
    """Training loss per logged step for each seed of the cell: columns seed, step, loss (NaN rows dropped);
    seed is "" in a store without a seed axis (its one run per cell)."""
    sub = cell_slice(ds, cell)
    frames = []
    for seed in _seeds(sub):
        loss = np.asarray(_one(sub, "train_loss", seed).values, dtype=float)
        frames.append(pd.DataFrame({"seed": "" if seed is None else seed, "step": sub["log_step"].values,
                                    "loss": loss}))
    df = pd.concat(frames, ignore_index=True)
    return df[np.isfinite(df["loss"])].reset_index(drop=True)


def position_frame(ds: xr.Dataset, cell: dict) -> pd.DataFrame:
    """Per-position accuracy at each seed's last evaluation, averaged over seeds: stream, position, mean, std, n."""
    sub = cell_slice(ds, cell)
    acc = sub["eval_acc"]
    if ax.SEED not in acc.dims:
        acc = acc.expand_dims(ax.SEED)
    # Each seed's latest finished evaluation (seeds of a running cell may be at different steps).
    acc = acc.transpose(ax.SEED, "eval_step", "stream", "position").values.astype(float)
    done = np.isfinite(acc).any(axis=(2, 3))  # [seed, eval_step]
    rows = []
    last = [np.flatnonzero(d)[-1] if d.any() else None for d in done]
    curves = np.stack([acc[s, i] for s, i in enumerate(last) if i is not None]) if any(
        i is not None for i in last) else np.empty((0,) + acc.shape[2:])
    streams = [str(s) for s in sub["stream"].values]
    for k, stream in enumerate(streams):
        for p in range(acc.shape[3]):
            v = curves[:, k, p] if len(curves) else np.array([])
            v = v[np.isfinite(v)]
            rows.append({"stream": stream, "position": int(sub["position"].values[p]),
                         "mean": float(v.mean()) if v.size else np.nan,
                         "std": float(v.std()) if v.size else np.nan, "n": int(v.size)})
    return pd.DataFrame(rows)


def loss_figure(df: pd.DataFrame, *, title: str = "", style: str = "screen", num_classes: int = 10) -> go.Figure:
    """Training loss against step, one line per seed, with ln K (the loss at chance, the plateau) marked."""
    fig = go.Figure()
    for i, (seed, g) in enumerate(df.groupby("seed", sort=True)):
        fig.add_trace(go.Scatter(x=g["step"], y=g["loss"], mode="lines", name=f"seed {seed}" if seed != "" else "run",
                                 line=dict(color=st.color(i), width=st.line_width(style))))
    fig.add_hline(y=float(np.log(num_classes)), line=dict(color="grey", dash="dot", width=1),
                  annotation_text=f"ln {num_classes}", annotation_position="top right")
    fig.update_layout(title=title or None, xaxis_title="step", yaxis_title="training loss")
    return st.apply_style(fig, style)


def position_figure(df: pd.DataFrame, *, title: str = "", style: str = "screen") -> go.Figure:
    """Meta-test accuracy against examples seen, one line per stream, shaded +-1 std over seeds (paper Fig. 3)."""
    fig = go.Figure()
    for i, (stream, g) in enumerate(df.groupby("stream", sort=False)):
        c = st.color(i)
        g = g.sort_values("position")
        if (g["n"] > 1).any():
            band_x = list(g["position"]) + list(g["position"][::-1])
            band_y = list(g["mean"] + g["std"]) + list((g["mean"] - g["std"])[::-1])
            fig.add_trace(go.Scatter(x=band_x, y=band_y, fill="toself", fillcolor=st.rgba(c, 0.18),
                                     line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=stream))
        fig.add_trace(go.Scatter(x=g["position"], y=g["mean"], mode="lines", name=stream, legendgroup=stream,
                                 line=dict(color=c, width=st.line_width(style)),
                                 customdata=np.stack([g["std"], g["n"]], -1),
                                 hovertemplate=f"{stream}<br>examples seen %{{x}}<br>accuracy %{{y:.3f}}"
                                               " ± %{customdata[0]:.3f} (n=%{customdata[1]})<extra></extra>"))
    fig.update_layout(title=title or None, xaxis_title="examples seen (position)", yaxis_title="meta-test accuracy",
                      yaxis_range=[0, 1.02])
    return st.apply_style(fig, style)



# --- the view: a cell picked by the URL query (default: the best-generalizing cell) ------------------------


def resolve(source: Source, query: dict) -> dict:
    """The cell (every cell axis) from the query; axes the query lacks come from the best cell that matches."""
    ds = source.ds
    given = {}
    for a in ax.cell_axes(ds):
        if a in query:
            try:
                given[a] = ax.coerce(ds, a, query[a])
            except ValueError:
                pass
    if len(given) == len(ax.cell_axes(ds)):
        return {"cell": given}
    streams = [str(s) for s in ds["stream"].values]
    score = source.agg["acc_last_mean"].sel(stream="unseen" if "unseen" in streams else streams[0])
    s = score.to_series()
    for a, v in given.items():
        s = s[s.index.get_level_values(a) == v] if isinstance(s.index, pd.MultiIndex) else s[s.index == v]
    s = s.dropna()
    if not len(s):
        return {"cell": {a: given.get(a, ax.sorted_values(ds, a)[0]) for a in ax.cell_axes(ds)}}
    best = s.idxmax()
    best = best if isinstance(best, tuple) else (best,)
    names = list(s.index.names)
    picked = {n: (v.item() if hasattr(v, "item") else v) for n, v in zip(names, best, strict=True)}
    return {"cell": {a: picked[a] for a in ax.cell_axes(ds)}}


def cell_title(source: Source, cell: dict) -> str:
    """'store: axis=value, ...' for titles."""
    return f"{source.name}: " + ", ".join(ax.label(a, v) for a, v in cell.items())


def build(source: Source, query: dict, style: str = "screen") -> views.Built:
    """Paper Fig. 3 for the selected cell: per-position accuracy per stream, with the table it plots."""
    source.check_finished()
    cell = resolve(source, query)["cell"]
    df = position_frame(source.data, cell)
    fig = position_figure(df, title=f"In-context learning<br><sup>{cell_title(source, cell)}</sup>", style=style)
    return views.Built(fig, df, "incontext")


def build_loss(source: Source, query: dict, style: str = "screen") -> views.Built:
    """Training loss per seed for the selected cell, with the table it plots."""
    cell = resolve(source, query)["cell"]
    df = loss_frame(source.data, cell)
    fig = loss_figure(df, title=f"Training loss<br><sup>{cell_title(source, cell)}</sup>", style=style,
                      num_classes=int(source.ds.attrs.get("num_classes", 10)))
    return views.Built(fig, df, "loss")
