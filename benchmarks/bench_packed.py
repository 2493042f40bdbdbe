"""Benchmark 3: a grid run packed (one ``jit(vmap(train))``) against one cell at a time, same total steps.

The grid is 8 task counts x 2 seeds = 16 cells of the smoke sweep's small Transformer (N_M = 32, 2 layers,
7 x 7 inputs, T = 20, B = 32; 100 steps, meta-tests every 50). ``packed``: ``sweep.execute.train_chunk`` on
one chunk of 16, as ``gpicl-phase sweep`` runs it; ``one_by_one``: ``train.compiled`` (``jit(train)``) called
once per cell, as a loop of single runs would. Compile time is measured apart (first call, JAX's compile
events), then the two are timed interleaved.

    python benchmarks/bench_packed.py [--quick] [--gpu] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time

import common
from common import CompileClock, interleaved, row, timed_row

BENCH = "3 packed"
SMALL = dict(d_model=32, num_layers=2, num_heads=2, key_size=8, image_size=7, seq_len=20, batch_size=32,
             steps=200, eval_every=50, log_every=10, eval_batch=64)


def grid(cells: int, **changes):
    """``cells`` configs differing only in dynamic fields: 8 task counts 2^0, 2^2, ..., 2^14 x cells/8 seeds."""
    from gpicl_phase.config import RunConfig

    base = RunConfig(**{**SMALL, **changes})
    seeds = max(1, cells // 8)
    return [base.replace(num_tasks=2 ** (2 * (i // seeds)), seed=i % seeds) for i in range(cells)]


def units(cfgs: list, names: tuple[str, ...] = ("packed", "one_by_one")) -> tuple[dict, dict]:
    """``{"packed": fn, "one_by_one": fn}`` over the same cells, and each one's first-call compile seconds."""
    import jax

    from gpicl_phase import train
    from gpicl_phase.sweep import execute
    from gpicl_phase.sweep.plan import Chunk

    static = cfgs[0].static_part()
    chunk = Chunk(static, tuple((i,) for i in range(len(cfgs))), tuple(cfgs), len(cfgs), 0)
    data = train.task_data(static)

    def one_by_one():
        return [jax.block_until_ready(train.compiled(static)(data, train.hyper(c), key=train.run_key(c.seed)))
                for c in cfgs]

    work = execute.Work(budget_bytes=execute.device_budget())
    fns = {"packed": lambda: execute.train_chunk(chunk, work), "one_by_one": one_by_one}
    fns = {name: fns[name] for name in names}
    compile_s = {}
    for name, fn in fns.items():
        with CompileClock() as clock:
            start = time.perf_counter()
            fn()
            first = time.perf_counter() - start
        compile_s[name] = (clock.seconds, first)
    return fns, compile_s


def measure(cfgs: list, repeats: int) -> list[dict]:
    """Interleaved packed / one-by-one rows: seconds per grid, runs per hour, ratio, compile share."""
    fns, compile_s = units(cfgs)
    times = interleaved(fns, repeats, warmup=0)
    c = cfgs[0]
    case = f"{len(cfgs)} cells N_M={c.d_model} L={c.num_layers} B={c.batch_size} T={c.seq_len} {c.steps} steps"
    rows = []
    for name, t in times.items():
        rows.append(timed_row(BENCH, case, f"{name} grid wall", t, unit="s"))
        rows.append(timed_row(BENCH, case, f"{name} runs/hour", t, per=len(cfgs) * 3600, rate=True, unit="runs/h"))
        secs, first = compile_s[name]
        rows.append(row(BENCH, case, f"{name} compile", secs, "s", note=f"first call {first:.1f} s in all"))
    r = [b / a for a, b in zip(times["packed"], times["one_by_one"])]
    rows.append(row(BENCH, case, "speedup packed (one_by_one/packed)", statistics.median(r), "x",
                    spread=(min(r), max(r)), target=">= 1.0", met=statistics.median(r) >= 1.0))
    with_compile = (statistics.median(times["one_by_one"]) + compile_s["one_by_one"][0]) / (
        statistics.median(times["packed"]) + compile_s["packed"][0])
    rows.append(row(BENCH, case, "speedup packed incl. compile", with_compile, "x", note="medians + compile seconds"))
    return rows


def run(quick: bool, gpu: bool) -> list[dict]:
    """16 cells of 100 steps, 3 rounds (--quick: 50 steps, 2 rounds; --gpu: 32 cells of B = 128)."""
    if quick:
        return measure(grid(16, steps=50), repeats=2)
    if gpu:
        return measure(grid(32, batch_size=128, steps=100), repeats=3)
    return measure(grid(16, steps=100), repeats=3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="50 steps, two rounds")
    p.add_argument("--gpu", action="store_true", help="a bigger grid for an accelerator")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    common.report(run(a.quick, a.gpu), a.out)


if __name__ == "__main__":
    main()
