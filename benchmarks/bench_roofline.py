"""Benchmark 4: achieved FLOP/s of a training step against the measured matmul peak of the same machine.

Model FLOPs per step: ``step_units.flops`` (6 x matmul parameters x tokens + the full T x T attention; the
task projections counted apart). The peak is a large float32 matmul through XLA and through PyTorch, timed
interleaved with benchmark 2's units for the same config (whose rows this benchmark also reports); on a GPU
also a bfloat16 matmul, the denominator of MFU. The target row is ``jax_run``: a step's cost inside a long
engine run (batch and step, the run's fixed init and meta-tests taken out; see ``step_units.per_step``).

    python benchmarks/bench_roofline.py [--quick] [--gpu] [--out FILE]
"""

from __future__ import annotations

import argparse
import os

import common
from common import interleaved, row, stats
from step_units import config, flops, per_step, step_rows, step_units

BENCH = "4 roofline"


def peak_units(size: int, with_torch: bool = True, bf16: bool = False) -> tuple[dict, dict]:
    """Matmul units ``{name: callable}`` and their FLOPs per call (one n x n x n product)."""
    import jax
    import jax.numpy as jnp

    units, work = {}, {}
    dtypes = [("f32", jnp.float32)] + ([("bf16", jnp.bfloat16)] if bf16 else [])
    for tag, dtype in dtypes:
        a = jax.random.normal(jax.random.key(0), (size, size), dtype)
        mm = jax.jit(lambda x: x @ x)
        units[f"xla_matmul_{tag}"] = lambda a=a, mm=mm: jax.block_until_ready(mm(a))
        work[f"xla_matmul_{tag}"] = 2 * size ** 3
    if with_torch and common.has_torch():
        import torch

        t = torch.randn(size, size)

        def torch_mm():
            torch.set_num_threads(os.cpu_count() or 1)  # benchmark 2's calibration may have left 1
            return t @ t

        units["torch_matmul_f32"] = torch_mm
        work["torch_matmul_f32"] = 2 * size ** 3
    return units, work


def measure(cfg, repeats: int, with_torch: bool = True, peak_size: int = 2048, gpu: bool = False) -> list[dict]:
    """Benchmark 2's units for ``cfg`` interleaved with the matmul peaks: its rows, then FLOP/s rows."""
    units, facts = step_units(cfg, with_torch=with_torch and not gpu)
    peaks, peak_work = peak_units(peak_size, with_torch=with_torch and not gpu, bf16=gpu)
    times = interleaved({**units, **peaks}, repeats)
    f = flops(cfg)
    case = f"N_M={cfg.d_model} L={cfg.num_layers} B={cfg.batch_size} T={cfg.seq_len}"
    rows = step_rows(cfg, times, facts)
    rows.append(row(BENCH, case, "model GFLOP per step", f["model"] / 1e9, "GFLOP",
                    note=f"{f['params']:,} matmul params; attention {f['attention'] / 1e9:.1f}, "
                         f"projections {f['projection'] / 1e9:.2f} GFLOP (not counted)"))
    rates = {}
    for name, work in peak_work.items():
        rates[name] = stats([work / s for s in times[name]])["median"]
        rows.append(common.timed_row(BENCH, f"{peak_size}^3 matmul", f"{name} peak", times[name], per=work / 1e9,
                                     rate=True, unit="GFLOP/s"))
    f32_peak = max(v for k, v in rates.items() if k.endswith("f32"))
    steps = per_step(times, facts)
    for name in ("jax_run", "jax_e2e", "jax_step", "torch_step"):
        if name not in steps:
            continue
        secs = steps[name]
        rows.append(common.timed_row(BENCH, case, f"{name} achieved", secs, per=f["model"] / 1e9, rate=True,
                                     unit="GFLOP/s"))
        achieved = f["model"] / stats(secs)["median"]
        is_target = name == "jax_run" and not gpu and cfg.d_model == 256 and cfg.batch_size == 128
        rows.append(row(BENCH, case, f"{name} / f32 matmul peak", achieved / f32_peak, "fraction",
                        target=">= 0.5 (jax_run, CPU, paper default)" if is_target else "",
                        met=(achieved / f32_peak >= 0.5) if is_target else None,
                        note=f"peak = best f32 matmul median, {f32_peak / 1e9:.1f} GFLOP/s"))
        if gpu and "xla_matmul_bf16" in rates:
            rows.append(row(BENCH, case, f"{name} MFU vs bf16 matmul", achieved / rates["xla_matmul_bf16"],
                            "fraction"))
    return rows


def run(quick: bool, gpu: bool) -> list[dict]:
    """The paper default (N_M=256, 4 layers, B=128, T=100); --quick: N_M=64, B=32."""
    if quick:
        return measure(config(64, 32, 20), repeats=2, peak_size=1024, gpu=gpu)
    # 4 steps per timed JAX call (~1,000 GFLOP): a run's fixed part (init, two meta-tests) is then a small
    # share of the call, as in a sweep's runs of thousands of steps.
    cfg = config(256, 128, 400 if gpu else 1000)
    return measure(cfg, repeats=5 if gpu else 3, peak_size=8192 if gpu else 2048, gpu=gpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small model, two rounds")
    p.add_argument("--gpu", action="store_true", help="GPU sizes; bf16 MFU; no PyTorch")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    common.report(run(a.quick, a.gpu), a.out)


if __name__ == "__main__":
    main()
