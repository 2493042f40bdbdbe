"""Benchmarks 8-11: engine options and packing at the paper default, a projection of the Fig. 2 sweep, PyTorch.

Every time is the sweep's own chunk program (``driver.programs``, timed by ``sweep.pack_probe.probe``), with
meta-tests every ``EVAL_EVERY`` steps (counted in: a sweep pays for them too).

- 8 ``pack``: runs per hour at pack sizes 1, 2, 4, 8, 16, and the size ``pack_probe.choose_pack`` picks.
- 9 ``options``: bfloat16 vs float32 step; fused (cuDNN, else XLA) vs reference attention; compile seconds of
  one chunk program, cold (empty persistent cache) and warm (the cache a cold compile filled, in-memory
  caches cleared).
- 11 ``torch``: PyTorch's step on the same GPU (eager, torch.compile, with bf16 autocast) beside ours.
- 10 ``projection``: ``sweeps/paper_fig2.toml``'s wall time from measured per-run-step times of sampled
  model sizes (smallest, middle and largest Transformer, and the largest MLP), the others interpolated in
  parameter count, plus one measured compile per program group.

Paper default: N_M = 256, 4 layers, 8 heads x 32, B = 128, T = 100, 14 x 14 inputs. On CPU (no ``--gpu``)
every size is small, so the script can be tried anywhere (``LIMIT_SCALE`` in gpu_check.sh).

    python benchmarks/bench_engine.py --part pack|options|projection [--quick] [--gpu] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

import common
from common import ROOT, row

EVAL_EVERY = 100
PAPER = dict(d_model=256, num_layers=4, num_heads=8, key_size=32, image_size=14, seq_len=100, batch_size=128,
             num_classes=10, eval_batch=128)
SMALL = dict(d_model=32, num_layers=2, num_heads=2, key_size=8, image_size=7, seq_len=20, batch_size=32,
             num_classes=10, eval_batch=32)


def config(gpu: bool, quick: bool, **changes):
    from gpicl_phase.config import RunConfig

    every = 10 if quick else (EVAL_EVERY if gpu else 20)
    sizes = PAPER if gpu and not quick else SMALL
    return RunConfig(**{**sizes, "steps": every, "eval_every": every, "log_every": every // 2, **changes})


def backend_engine():
    import jax

    from gpicl_phase.engine import Engine

    return Engine.for_backend(jax.default_backend())


def run_pack(quick: bool, gpu: bool) -> list[dict]:
    """Runs per hour (of the paper's 30,000 steps) at each pack size, and the probe's choice."""
    from gpicl_phase.sweep.pack_probe import choose_pack, probe

    static = config(gpu, quick).static_part()
    engine = backend_engine()
    seconds = probe(static, engine, repeats=2 if quick else 3, log=print)
    sizes = (1, 2) if quick else (1, 2, 4, 8, 16)
    measured = {p: seconds(p) for p in sizes}
    one = measured[1]
    rows = []
    for p, s in measured.items():
        common.PARTIAL.append(row("8 pack", f"pack {p}", "runs/hour", p * 3600 / (s * 30_000), "runs/h",
                                  note=f"{s * 1e3:.2f} ms per pack-step; {one / (s / p):.2f}x one-by-one "
                                       f"per run-step; {engine.precision}, {engine.attention}"))
        rows.append(common.PARTIAL[-1])
    chosen = choose_pack(max(sizes), lambda p: measured[p])
    rows.append(row("8 pack", "choose_pack", "pack size", chosen, "runs",
                    note="doubling stops when it buys < 10% more run-steps/s (gpicl_phase/sweep/pack_probe.py)"))
    top = max(sizes)
    rows.append(row("8 pack", f"pack {top} vs 1", "speedup per run-step", one / (measured[top] / top), "x",
                    target=">= 3x at N_M=64, B=128, T=100 (issue 19)" if gpu else ""))
    return rows


def run_options(quick: bool, gpu: bool) -> list[dict]:
    """bfloat16 vs float32, fused vs reference attention (pack of one), compile seconds cold and warm."""
    from gpicl_phase.sweep.pack_probe import probe

    static = config(gpu, quick).static_part()
    base = backend_engine()
    fused = "cudnn" if gpu else "xla"
    variants = {
        "float32": base.replace(precision="float32"),
        "bfloat16": base.replace(precision="bfloat16"),
        f"{fused} attention": base.replace(attention=fused),
        "reference attention": base.replace(attention="reference"),
    }
    ms = {}
    rows = []
    for name, engine in variants.items():
        ms[name] = probe(static, engine, repeats=2 if quick else 3)(1) * 1e3
        common.PARTIAL.append(row("9 options", name, "step", ms[name], "ms", note=engine.to_json()))
        rows.append(common.PARTIAL[-1])
    rows.append(row("9 options", "bfloat16 vs float32", "speedup", ms["float32"] / ms["bfloat16"], "x"))
    rows.append(row("9 options", f"{fused} vs reference attention", "speedup",
                    ms["reference attention"] / ms[f"{fused} attention"], "x"))
    cold, warm = compile_seconds(static, base)
    rows.append(row("9 options", "compile, cold", "seconds", cold, "s", target="<= 15 s per program (GPU)",
                    met=cold <= 15 if gpu else None, note="one chunk program, empty persistent cache"))
    rows.append(row("9 options", "compile, warm", "seconds", warm, "s",
                    note="the same program from the persistent cache, in-memory caches cleared"))
    return rows


def compile_seconds(static, engine) -> tuple[float, float]:
    """Seconds to compile the pack-of-one chunk program with an empty persistent cache, then from it."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from gpicl_phase import driver, train
    from gpicl_phase.sweep import execute

    data = train.task_data(static)
    hp = train.hyper([static.replace(num_tasks=2 ** 16)])
    keys = jax.vmap(train.run_key)(jnp.zeros(1, jnp.uint32))
    out = []
    with tempfile.TemporaryDirectory() as cache:
        execute.enable_compile_cache(cache)
        for _ in range(2):
            jax.clear_caches()
            driver.programs.cache_clear()
            start, chunk, _ = driver.programs(static, True, engine)
            carry = jax.eval_shape(start, data, hp, keys)[0]
            tic = time.perf_counter()
            chunk.lower(data, hp, carry, np.int32(0)).compile()
            out.append(time.perf_counter() - tic)
        execute.disable_compile_cache()
    return out[0], out[1]


def run_projection(quick: bool, gpu: bool) -> list[dict]:
    """Wall time of ``sweeps/paper_fig2.toml`` from sampled groups' measured per-run-step times."""
    from gpicl_phase import models
    from gpicl_phase.sweep import load
    from gpicl_phase.sweep.pack_probe import probe
    from gpicl_phase.sweep.plan import groups, pack_size
    from gpicl_phase.sweep import execute

    smoke = quick or not gpu  # the full sweep only where it is meant to run
    spec = load(ROOT / "sweeps" / "paper_fig2.toml", smoke=smoke)
    engine = backend_engine()
    budget = execute.device_budget()
    found = groups(spec)
    params = {s: models.count_params(s) for s in found}
    tf = sorted((s for s in found if s.model == "transformer"), key=params.get)
    mlp = sorted((s for s in found if s.model != "transformer"), key=params.get)
    sampled = list(dict.fromkeys([tf[0], tf[len(tf) // 2], tf[-1], *mlp[-1:]]))
    if quick:
        sampled = sampled[:2]
    per_run_step, compile_s, rows = {}, [], []
    for static in sampled:
        short = static.replace(steps=config(gpu, quick).steps, eval_every=config(gpu, quick).eval_every,
                               log_every=config(gpu, quick).log_every)
        p = min(pack_size(static, budget, None), 1 << (found[static] - 1).bit_length(), 16)
        tic = time.perf_counter()
        seconds = probe(short, engine, repeats=2)
        s = seconds(p)
        compile_s.append(time.perf_counter() - tic - 3 * s * short.eval_every)
        per_run_step[static] = s / p
        common.PARTIAL.append(row("10 projection", f"{static.model} d_model={static.d_model}", "per run-step",
                                  s / p * 1e3, "ms", note=f"pack {p}, {params[static]:,} parameters"))
        rows.append(common.PARTIAL[-1])
    total = sum(found[s] * s.budget * estimate(s, params, per_run_step) for s in found)
    total += len(found) * max(compile_s)
    rows.append(row("10 projection", spec.name + (" (smoke)" if smoke else ""), "wall time",
                    total / 3600, "h", target="<= 1 h on one H200" if gpu else "",
                    met=total <= 3600 if gpu else None,
                    note=f"{len(found)} groups, {sum(found.values())} runs; sampled {len(sampled)}, others "
                         f"interpolated in log(parameters); {len(found)} compiles of {max(compile_s):.0f} s"))
    return rows


def estimate(static, params: dict, measured: dict) -> float:
    """Per-run-step seconds of a group: measured, else interpolated in log(parameter count) between measured
    groups of the same model kind (clamped at the ends), else the slowest measured."""
    if static in measured:
        return measured[static]
    same = sorted((params[s], t) for s, t in measured.items() if s.model == static.model)
    if not same:
        return max(measured.values())
    x = math.log(params[static])
    xs = [math.log(p) for p, _ in same]
    ts = [t for _, t in same]
    if x <= xs[0]:
        return ts[0]
    for (x0, t0), (x1, t1) in zip(zip(xs, ts), zip(xs[1:], ts[1:])):
        if x <= x1:
            return t0 + (t1 - t0) * (x - x0) / (x1 - x0)
    return ts[-1]


def run_torch(quick: bool, gpu: bool) -> list[dict]:
    """PyTorch's step at the same config on the same GPU (eager, torch.compile, bf16 autocast + compile),
    beside the engine's step of a pack of one (whose meta-tests every EVAL_EVERY steps are counted in)."""
    if not common.has_torch():
        return [row("11 torch", "-", "skipped", float("nan"), "", note="torch is not installed")]
    import torch

    if not torch.cuda.is_available():
        return [row("11 torch", "-", "skipped", float("nan"), "", note="no CUDA device for torch (the CPU "
                    "comparison is benchmark 2)")]
    import torch_gpicl as tg

    from gpicl_phase import data as datasets
    from gpicl_phase.sweep.pack_probe import probe

    cfg = config(gpu, quick)
    ds = datasets.load(cfg.dataset, image_size=cfg.image_size, channels=cfg.channels)
    maker = tg.BatchMaker(ds.train_x.copy(), ds.train_y, batch=cfg.batch_size, seq_len=cfg.seq_len,
                          classes=cfg.num_classes, num_tasks=cfg.num_tasks)
    fixed = [x.cuda() for x in maker()]

    def step_ms(compiled: bool, autocast: bool, steps: int = 20) -> float:
        torch.manual_seed(0)
        model = tg.Transformer(cfg.input_dim + cfg.num_classes + 1, cfg.d_model, cfg.num_layers, cfg.num_heads,
                               cfg.key_size, cfg.seq_len, cfg.num_classes).cuda()
        step = tg.make_step(torch.compile(model) if compiled else model)

        def one():
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                return step(*fixed)

        for _ in range(3):  # compile and warm
            one()
        torch.cuda.synchronize()
        tic = time.perf_counter()
        for _ in range(steps):
            one()
        torch.cuda.synchronize()
        return (time.perf_counter() - tic) / steps * 1e3

    ours = probe(cfg.static_part(), backend_engine(), repeats=3)(1) * 1e3
    rows = [row("11 torch", "gpicl-phase (engine default)", "step", ours, "ms", note=backend_engine().to_json())]
    for name, compiled, autocast in (("eager", False, False), ("torch.compile", True, False),
                                     ("torch.compile + bf16 autocast", True, True)):
        ms = step_ms(compiled, autocast)
        rows.append(row("11 torch", f"PyTorch {name}", "step", ms, "ms"))
        common.PARTIAL.append(rows[-1])
    best = min(r["value"] for r in rows[1:])
    rows.append(row("11 torch", "fastest PyTorch / gpicl-phase", "speedup", best / ours, "x",
                    target=">= 2x (issue 19)", met=best / ours >= 2))
    return rows


PARTS = {"pack": run_pack, "options": run_options, "projection": run_projection, "torch": run_torch}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=PARTS, required=True)
    p.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    p.add_argument("--gpu", action="store_true", help="the paper default and the full paper_fig2 sweep")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    common.report(PARTS[a.part](a.quick, a.gpu), a.out)


if __name__ == "__main__":
    main()
