"""Benchmark 2: one training step, gpicl-phase (JAX/XLA) against a faithful PyTorch implementation.

For N_M in {32, 64, 256} x B in {32, 128}, T = 100, 4 layers, 8 heads of key size 32 at every N_M (the
engine's defaults; not scaled with N_M), 14 x 14 inputs: the step alone on a fixed batch, the batch
alone, and both together (JAX: the engine's own compiled run; ``jax_run``: a step inside a long run).
Speedup = PyTorch time / JAX time per step, per round (both timed in the same round), median over rounds.
PyTorch runs on the faster of 1 and all threads (calibrated per config: ``step_units.torch_units``). Also
the batch's share of the step, for the engine's fresh projections and for a ``task_bank`` of the 2^13
training tasks. The units and rows are built in ``step_units``.

In the suite the paper default (N_M=256, B=128) is left out here: benchmark 4 times the same units beside
the matmul peak and reports this benchmark's rows for it.

    python benchmarks/bench_step.py [--quick] [--gpu] [--grid 64:128,256:32] [--budget GFLOP] [--out FILE]
"""

from __future__ import annotations

import argparse

import common
from common import interleaved
from step_units import config, step_rows, step_units

GRID = [(n, b) for n in (32, 64, 256) for b in (32, 128)]
GPU_GRID = [(64, 128), (256, 32), (256, 128)]
PAPER_DEFAULT = (256, 128)


def run(quick: bool, gpu: bool) -> list[dict]:
    """The suite's grid: --quick N_M in {32, 64} at B=32, two rounds; else the CPU or GPU grid less the paper
    default (benchmark 4 reports it)."""
    if quick:
        return measure_grid([(32, 32), (64, 32)], repeats=2, gpu=gpu)
    grid = [c for c in (GPU_GRID if gpu else GRID) if c != PAPER_DEFAULT]
    return measure_grid(grid, repeats=5 if gpu else 3, gpu=gpu)


def measure_grid(grid: list[tuple[int, int]], repeats: int, gpu: bool, budget_gflop: float | None = None) -> list[dict]:
    """Rows of every (N_M, B) config, each timed on its own; ``budget_gflop``: model work per timed JAX call
    (default 20 on CPU, 400 on GPU)."""
    rows = []
    for n, b in grid:
        new = measure(n, b, repeats, with_torch=not gpu, budget_gflop=budget_gflop or (400 if gpu else 20))
        rows += new
        common.PARTIAL.extend(new)  # a run cut by gpu_check.sh's time limit keeps the configs that finished
    return rows


def measure(n: int, b: int, repeats: int, with_torch: bool, budget_gflop: float) -> list[dict]:
    """Interleaved units of one (N_M, B) config; rows of seconds per step, speedups and shares."""
    cfg = config(n, b, budget_gflop)
    units, facts = step_units(cfg, with_torch)
    return step_rows(cfg, interleaved(units, repeats), facts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two small configs, two rounds")
    p.add_argument("--gpu", action="store_true", help="JAX only, more steps per call")
    p.add_argument("--grid", help="configs as N_M:B pairs, e.g. 64:128,256:128 (default: the suite's grid)")
    p.add_argument("--budget", type=float, metavar="GFLOP",
                   help="model work per timed JAX call (at most 20 steps): raise it to amortize the engine "
                        "run's fixed part (init, two meta-tests) over several steps")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    if a.grid or a.budget:
        grid = [tuple(int(v) for v in pair.split(":")) for pair in a.grid.split(",")] if a.grid else GRID
        rows = measure_grid(grid, repeats=2 if a.quick else (5 if a.gpu else 3), gpu=a.gpu, budget_gflop=a.budget)
    else:
        rows = run(a.quick, a.gpu)
    common.report(rows, a.out)


if __name__ == "__main__":
    main()
