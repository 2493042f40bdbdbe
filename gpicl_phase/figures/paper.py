"""The paper's figure set from whatever stores are given: Fig. 2, 3, 4, Table 1, loss plateaus and state size.

Pure functions, Source in, plotly figure / pandas table out (no JAX); `export_paper` adds the file writing.
Each maker raises StoreProblem with a reason naming the store when that store cannot make the item.

    fig2(source, query=None, style="paper") -> Built     seen and unseen accuracy vs num_tasks, a line per size
    fig3(source, query=None, style="paper") -> Built     accuracy vs examples seen, unseen tasks and datasets,
                                                         at the cell with the most tasks (or query's cell)
    fig4(source, query=None, style="paper") -> Built     in-context improvement vs num_tasks, phase bands
    table1(source, query=None) -> DataFrame              accuracy (%) at the last position, method x dataset
    table1_latex(df, caption="") -> str                  that table as a LaTeX tabular
    plateau_figures(source, query=None, style="paper") -> [(suffix, Built)]   one per categorical axis value
    statesize(source, query=None, style="paper") -> Built

Which store makes which item, and the file writing: gpicl_phase/figures/paper_export.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gpicl_phase.analysis.seeds import nan_stats
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import detail, improvement
from gpicl_phase.figures import plateau as plateau_view
from gpicl_phase.figures import style as st
from gpicl_phase.figures.catalog import build
from gpicl_phase.figures.paper_numbers import setting_differences
from gpicl_phase.figures.source import Source, StoreProblem
from gpicl_phase.figures.views import Built
from gpicl_phase.store import StoreError, config_from_attrs

if TYPE_CHECKING:
    from gpicl_phase.store.run_config import RunConfig

DATASET_NAMES = {"mnist": "MNIST", "mnist10k": "MNIST-10k", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST",
                 "uci_digits": "UCI digits", "random": "Random", "cifar10": "CIFAR10", "svhn": "SVHN"}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


# --- helpers ---------------------------------------------------------------------------------------------


def _streams(source: Source) -> list[str]:
    return [str(s) for s in source.ds["stream"].values]


def _base_config(source: Source) -> RunConfig | None:
    """The store's base config; None for a store not written by a sweep (no or no valid base config)."""
    try:
        return config_from_attrs(source.ds.attrs)
    except StoreError:
        return None


def _swept(source: Source) -> str:
    return ", ".join(ax.sweep_axes(source.ds)) or "nothing"


def require_tasks(source: Source, item: str) -> None:
    """StoreProblem unless the store sweeps at least two numbers of tasks."""
    if ax.TASKS not in ax.cell_axes(source.ds):
        raise StoreProblem(f"{source.name} sweeps {_swept(source)} but no num_tasks axis")
    if source.ds.sizes[ax.TASKS] < 2:
        raise StoreProblem(f"{source.name} has one num_tasks value; {item} needs two or more")


def categorical_axes(source: Source) -> list[str]:
    """Cell axes whose values are labels (preset axes such as model_size, method, arch)."""
    return [a for a in ax.cell_axes(source.ds) if source.ds[a].dtype.kind in "US"]


def model_axes(source: Source) -> list[str]:
    """Label axes whose values are models: presets that set `model` (a cfg_model coordinate), or arch/model."""
    coord = source.ds.coords.get("cfg_model")
    return [a for a in categorical_axes(source)
            if a in ("arch", "model") or (coord is not None and coord.dims == (a,) and len(set(coord.values)) > 1)]


def series_axis(source: Source, query: dict, free: tuple = (ax.TASKS,)) -> str | None:
    """The axis drawn as one line each: query["series"], else a label axis, else the model-size axis."""
    axes = [a for a in ax.cell_axes(source.ds) if a not in free]
    if query.get("series") in axes:
        return query["series"]
    labels = [a for a in categorical_axes(source) if a in axes]
    return labels[0] if labels else ax.default_y(source.ds) if axes else None


def model_of(source: Source, axis: str | None) -> dict:
    """Model kind per value of axis (from its cfg_model coordinate, else the base config)."""
    base = _base_config(source)
    default = base.model if base else "model"
    if axis is None:
        return {None: default}
    coord = source.ds.coords.get("cfg_model")
    values = ax.sorted_values(source.ds, axis)
    if coord is not None and coord.dims == (axis,):
        return {v: str(coord.sel({axis: v}).item()) for v in values}
    return dict.fromkeys(values, default)


