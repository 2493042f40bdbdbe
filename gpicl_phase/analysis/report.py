"""The readable summary behind `gpicl-phase analyze STORE...`: phase tables, boundaries, plateau fit, state size."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from gpicl_phase.analysis.boundaries import FLAGS, transition_boundaries
from gpicl_phase.analysis.compute import compute_text
from gpicl_phase.analysis.metrics import run_metrics
from gpicl_phase.analysis.phases import classify_cells
from gpicl_phase.analysis.plateau import plateau_power_law, plateaus
from gpicl_phase.analysis.state_size import state_size_trend
from gpicl_phase.rules import Thresholds
from gpicl_phase.store import STATUS, STOP_REASONS

LETTERS = {
    "memorizing": "M", "identifying": "I", "generalizing": "G", "failed": "F", "unresolved": "R",
    "unclassified": "?", "diverged": "D", "unfinished": "U", "unsampled": ".", "error": "E",
}  # fmt: skip
MAX_TABLES = 8


def summary_text(ds: xr.Dataset, th: Thresholds = Thresholds(), dim: str = "seed") -> str:
    """A plain-text report: run counts, a phase table per value of the other axes, boundaries, plateau, state size."""
    m = run_metrics(ds, th)
    counts = {name: int((m["status"].values == code).sum()) for name, code in STATUS.items()}
    lines = [
        f"{m['status'].size} runs ({', '.join(f'{v} {k}' for k, v in counts.items() if v)}); "
        f"metrics at each run's last meta-test up to step {m.attrs['eval_step']}",
        f"thresholds: {th.to_json()}",
        "",
    ]
    damaged = ds.attrs.get("damaged", [])
    if damaged:  # load_results marked them; no metric below uses them
        lines += ["DAMAGED runs, excluded (`gpicl-phase sweep` on the store runs them again):"]
        lines += [f"  {text}" for text in damaged[:50]] + ([f"  ... and {len(damaged) - 50} more"] if len(damaged) > 50 else [])
        lines += [""]
    lines += _phase_tables(m, th, dim)
    lines += _stop_lines(m)
    lines += _boundary_lines(m, th, dim)
    lines += _plateau_lines(ds, th)
    lines += _state_size_lines(m, th)
    lines += [""] + compute_text(ds)
    return "\n".join(lines).rstrip() + "\n"


def _phase_tables(m: xr.Dataset, th: Thresholds, dim: str) -> list[str]:
    """A letter grid per combination of the axes other than rows (d_model) and columns (num_tasks)."""
    cells = classify_cells(m, th, dim=dim)
    phase, agree = cells["phase"], cells["agreement"]
    dims = list(phase.dims)
    if not dims:
        return [f"phase: {phase.item()}", ""]
    cols = "num_tasks" if "num_tasks" in dims else dims[-1]
    rows = "d_model" if "d_model" in dims and cols != "d_model" else next((d for d in dims if d != cols), None)
    others = [d for d in dims if d not in (rows, cols)]
    legend = ", ".join(f"{v} {k}" for k, v in LETTERS.items())
    lines = [f"Phases per cell (seed means; {legend}; lowercase: seeds disagree)"]
    combos = list(itertools.product(*(range(phase.sizes[d]) for d in others)))
    for combo in combos[:MAX_TABLES]:
        sel = dict(zip(others, combo))
        p, a = phase.isel(sel), agree.isel(sel)
        if others:
            lines.append("[" + ", ".join(f"{d}={phase[d].values[i]}" for d, i in sel.items()) + "]")
        lines += _grid(p.transpose(*(d for d in (rows, cols) if d)), a, rows, cols)
    if len(combos) > MAX_TABLES:
        lines.append(f"... {len(combos) - MAX_TABLES} more tables (see the tidy table)")
    return lines + [""]


def _stop_lines(m: xr.Dataset) -> list[str]:
    """Why finished runs stopped, with the steps they trained (adaptive runs stop once decided)."""
    done = np.isin(m["status"].values, [STATUS["done"], STATUS["diverged"]])
    reasons = m["stop_reason"].values[done]
    if not done.any() or set(np.unique(reasons)) <= {1}:
        return []  # every run trained its budget: nothing to say
    steps = m["steps_trained"].values[done]
    parts = []
    for code in np.unique(reasons):
        sel = reasons == code
        parts.append(f"{STOP_REASONS[int(code)] or 'unknown'} {int(sel.sum())} (median {np.median(steps[sel]):.0f} "
                     f"steps)")
    return ["Runs stopped: " + ", ".join(parts) + f"; maximum budget {int(m['max_steps'].values.max())} steps", ""]


def _grid(phase: xr.DataArray, agree: xr.DataArray, rows: str | None, cols: str) -> list[str]:
    """One letter grid; columns labelled by log2 for num_tasks."""
    col_vals = phase[cols].values
    col_labels = [f"{np.log2(v):.2f}".rstrip("0").rstrip(".") if cols == "num_tasks" else f"{v}" for v in col_vals]
    width = max(3, *(len(c) + 1 for c in col_labels))
    head = f"log2 {cols}" if cols == "num_tasks" else cols
    row_vals = phase[rows].values if rows else [""]
    corner = f"{rows} \\ {head}" if rows else head
    row_w = max(len(corner), *(len(str(r)) for r in row_vals))
    out = [f"{corner:<{row_w}}" + "".join(f"{c:>{width}}" for c in col_labels)]
    for i, r in enumerate(row_vals):
        p_row = phase.isel({rows: i}) if rows else phase
        a_row = agree.isel({rows: i}) if rows else agree
        letters = [
            LETTERS[str(p)] if not (np.isfinite(a) and a < 1) else LETTERS[str(p)].lower()
            for p, a in zip(p_row.values, a_row.transpose(*p_row.dims).values)
        ]
        out.append(f"{str(r):<{row_w}}" + "".join(f"{c:>{width}}" for c in letters))
    return out


def _boundary_lines(m: xr.Dataset, th: Thresholds, dim: str) -> list[str]:
    """Transition boundary per series of the other axes, as log2 num_tasks with the seed spread."""
    if "num_tasks" not in m["status"].dims:
        return []
    b = transition_boundaries(m, th, dim=dim)
    unit = " of the headroom above chance" if b.attrs.get("normalized") else ""
    lines = [f"Transition boundary (unseen-task improvement >= {b.attrs['threshold']:g}{unit}), log2 num_tasks:"]
    names = {v: k for k, v in FLAGS.items()}
    rest = [d for d in b["boundary_log2"].dims if d != dim]
    for combo in itertools.product(*(range(b.sizes[d]) for d in rest)):
        sel = dict(zip(rest, combo))
        label = ", ".join(f"{d}={b[d].values[i]}" for d, i in sel.items()) or "all runs"
        if "boundary_log2_mean" in b:
            mean, std, n = (b[f"boundary_log2_{s}"].isel(sel).item() for s in ("mean", "std", "n"))
            n_all = b.sizes[dim]
            flags = [names[int(f)] for f in np.atleast_1d(b["boundary_flag"].isel(sel).values)]
            if n:
                spread = f" +- {std:.2f}" if np.isfinite(std) else ""
                text = f"{mean:.2f}{spread} ({n}/{n_all} seeds cross)"
            else:
                text = "none: " + ", ".join(sorted(set(flags)))
        else:
            value = b["boundary_log2"].isel(sel).item()
            text = f"{value:.2f}" if np.isfinite(value) else names[int(b["boundary_flag"].isel(sel).item())]
        lines.append(f"  {label}: {text}")
    return lines + [""]


def _plateau_lines(ds: xr.Dataset, th: Thresholds) -> list[str]:
    """Plateau lengths, and the power-law fit when there is a batch-size-like axis."""
    pl = plateaus(ds, th)
    ok = pl["usable"].values
    left = ok & ~pl["censored"].values
    lines = [
        f"Loss plateau (loss >= {pl.attrs['plateau_loss_cut']:.3f} = (1 - {th.plateau_band:g}) ln K): "
        f"{int(left.sum())} usable runs left it, median {np.median(pl['plateau_steps'].values[left]):.0f} steps; "
        f"{int((ok & pl['censored'].values).sum())} never did (censored)"
        if left.any()
        else f"Loss plateau: no usable run left it ({int((ok & pl['censored'].values).sum())} censored)"
    ]
    for x in ("batch_size", "adam_eps", "bias"):
        if x in pl.dims:
            row = plateau_power_law(pl, th, x=x).iloc[0]
            if np.isfinite(row["exponent"]):
                lines.append(
                    f"  plateau_steps ~ {row['prefactor']:.3g} * {x}^{row['exponent']:.3f} "
                    f"[{th.ci_level:.0%} CI {row['exponent_ci_low']:.3f}, {row['exponent_ci_high']:.3f}], "
                    f"R^2 {row['r2']:.2f}, {row['n_used']} runs, {row['n_censored']} censored"
                )
            else:
                lines.append(f"  power law in {x}: {row['note']}")
            if row["note"] and np.isfinite(row["exponent"]):
                lines.append(f"  note: {row['note']} (at {x} = {row['censored_x']})")
    return lines + [""]


def _state_size_lines(m: xr.Dataset, th: Thresholds) -> list[str]:
    """Spearman rho and R^2 of unseen-task accuracy against state size and parameter count."""
    trend = state_size_trend(m, th)
    lines = ["Unseen-task final accuracy explained by (Spearman rho, R^2 vs log):"]
    for name, row in trend.iterrows():
        lines.append(f"  {name:<12} rho {row['spearman_rho']:.2f}, R^2 {row['r2']:.2f} (n={int(row['n'])})")
    return lines
