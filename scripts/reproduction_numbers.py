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


def _fmt(x) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.2f}"


def per_cell_table(ds, m, phase, streams=("seen", "unseen", "unseen:random")) -> list[str]:
    """One markdown row per run: axes, phase, first/last accuracy per stream, final loss, plateau."""
    pl = plateaus(ds)
    dims = list(ds.status.dims)
    head = "| " + " | ".join(dims) + " | phase | " + " | ".join(
        f"{s} first / last" for s in streams) + " | final loss | plateau steps |"
    lines = [head, "|" + "---|" * (len(dims) + len(streams) + 3)]
    for idx in np.ndindex(*ds.status.shape):
        sel = dict(zip(dims, idx))
        cells = [str(ds[d].values[i]) for d, i in sel.items()]
        r = m.isel(sel)
        accs = [f"{_fmt(float(r.acc_first.sel(stream=s)))} / {_fmt(float(r.acc_last.sel(stream=s)))}"
                for s in streams]
        p = pl.isel(sel)
        plat = f"{int(p.plateau_steps)}{'+ (never left)' if bool(p.censored) else ''}" \
            if np.isfinite(float(p.plateau_steps)) else "nan"
        lines.append("| " + " | ".join(cells + [str(phase.values[idx])] + accs +
                                       [_fmt(float(r.final_loss)), plat]) + " |")
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
            print(f"(not found: run the sweep that makes it)\n")
            continue
        ds = store.load_results(path)
        m = run_metrics(ds, th)
        phase = classify(m, th)
        total = float(np.nansum(ds.wall_time.values))
        print(f"Sweep `{ds.attrs.get('sweep_name')}` from `{ds.attrs.get('source')}`, device "
              f"{ds.attrs.get('device')}, jax {ds.attrs.get('jax_version')}; summed run wall time "
              f"{total:.0f} s.\n")
        print("```\n" + summary_text(ds, th) + "\n```\n")
        print("Per run (accuracy averaged over the first / last 5 positions, last eval step):\n")
        print("\n".join(per_cell_table(ds, m, phase)) + "\n")
        for x in ("batch_size", "adam_eps"):
            if x in ds.status.dims:
                fit = plateau_power_law(ds, th, x=x)
                print(f"Plateau length vs {x}, power-law fit (plateau_steps = prefactor * {x}^exponent):\n")
                print("```\n" + fit.to_string(index=False) + "\n```\n")
        if ds.status.size <= 8:
            print("Meta-test accuracy by examples seen (last eval step):\n")
            print("\n".join(curve_lines(ds)) + "\n")
            print("Training loss:\n")
            print("\n".join(loss_lines(ds)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