def _best_cell(source: Source, query: dict) -> dict:
    """Every cell axis: from the query, num_tasks at its largest, the rest from the best unseen-accuracy cell."""
    q = dict(query)
    if ax.TASKS in ax.cell_axes(source.ds) and ax.TASKS not in q:
        q[ax.TASKS] = ax.sorted_values(source.ds, ax.TASKS)[-1]
    return detail.resolve(source, q)["cell"]


def _chance(fig: go.Figure, source: Source, **where) -> None:
    k = int(source.ds.attrs.get("num_classes", 10))
    fig.add_hline(y=1 / k, line=dict(color="grey", dash="dot", width=1), **where)


def _fixed_text(fixed: dict) -> str:
    return f" ({', '.join(ax.label(a, v) for a, v in fixed.items())})" if fixed else ""


# --- Fig. 2: accuracy vs number of tasks, one line per model size / architecture -------------------------


def fig2_frame(source: Source, query: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Seed-aggregated accuracy (last positions) on seen and unseen tasks per series and num_tasks; the fixed axes."""
    query = dict(query or {})
    source.check_finished()
    require_tasks(source, "Fig. 2")
    missing = [s for s in ("seen", "unseen") if s not in _streams(source)]
    if missing:
        raise StoreProblem(f"{source.name} has no {' or '.join(missing)} stream")
    series = series_axis(source, query)
    fixed = ax.fixed_selection(source.ds, tuple(a for a in (ax.TASKS, series) if a), query)
    agg = source.agg.sel(fixed)
    kinds = model_of(source, series)
    frames = []
    for stream in ("seen", "unseen"):
        parts = {k: agg[f"acc_last_{k}"].sel(stream=stream, drop=True) for k in ("mean", "std", "n")}
        df = pd.DataFrame({k: v.to_series() for k, v in parts.items()}).reset_index()
        df["series"] = df[series].map(ax.fmt) if series else "all"
        df["model"] = df[series].map(kinds) if series else kinds[None]
        frames.append(df.assign(stream=stream))
    df = pd.concat(frames, ignore_index=True)
    df["x"] = np.log2(df[ax.TASKS].astype(float))
    df = df[np.isfinite(df["mean"])].reset_index(drop=True)
    if df.empty:
        raise StoreProblem(f"{source.name} has no usable (finished, not diverged) runs at{_fixed_text(fixed) or ' all'}")
    cols = ["series", "model", "stream", ax.TASKS, "x", "mean", "std", "n"]
    return df[cols], {"series": series, "fixed": fixed}


def fig2(source: Source, query: dict | None = None, style: str = "paper") -> Built:
    """Paper Fig. 2: seen (left) and unseen (right) accuracy vs number of tasks; dash style marks the model kind."""
    df, sel = fig2_frame(source, query)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("seen tasks", "unseen tasks"))
    kinds = list(dict.fromkeys(df["model"]))
    numeric = sel["series"] is not None and sel["series"] not in categorical_axes(source)
    per_kind: dict[str, int] = {}
    for name, g in df.groupby("series", sort=False):
        kind = g["model"].iloc[0]
        i = per_kind[kind] = per_kind.get(kind, -1) + 1
        line = dict(color=st.color(i), width=st.line_width(style), dash=DASHES[kinds.index(kind) % len(DASHES)])
        label = ax.label(sel["series"], name) if numeric else str(name)
        for col, stream in ((1, "seen"), (2, "unseen")):
            s = g[g["stream"] == stream].sort_values("x")
            fig.add_trace(go.Scatter(
                x=s["x"], y=s["mean"], mode="lines+markers", name=label, legendgroup=label, showlegend=col == 1,
                line=line, marker=dict(size=st.marker_size(style), color=line["color"]),
                error_y=dict(type="data", array=s["std"], visible=True, thickness=1),
                customdata=s[[ax.TASKS, "n"]].to_numpy(),
                hovertemplate=f"{label}, {stream}<br>tasks %{{customdata[0]}}<br>accuracy %{{y:.3f}}"
                              " (n=%{customdata[1]})<extra></extra>"), row=1, col=col)
    for col in (1, 2):
        _chance(fig, source, row=1, col=col)
        fig.update_xaxes(title_text="number of tasks", **st.log2_ticks(df["x"]), row=1, col=col)
    fig.update_yaxes(title_text="accuracy (last positions)", range=[0, 1.02], row=1, col=1)
    st.apply_style(fig, style, cols=2)
    fig.update_layout(title=f"Fig. 2: accuracy vs number of tasks in {source.name}" + _fixed_text(sel["fixed"]))
    return Built(fig, df, "fig2")


# --- Fig. 3 and Fig. 4: reuse the in-context and improvement views, on the paper's streams ----------------


def fig3(source: Source, query: dict | None = None, style: str = "paper") -> Built:
    """Paper Fig. 3: accuracy vs examples seen on unseen tasks and unseen datasets, for one cell."""
    source.check_finished()
    streams = [s for s in _streams(source) if s == "unseen" or s.startswith("unseen:")]
    if "unseen" not in streams or source.ds.sizes["position"] < 2:
        raise StoreProblem(f"{source.name} has no unseen-task stream with two or more positions")
    cell = _best_cell(source, dict(query or {}))
    df = detail.position_frame(source.data, cell)
    df = df[df["stream"].isin(streams)].reset_index(drop=True)
    title = f"Fig. 3: meta-test accuracy vs examples seen<br><sup>{detail.cell_title(source, cell)}</sup>"
    fig = detail.position_figure(df, title=title, style=style)
    _chance(fig, source)
    return Built(fig, df.assign(**{a: v for a, v in cell.items()}), "fig3")


def fig4(source: Source, query: dict | None = None, style: str = "paper") -> Built:
    """Paper Fig. 4: last-minus-first accuracy vs number of tasks on seen, unseen and unseen-dataset streams."""
    source.check_finished()
    require_tasks(source, "Fig. 4")
    q = dict(query or {})
    others = [a for a in ax.cell_axes(source.ds) if a != ax.TASKS and a not in q]
    if others:  # the paper draws its best model; pick the cell with the best unseen accuracy
        best = _best_cell(source, q)
        q.update({a: best[a] for a in others})
    sel = improvement.resolve(source, q)
    lines, bands = improvement.tables(source, sel)
    lines = lines[lines["stream"] != "base"].reset_index(drop=True)
    title = f"Fig. 4: in-context improvement in {source.name}" + _fixed_text(sel["fixed"])
    fig = improvement.improvement_figure(lines, bands, title=title, style=style)
    data = pd.concat([lines.assign(part="line"), bands.assign(part="band")], ignore_index=True)
    return Built(fig, data, "fig4")


# --- Table 1: accuracy at the last position per method and dataset ---------------------------------------


def table1(source: Source, query: dict | None = None) -> pd.DataFrame:
    """One row per method (a label axis of models): accuracy in % at the last position, mean and std over usable seeds.

    Columns: method, model, n (usable seeds), then per dataset `<name>` and `<name> std`; the first dataset
    column is unseen tasks of the meta-training dataset, the others the `unseen:<dataset>` streams.
    """
    query = dict(query or {})
    source.check_finished()
    models = model_axes(source)
    row_axis = query.get("rows") if query.get("rows") in ax.cell_axes(source.ds) else (models[0] if models else None)
    if row_axis is None:
        raise StoreProblem(f"{source.name} sweeps {_swept(source)} but no axis of models "
                           "(a preset axis whose labels set `model`, e.g. [axes.learner])")
    q = dict(query)
    if ax.TASKS in ax.cell_axes(source.ds) and ax.TASKS not in q:
        q[ax.TASKS] = ax.sorted_values(source.ds, ax.TASKS)[-1]
    fixed = ax.fixed_selection(source.ds, (row_axis,), q)
    step = source.metrics.attrs["eval_step"]
    # Each run at its own last meta-test (adaptive runs stop at different steps).
    acc = source.data["eval_acc"].sel(eval_step=source.metrics["read_step"]).isel(position=-1).sel(fixed)
    acc = acc.where(source.metrics["usable"].sel(fixed))
    base = _base_config(source)
    dataset = base.dataset if base else "training set"
    streams = ["unseen", *(s for s in _streams(source) if s.startswith("unseen:"))]
    names: dict[str, str] = {}
    for s in streams:
        key = s.split(":", 1)[1] if ":" in s else dataset
        name = DATASET_NAMES.get(key, key)
        names[s] = name if name not in names.values() else s  # e.g. unseen:mnist beside unseen MNIST tasks
    kinds = model_of(source, row_axis)
    rows = []
    for v in ax.sorted_values(source.ds, row_axis):
        a = acc.sel({row_axis: v})
        dims = [ax.SEED] if ax.SEED in a.dims else []
        row = {"method": ax.fmt(v), "model": kinds[v]}
        for s in streams:
            x = a.sel(stream=s).transpose(*dims).values.astype(float).reshape(-1)
            stats = nan_stats(x, 0, source.th.ci_level)
            row[names[s]] = 100 * float(stats["mean"])
            row[f"{names[s]} std"] = 100 * float(stats["std"])
            row["n"] = max(row.get("n", 0), int(stats["n"]))
        rows.append(row)
    df = pd.DataFrame(rows)
    df = df[["method", "model", "n", *(c for s in streams for c in (names[s], f"{names[s]} std"))]]
    df.attrs = {"store": source.name, "dataset": dataset, "position": int(source.ds["position"].values[-1]),
                "eval_step": int(step), "fixed": {k: ax.fmt(v) for k, v in fixed.items()},
                "setting": setting_differences(base)}
    return df


_LATEX = str.maketrans({c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\^{}",
                                                              "\\": r"\textbackslash{}"})


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX tabular cell."""
    return str(text).translate(_LATEX)


def table1_latex(df: pd.DataFrame, caption: str = "") -> str:
    """The Table 1 frame as a LaTeX tabular: one row per method, 'mean $\\pm$ std' where seeds > 1."""
    datasets = [c for c in df.columns if c not in ("method", "model", "n") and not c.endswith(" std")
                and not c.startswith("paper ")]
    lines = [f"% {caption}" if caption else "% Table 1", r"\begin{tabular}{l" + "r" * len(datasets) + "}",
             r"\hline", " & ".join(["Method", *map(latex_escape, datasets)]) + r" \\", r"\hline"]
    for r in df.itertuples(index=False):
        rec = dict(zip(df.columns, r))
        cells = [latex_escape(rec["method"])]
        for d in datasets:
            mean, std = rec[d], rec[f"{d} std"]
            cell = "--" if not math.isfinite(mean) else f"{mean:.2f}"
            if math.isfinite(mean) and math.isfinite(std):
                cell += rf" $\pm$ {std:.2f}"
            paper_cell = rec.get(f"paper {d}", math.nan)
            if math.isfinite(paper_cell):
                cell += f" ({paper_cell:.2f})"
            cells.append(cell)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}", ""]
    return "\n".join(lines)


