"""Prints the measured numbers REPRODUCTION.md quotes, straight from the stores (nothing typed by hand).

Usage: python scripts/reproduction_numbers.py runs/cpu_phase.zarr runs/cpu_generalize.zarr [more stores] > docs/reproduction_numbers.md
Each store is analysed with the default thresholds (docs/analysis.md); stores that do not exist are skipped
with a line saying so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gpicl_phase import store
from gpicl_phase.analysis import Thresholds, classify, plateaus, run_metrics
from gpicl_phase.analysis.plateau import plateau_power_law
from gpicl_phase.analysis.report import summary_text
from gpicl_phase.figures.paper import table1, table1_caption
from gpicl_phase.figures.paper_numbers import beside_paper
from gpicl_phase.figures.source import load_source
from seed_stats import cell_lines  # scripts/ is on sys.path when this file is run as a script


def _fmt(x) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.2f}"


def markdown(df) -> list[str]:
    """A DataFrame as a markdown table, floats to two decimals (pandas' to_markdown needs tabulate)."""
    cell = lambda v: _fmt(v) if isinstance(v, float) else str(v)  # noqa: E731
    return ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns),
            *("| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False))]


def per_cell_table(ds, m, phase, streams=("seen", "unseen", "unseen:random")) -> list[str]:
    """One markdown row per run: axes, phase, first/last accuracy per stream, final loss, plateau."""
    pl = plateaus(ds)
    dims = list(ds.status.dims)
    head = "| " + " | ".join(dims) + " | phase | " + " | ".join(
        f"{s} first / last" for s in streams) + " | final loss | plateau steps | steps trained (stop) |"
    lines = [head, "|" + "---|" * (len(dims) + len(streams) + 4)]
    for idx in np.ndindex(*ds.status.shape):
        sel = dict(zip(dims, idx))
        if int(ds.status.values[idx]) == store.STATUS["skipped"]:
            continue  # a cell refinement did not sample
        cells = [str(ds[d].values[i]) for d, i in sel.items()]
        r = m.isel(sel)
        accs = [f"{_fmt(float(r.acc_first.sel(stream=s)))} / {_fmt(float(r.acc_last.sel(stream=s)))}"
                for s in streams]
        p = pl.isel(sel)
        plat = f"{int(p.plateau_steps)}{'+ (never left)' if bool(p.censored) else ''}" \
            if np.isfinite(float(p.plateau_steps)) else "nan"
        stop = f"{int(r.steps_trained)} ({store.STOP_REASONS[int(r.stop_reason)] or '-'})"
        lines.append("| " + " | ".join(cells + [str(phase.values[idx])] + accs +
                                       [_fmt(float(r.final_loss)), plat, stop]) + " |")
    return lines


def transition_lines(ds, m, th) -> list[str]:
    """Per model size: every sampled task count with the cell's phase and seed-mean accuracies (Fig. 2's
    read-out: does seen accuracy dip before the jump?), then the located boundaries."""
    from gpicl_phase.analysis import aggregate_seeds, classify_cells, transition_boundaries
    from gpicl_phase.refine import brackets

    if not {"d_model", "num_tasks"} <= set(ds.status.dims):
        return []
    cells = classify_cells(m, th)
    agg = aggregate_seeds(m, th)
    b = transition_boundaries(m, th)
    lines = ["| d_model | log2 num_tasks | phase (agreeing seeds) | seen first | seen last | unseen first | "
             "unseen last | random last |", "|---|---|---|---|---|---|---|---|"]
    for d in ds.d_model.values:
        for n in np.sort(ds.num_tasks.values):
            c = cells.sel(d_model=d, num_tasks=n)
            if str(c.phase.values) == "unsampled":
                continue
            a = agg.sel(d_model=d, num_tasks=n)
            acc = lambda name, st: _fmt(float(a[f"{name}_mean"].sel(stream=st)))  # noqa: E731
            agree = int(round(float(c.agreement) * int(c.n_usable))) if np.isfinite(float(c.agreement)) else 0
            lines.append(f"| {d} | {np.log2(n):.2f} | {c.phase.values} ({agree}/{int(c.n_usable)}) | "
                         f"{acc('acc_first', 'seen')} | {acc('acc_last', 'seen')} | {acc('acc_first', 'unseen')} | "
                         f"{acc('acc_last', 'unseen')} | {acc('acc_last', 'unseen:random')} |")
    lines += ["", "Boundaries (neighbouring sampled cells whose phases differ; log2 num_tasks):", ""]
    for br in brackets(cells["phase"], "num_tasks"):
        lines.append(f"- d_model={br.series['d_model']}: {br.phases[0]} at {np.log2(br.low):.2f} | "
                     f"{br.phases[1]} at {np.log2(br.high):.2f} ({br.octaves:.2f} octaves)")
    lines += ["", "Unseen-task improvement crossing its threshold (interpolated, seed-mean curve), log2 num_tasks:", ""]
    for d in ds.d_model.values:
        lines.append(f"- d_model={d}: {_fmt(float(b.boundary_log2_of_mean.sel(d_model=d)))}")
    return lines


def curve_lines(ds, streams=("unseen", "unseen:random", "seen")) -> list[str]:
    """Accuracy vs examples seen at the last eval step (the paper's Fig. 3 read-out) for every run."""
    dims = list(ds.status.dims)
    t = ds.sizes["position"]
    pos = [p for p in (0, 5, 10, 20, 30, t - 1) if p < t]
    lines = ["| run | stream | " + " | ".join(f"pos {p}" for p in pos) + " |",
             "|" + "---|" * (len(pos) + 2)]
    acc = ds.eval_acc.isel(eval_step=-1)
    for idx in np.ndindex(*ds.status.shape):
        sel = dict(zip(dims, idx))
        name = ", ".join(f"{d}={ds[d].values[i]}" for d, i in sel.items())
        for s in streams:
            row = acc.isel(sel).sel(stream=s).values
            lines.append(f"| {name} | {s} | " + " | ".join(_fmt(row[p]) for p in pos) + " |")
    return lines


def loss_lines(ds) -> list[str]:
    """Training loss every ~10% of training, per run: the plateau and its escape."""
    dims = list(ds.status.dims)
    steps = ds.log_step.values
    picks = np.unique(np.linspace(0, steps.size - 1, 11).astype(int))
    lines = ["| run | " + " | ".join(f"step {steps[i]}" for i in picks) + " |", "|" + "---|" * (len(picks) + 1)]
    for idx in np.ndindex(*ds.status.shape):
        sel = dict(zip(dims, idx))
        name = ", ".join(f"{d}={ds[d].values[i]}" for d, i in sel.items())
        loss = ds.train_loss.isel(sel).values
        lines.append(f"| {name} | " + " | ".join(_fmt(loss[i]) for i in picks) + " |")
    return lines


def main(paths: list[str]) -> int:
    th = Thresholds()
    for path in paths:
        print(f"## `{path}`\n")
        if not Path(path).exists():
            print("(not found: run the sweep that makes it)\n")
            continue
        ds = store.load_results(path)
        m = run_metrics(ds, th)
        phase = classify(m, th)
        total = float(np.nansum(ds.wall_time.values))
        print(f"Sweep `{ds.attrs.get('sweep_name')}` from `{ds.attrs.get('source')}`, device "
              f"{ds.attrs.get('device')}, jax {ds.attrs.get('jax_version')}; summed run wall time "
              f"{total:.0f} s.\n")
        print("```\n" + summary_text(ds, th) + "\n```\n")
        print(f"Per run (accuracy at the first {th.n_first} / last {th.n_last} positions, at each run's last "
              "meta-test):\n")
        print("\n".join(per_cell_table(ds, m, phase)) + "\n")
        transition = transition_lines(ds, m, th)
        if transition:
            print("Cells along the task axis (seed means; the CPU counterpart of Fig. 2):\n")
            print("\n".join(transition) + "\n")
        for x in ("batch_size", "adam_eps"):
            if x in ds.status.dims:
                fit = plateau_power_law(ds, th, x=x)
                print(f"Plateau length vs {x}, power-law fit (plateau_steps = prefactor * {x}^exponent):\n")
                print("```\n" + fit.to_string(index=False) + "\n```\n")
        if "seed" in ds.status.dims and ds.sizes["seed"] > 1:
            streams = [s for s in ("unseen", "unseen:uci_digits", "biased") if s in ds["stream"].values]
            print("Over seeds (`python scripts/seed_stats.py`; mean ± 95% CI):\n")
            print("```\n" + "\n".join(cell_lines(ds, streams, th)) + "\n```\n")
        if "learner" in ds.status.dims:
            df = beside_paper(table1(load_source(path)))
            print(f"Table 1 ({table1_caption(df)}):\n")
            print("\n".join(markdown(df)) + "\n")
        if ds.status.size <= 8:
            print("Meta-test accuracy by examples seen (last eval step):\n")
            print("\n".join(curve_lines(ds)) + "\n")
            print("Training loss:\n")
            print("\n".join(loss_lines(ds)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
