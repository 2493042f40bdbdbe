"""Benchmark 2: one training step, gpicl-phase (JAX/XLA) against a faithful PyTorch implementation.

For N_M in {32, 64, 256} x B in {32, 128}, T = 100, 4 layers, 8 heads of key size 32 at every N_M (the
engine's defaults; not scaled with N_M), 14 x 14 inputs: the step alone on a fixed batch, the batch
alone, and both together (JAX: the engine's own compiled run). Speedup = PyTorch time / JAX time per
step, per round (both timed in the same round), median over rounds. PyTorch runs on the faster of 1 and
all threads (calibrated per config: see ``step_variants.torch_variants``). Also the batch's share of the step, for the
engine's fresh projections and for a ``task_bank`` of the 2^13 training tasks.

    python benchmarks/bench_step.py [--quick] [--gpu] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics

import common
import step_variants
from bench_roofline import flops
from common import interleaved, row, timed_row

BENCH = "2 step"
GRID = [(n, b) for n in (32, 64, 256) for b in (32, 128)]
GPU_GRID = [(64, 128), (256, 32), (256, 128)]


def steps_for(cfg, budget_gflop: float) -> int:
    """Steps per timed call: about ``budget_gflop`` of model work, so tiny steps are not all overhead."""
    return max(1, min(20, math.ceil(budget_gflop * 1e9 / flops(cfg)["model"])))


def paired(times: dict, slow: str, fast: str) -> list[float]:
    """Per-round ratios slow/fast (> 1: ``fast`` is faster)."""
    return [a / b for a, b in zip(times[slow], times[fast])]


def config(n: int, b: int, budget_gflop: float):
    """The timed config of one (N_M, B) cell: ``steps`` = steps per timed call."""
    cfg = common.bench_config(d_model=n, batch_size=b)
    s = steps_for(cfg, budget_gflop)
    return cfg.replace(steps=s, eval_every=s)


def step_units(cfg, with_torch: bool) -> tuple[dict, dict]:
    """Every unit this benchmark times for ``cfg`` (JAX with the task bank; PyTorch when asked)."""
    units, facts = step_variants.jax_variants(cfg, bank=True, marginal=True)
    facts["steps"] = {name: 2 * cfg.steps if name == "jax_e2e_long" else cfg.steps for name in units}
    if with_torch:
        torch_units, torch_facts = step_variants.torch_variants(cfg)
        units.update(torch_units)
        facts["steps"].update(torch_facts.pop("steps", {}))
        facts.update(torch_facts)
    return units, facts


def per_step(times: dict, facts: dict) -> dict:
    """Seconds per step of each unit, per round, plus ``jax_run``: a step's cost inside a long engine run.

    ``jax_run`` = (long call - short call) / steps: the engine's batch and step without the run's fixed
    part (parameter init, two meta-tests), which PyTorch's ``torch_e2e`` (batch and step) does not have
    either and a sweep's runs of thousands of steps amortize.
    """
    out = {name: [t / k for t in times[name]] for name, k in facts["steps"].items()}
    if "jax_e2e_long" in out:
        out["jax_run"] = [2 * long - short for long, short in zip(out["jax_e2e_long"], out["jax_e2e"])]
    return out


def step_rows(cfg, times: dict, facts: dict) -> list[dict]:
    """Rows of seconds per step, speedups and batch shares from interleaved ``times`` of ``step_units``."""
    n = cfg.d_model
    case = f"N_M={n} B={cfg.batch_size}"
    times = per_step(times, facts)
    rows = [timed_row(BENCH, case, f"{name} per step", t, unit="s") for name, t in times.items()]
    fixed = [(s - r) * cfg.steps for s, r in zip(times["jax_e2e"], times["jax_run"])]
    rows.append(timed_row(BENCH, case, "jax_e2e fixed part per run", fixed, unit="s",
                          note="init and two meta-tests: jax_e2e call - steps x jax_run"))
    note = f"JAX {cfg.steps} steps per timed call (jax_e2e_long {2 * cfg.steps}), PyTorch 1"
    if "torch_threads" in facts:
        calib = ", ".join(f"{k} thread(s) {v:.2f} s" for k, v in facts["torch_calibration"].items())
        note += f"; PyTorch on {facts['torch_threads']} thread(s) (calibration step: {calib})"
    rows.append(row(BENCH, case, "jax_e2e compile", facts["compile_s"], "s", note=note))
    big = n >= 64
    for name, label in (("jax_data", "fresh"), ("jax_data_bank", "bank")):
        # The bank replaces the fresh draws inside the step: run - fresh + bank is its step time.
        share = [d / (e - f + d) if name == "jax_data_bank" else d / e
                 for d, e, f in zip(times[name], times["jax_run"], times["jax_data"])]
        rows.append(row(BENCH, case, f"jax batch share of run step ({label})", statistics.median(share), "fraction",
                        spread=(min(share), max(share)), target="< 0.2 (N_M >= 64)" if big else "",
                        met=(statistics.median(share) < 0.2) if big else None,
                        note="of jax_run" + ("; bank: data_bank / (run - data_fresh + data_bank)"
                                             if label == "bank" else "")))
    if "torch_step" in times:
        for what, jax_unit, target in (("step", "jax_step", ">= 1.0"), ("e2e", "jax_run", "> 1.0"),
                                       ("e2e incl. fixed part", "jax_e2e", "")):
            r = paired(times, f"torch_{what.split()[0]}", jax_unit)
            med = statistics.median(r)
            ok = None if not target else med >= 1.0 if what == "step" else med > 1.0
            rows.append(row(BENCH, case, f"speedup {what} (torch/jax)", med, "x", spread=(min(r), max(r)),
                            target=target, met=ok, note=f"torch_{what.split()[0]} / {jax_unit}"))
        tshare = [d / e for d, e in zip(times["torch_data"], times["torch_e2e"])]
        rows.append(row(BENCH, case, "torch batch share of e2e step", statistics.median(tshare), "fraction",
                        spread=(min(tshare), max(tshare))))
    return rows


def measure(n: int, b: int, repeats: int, with_torch: bool, budget_gflop: float) -> list[dict]:
    """Interleaved units of one (N_M, B) config; rows of seconds per step, speedups and shares."""
    cfg = config(n, b, budget_gflop)
    units, facts = step_units(cfg, with_torch)
    return step_rows(cfg, interleaved(units, repeats), facts)


def run(quick: bool = False, gpu: bool = False, grid=None, budget_gflop: float | None = None) -> list[dict]:
    """The grid (--quick: N_M in {32, 64}, B=32, two rounds; --gpu: the three bigger configs).

    ``run_all`` leaves out the paper default (256, 128): benchmark 4 times the same units beside the
    matmul peak and reports this benchmark's rows for it.
    """
    grid = grid or ([(32, 32), (64, 32)] if quick else GPU_GRID if gpu else GRID)
    with_torch = common.has_torch() and not gpu
    rows = []
    for n, b in grid:
        new = measure(n, b, repeats=2 if quick else (5 if gpu else 3), with_torch=with_torch,
                      budget_gflop=budget_gflop or (400 if gpu else 20))
        rows += new
        common.PARTIAL.extend(new)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two small configs, two rounds")
    p.add_argument("--gpu", action="store_true", help="JAX only, more steps per call")
    p.add_argument("--grid", help="configs as N_M:B pairs, e.g. 64:128,256:32")
    p.add_argument("--budget", type=float, metavar="GFLOP",
                   help="model work per timed JAX call (default 20 on CPU, 400 on GPU; at most 20 steps): raise it "
                        "to amortize the engine run's fixed part (init, two meta-tests) over several steps")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    grid = [tuple(int(v) for v in pair.split(":")) for pair in a.grid.split(",")] if a.grid else None
    common.report(run(a.quick, a.gpu, grid, a.budget), a.out)


if __name__ == "__main__":
    main()