def table1_caption(df: pd.DataFrame) -> str:
    """What the numbers in a Table 1 frame are."""
    a = df.attrs
    fixed = ", ".join(f"{k}={v}" for k, v in a.get("fixed", {}).items())
    return (f"Table 1 from {a.get('store')}: accuracy (%) at position {a.get('position')} (examples seen), "
            f"eval step {a.get('eval_step')}; meta-trained on {a.get('dataset')}, first column its unseen tasks; "
            f"mean $\\pm$ std over usable seeds" + (f"; {fixed}" if fixed else "")
            + ("; in parentheses the paper's Table 1" if any(c.startswith("paper ") for c in df.columns) else "")
            + (f". Setting vs the paper: {a['setting']}" if a.get("setting") else ""))


# --- plateaus and state size: the existing views ---------------------------------------------------------


def plateau_figures(source: Source, query: dict | None = None, style: str = "paper") -> list[tuple[str, Built]]:
    """The plateau view over the store's intervention axis, one figure per value of each other label axis."""
    query = dict(query or {})
    source.check_finished()
    over = plateau_view.resolve(source, query)["over"]  # an intervention axis when the store has one
    split = [a for a in categorical_axes(source) if a != over and a not in query]
    combos = pd.MultiIndex.from_product([ax.sorted_values(source.ds, a) for a in split]) if split else [()]
    out = []
    for combo in combos:
        combo = combo if isinstance(combo, tuple) else (combo,)
        q = query | {"over": over} | dict(zip(split, combo, strict=True))
        built = build("plateau", source, q, style)  # marks the plateau at the store's ln K
        suffix = "".join(f"_{a}-{v}" for a, v in zip(split, combo, strict=True))
        out.append((suffix, Built(built.figure, built.data, "plateau")))
    return out


def statesize(source: Source, query: dict | None = None, style: str = "paper") -> Built:
    """The state-size view, when the store's models have two or more different (nonzero) state sizes."""
    built = build("statesize", source, dict(query or {}), style)  # refuses stores with one state size
    return Built(built.figure, built.data, "statesize")
