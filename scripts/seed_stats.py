"""Seed statistics of a store: per cell (every axis but seed), mean, 95% CI and n over usable seeds of the numbers
REPRODUCTION.md quotes, so each claim resting on seeds is one command away.

    python scripts/seed_stats.py STORE [--streams unseen,biased] [--step N]

Per cell: the plateau (steps to leave it; censored runs counted and left out of the mean), then per stream the
first and last accuracy at the read step and the first meta-tests at which the stream is memorized and learned
in context (`analysis.onsets`; thresholds as for the phases). Runs that never cross are counted as 'never'.
"""

from __future__ import annotations

import argparse

import numpy as np

from gpicl_phase import store
from gpicl_phase.analysis import Thresholds, onsets, plateaus, run_metrics
from gpicl_phase.analysis.metrics import axis_dims
from gpicl_phase.analysis.seeds import nan_stats


def fmt(values: np.ndarray, scale: float = 1.0, digits: int = 2) -> str:
    """'mean ± ci (n)' over the finite values; the count of non-finite ones as 'never'."""
    s = nan_stats(np.asarray(values, dtype=np.float64), 0, 0.95)
    n, never = int(s["n"]), int((~np.isfinite(values)).sum())
    if n == 0:
        return f"never ({never})"
    text = f"{scale * s['mean']:.{digits}f}" + (f" ± {scale * s['ci']:.{digits}f}" if n > 1 else "")
    return text + f" (n {n}" + (f", never {never})" if never else ")")


def cell_lines(ds, streams: list[str], th: Thresholds) -> list[str]:
    m, p, o = run_metrics(ds, th), plateaus(ds, th), onsets(ds, th)
    cells = [d for d in axis_dims(ds) if d != "seed"]
    lines = []
    for idx in np.ndindex(*[ds.sizes[d] for d in cells]):
        sel = {d: i for d, i in zip(cells, idx, strict=True)}
        name = " ".join(f"{d}={ds[d].values[i].item()}" for d, i in sel.items()) or "all runs"
        ok = m["usable"].isel(sel).values.reshape(-1)
        if (ds["status"].isel(sel).values == store.STATUS["skipped"]).all():
            continue  # a cell refinement did not sample
        if not ok.any():
            lines.append(f"{name}: no usable runs yet (unfinished, diverged or failed)")
            continue
        pl = p.isel(sel)
        left = np.where(ok & ~pl["censored"].values.reshape(-1), pl["plateau_steps"].values.reshape(-1), np.nan)
        censored = int((ok & pl["censored"].values.reshape(-1)).sum())
        lines.append(f"{name}: {int(ok.sum())} usable seeds; plateau left after {fmt(left, digits=0)} steps"
                     + (f", {censored} still on it at the end" if censored else ""))
        for s in streams:
            def per_seed(var, source):
                return np.where(ok, source[var].isel(sel).sel(stream=s).values.reshape(-1), np.nan)
            lines.append(f"  {s:>14}: first {fmt(per_seed('acc_first', m))}, last {fmt(per_seed('acc_last', m))};"
                         f" memorized at step {fmt(per_seed('memorized_step', o), digits=0)},"
                         f" learning in context from step {fmt(per_seed('learning_step', o), digits=0)}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store")
    p.add_argument("--streams", default=None, help="comma-separated streams (default: all the store has)")
    p.add_argument("--step", type=int, default=None, help="read accuracies at this meta-test (default: the last)")
    a = p.parse_args()
    ds = store.load_results(a.store)
    streams = a.streams.split(",") if a.streams else [str(s) for s in ds["stream"].values]
    unknown = sorted(set(streams) - {str(s) for s in ds["stream"].values})
    if unknown:
        p.error(f"{a.store} has no stream {', '.join(unknown)}; it has {', '.join(map(str, ds['stream'].values))}")
    print(f"{a.store}: mean ± 95% CI (Student t) over usable seeds")
    print("\n".join(cell_lines(ds, streams, Thresholds(eval_step=a.step))))


if __name__ == "__main__":
    main()
