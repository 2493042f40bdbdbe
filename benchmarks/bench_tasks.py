"""Benchmark 1: projected training sequences per second, three ways of making them.

- ``fresh``: the engine's ``tasks.train_batch``, one Gaussian D x D projection drawn per sequence on device;
- ``bank``: ``task_bank``, every training task's matrix precomputed once on device and gathered (exact:
  the same batches, checked);
- ``per_sample``: a PyTorch ``Dataset`` making one sequence per ``__getitem__`` and a ``DataLoader``
  collating B of them, as public PyTorch reproductions do (skipped without torch); one torch thread, as in
  a DataLoader worker (with 2 threads on a shared machine it was 3x slower);
- ``torch_vec``: the vectorized PyTorch batch of ``torch_gpicl.BatchMaker`` (fresh matrices), for reference.

Each call makes ``batches`` batches of B = 128 sequences of T = 100; the share of a training step that
batch making takes is measured beside the step in ``bench_step.py``.

    python benchmarks/bench_tasks.py [--quick] [--gpu] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import common
import task_bank
from common import interleaved, row, timed_row

BENCH = "1 tasks"


def per_sample_units(cfg, batches: int) -> dict:
    """The per-sample PyTorch loader and the vectorized PyTorch batch, ``batches`` batches per call."""
    if not common.has_torch():
        return {}
    import torch

    import torch_gpicl as tg
    from gpicl_phase import data as datasets

    ds = datasets.load(cfg.dataset, image_size=cfg.image_size, channels=cfg.channels)
    kw = dict(batch=cfg.batch_size, seq_len=cfg.seq_len, classes=cfg.num_classes, num_tasks=cfg.num_tasks)
    loader = tg.per_sample_loader(ds.train_x.copy(), ds.train_y, **kw)
    maker = tg.BatchMaker(ds.train_x.copy(), ds.train_y, **kw)

    def repeat(fn, threads):
        def run():
            torch.set_num_threads(threads)
            for _ in range(batches):
                fn()
        return run

    # A DataLoader worker runs torch on one thread; the vectorized batch gets every core.
    return {"per_sample": repeat(lambda: next(loader), 1), "torch_vec": repeat(maker, os.cpu_count() or 1)}


def measure(image_size: int, num_tasks: int, batches: int, repeats: int, loader_batches: int,
            with_torch: bool = True) -> list[dict]:
    """Interleaved generators at one input size; rows of sequences/s, speedups and the bank's cost."""
    import jax

    from gpicl_phase import train

    cfg = common.bench_config(image_size=image_size, num_tasks=num_tasks)
    data = train.task_data(cfg)
    root = jax.random.fold_in(jax.random.key(cfg.task_seed), 0)
    start = time.perf_counter()
    bank = task_bank.build(root, num_tasks, cfg.input_dim, cfg.num_classes)
    build_s = time.perf_counter() - start
    diff = task_bank.max_difference(cfg, data, bank)
    units = task_bank.batch_units(cfg, data, bank, batches=batches)
    torch_units = per_sample_units(cfg, loader_batches) if with_torch else {}
    units.update(torch_units)
    times = interleaved(units, repeats)
    d = cfg.input_dim
    case = f"{image_size}x{image_size} (D={d}) B={cfg.batch_size} T={cfg.seq_len} tasks=2^{num_tasks.bit_length() - 1}"
    per_call = {name: (loader_batches if name in torch_units else batches) * cfg.batch_size for name in units}
    rows = [timed_row(BENCH, case, f"{name} sequences/s", t, per=per_call[name], rate=True, unit="seq/s")
            for name, t in times.items()]
    rate = {name: [per_call[name] / s for s in t] for name, t in times.items()}
    for name in ("fresh", "bank"):
        if "per_sample" in rate:
            r = [a / b for a, b in zip(rate[name], rate["per_sample"])]
            rows.append(row(BENCH, case, f"{name} / per_sample", statistics.median(r), "x", spread=(min(r), max(r)),
                            target=">= 10", met=statistics.median(r) >= 10))
    r = [a / b for a, b in zip(rate["bank"], rate["fresh"])]
    rows.append(row(BENCH, case, "bank / fresh", statistics.median(r), "x", spread=(min(r), max(r))))
    rows.append(row(BENCH, case, "bank build (once)", build_s, "s",
                    note=f"{num_tasks * d * d * 4 / 2 ** 30:.2f} GiB on device; max |bank - fresh| = {diff:g}"))
    rows += auto_choice(cfg, num_tasks, case)
    return rows


def auto_choice(cfg, num_tasks: int, case: str) -> list[dict]:
    """What ``--task-source auto`` picks for this config on this device: one run and a pack of 16, 5,000 steps."""
    from gpicl_phase import driver
    from gpicl_phase.sweep import execute

    budget = execute.device_budget()
    rows = []
    for runs in (1, 16):
        cfg5k = cfg.replace(steps=5000)
        n = driver.bank_size(cfg5k, num_tasks, runs, cfg.input_dim, budget)
        rows.append(row(BENCH, case, f"auto task source, {runs} run(s) of 5,000 steps", float(n > 0), "bank?",
                        note=f"{'bank' if n else 'fresh'} (device budget {budget / 2 ** 30:.1f} GiB)"))
    return rows


def run(quick: bool, gpu: bool) -> list[dict]:
    """14 x 14 with 2^13 tasks and 28 x 28 with 2^8 (CPU memory); --gpu: 2^14 and 2^12; --quick: 2^10 and 2^6."""
    with_torch = common.has_torch()
    if quick:
        sizes = [(14, 2 ** 10, 2, 2, 1), (28, 2 ** 6, 1, 2, 1)]
    elif gpu:
        sizes = [(14, 2 ** 14, 50, 5, 1), (28, 2 ** 12, 10, 5, 1)]
    else:
        sizes = [(14, 2 ** 13, 5, 5, 1), (28, 2 ** 8, 1, 5, 1)]
    rows = []
    for image_size, num_tasks, batches, repeats, loader_batches in sizes:
        new = measure(image_size, num_tasks, batches, repeats, loader_batches, with_torch)
        rows += new
        common.PARTIAL.extend(new)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small banks, two rounds")
    p.add_argument("--gpu", action="store_true", help="GPU sizes (bigger banks, more batches per call)")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    common.report(run(a.quick, a.gpu), a.out)


if __name__ == "__main__":
    main()
