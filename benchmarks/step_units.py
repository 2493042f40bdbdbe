"""The training-step units that benchmarks 2 (step) and 4 (roofline) time, and how their times become rows.

Built once per config; one call of a unit runs ``cfg.steps`` training steps and blocks until done:

- ``jax_e2e``: the engine itself, ``jit(make_train(cfg))`` (batch generation, step, two tiny meta-tests),
  compiled ahead of time so compile time is reported apart; ``jax_e2e_long``: the same run with twice the
  steps. Their difference is what a step costs inside a long run (``jax_run``, see ``per_step``).
- ``jax_step``: forward, backward, global norm and Adam on one fixed batch, in a ``fori_loop``: the step
  without batch generation.
- ``jax_data``: ``tasks.train_batch`` alone (a fresh projection per sequence); ``jax_data_bank``: the same
  batches gathered from a ``task_bank`` of all ``num_tasks`` matrices.
- ``torch_step`` / ``torch_e2e`` / ``torch_data``: the same three for ``torch_gpicl``, one step per call.

Benchmark 2 times these on a grid of configs; benchmark 4 times the paper default beside a matmul peak and
reports benchmark 2's rows for it, so both build their rows here and neither imports the other.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
import time

import common
import task_bank
from common import row, timed_row

BENCH = "2 step"


def flops(cfg) -> dict:
    """Model FLOPs of one training step of the Transformer, and the task projections' FLOPs, for ``cfg``.

    6 x matmul parameters x tokens, plus attention: 12 x B x H x T^2 x K per layer (QK^T and AV, forward and
    twice backward, over the full T x T the code computes). Projections are data work, counted apart.
    """
    n, h, k, layers = cfg.d_model, cfg.num_heads, cfg.key_size, cfg.num_layers
    tokens = cfg.batch_size * cfg.seq_len
    token_dim = cfg.input_dim + cfg.num_classes + 1
    matmul_params = token_dim * n + layers * (3 * n * h * k + h * k * n + 8 * n * n) + n * cfg.num_classes
    attention = 12 * cfg.batch_size * h * cfg.seq_len ** 2 * k * layers
    return {"params": matmul_params, "model": 6 * matmul_params * tokens + attention, "attention": attention,
            "projection": 2 * tokens * cfg.input_dim ** 2}


def config(n: int, b: int, budget_gflop: float):
    """The timed config of one (N_M, B) cell, with as many steps per call (1..20) as fit ``budget_gflop``.

    Tiny steps would be all call overhead; one meta-test interval covers the call.
    """
    cfg = common.bench_config(d_model=n, batch_size=b)
    steps = max(1, min(20, math.ceil(budget_gflop * 1e9 / flops(cfg)["model"])))
    return cfg.replace(steps=steps, eval_every=steps)


def step_units(cfg, with_torch: bool) -> tuple[dict, dict]:
    """Every unit for ``cfg`` (JAX; PyTorch when asked and installed) and facts: steps per call, compile, threads."""
    units, facts = jax_units(cfg)
    facts["steps"] = {name: 2 * cfg.steps if name == "jax_e2e_long" else cfg.steps for name in units}
    if with_torch and common.has_torch():
        torch_fns, torch_facts = torch_units(cfg)
        units.update(torch_fns)
        facts["steps"].update(dict.fromkeys(torch_fns, 1))
        facts.update(torch_facts)
    return units, facts


def jax_units(cfg) -> tuple[dict, dict]:
    """The JAX units for ``cfg`` and their facts (the engine's compile seconds)."""
    import jax
    import optax

    from gpicl_phase import models, tasks, train

    data, hp, key = train.task_data(cfg), train.hyper(cfg), train.run_key(cfg.seed)
    start = time.perf_counter()
    engine = jax.jit(train.make_train(cfg)).lower(data, hp, key=key).compile()
    compile_s = time.perf_counter() - start
    long = cfg.replace(steps=2 * cfg.steps, eval_every=2 * cfg.eval_every)  # the same two meta-tests
    longer = jax.jit(train.make_train(long)).lower(data, hp, key=key).compile()

    root = jax.random.fold_in(jax.random.key(cfg.task_seed), 0)
    tok, y = jax.jit(lambda k: tasks.train_batch(k, data, root, **task_bank.batch_kwargs(cfg, hp)))(key)
    params = models.init(cfg, key)
    opt = optax.chain(optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8), optax.scale_by_learning_rate(1e-3))

    def loss_fn(p):
        return optax.softmax_cross_entropy_with_integer_labels(models.apply(cfg, p, tok), y).mean()

    @jax.jit
    def fixed_steps(params, opt_state):
        def one(_, carry):
            p, s = carry
            grads = jax.grad(loss_fn)(p)
            norm = optax.global_norm(grads)  # the engine computes it every step, so the step here does too
            updates, s = opt.update(jax.tree_util.tree_map(lambda g: g * (norm > 0), grads), s, p)
            return optax.apply_updates(p, updates), s
        return jax.lax.fori_loop(0, cfg.steps, one, (params, opt_state))

    opt_state = opt.init(params)
    bank = _bank(cfg.task_seed, cfg.num_tasks, cfg.input_dim, cfg.num_classes)
    batches = task_bank.batch_units(cfg, data, bank, batches=cfg.steps)
    units = {
        "jax_e2e": lambda: jax.block_until_ready(engine(data, hp, key=key)),
        "jax_step": lambda: jax.block_until_ready(fixed_steps(params, opt_state)),
        "jax_data": batches["fresh"],
        "jax_data_bank": batches["bank"],
        "jax_e2e_long": lambda: jax.block_until_ready(longer(data, hp, key=key)),
    }
    return units, {"compile_s": compile_s}


@functools.lru_cache(maxsize=1)
def _bank(task_seed: int, num_tasks: int, input_dim: int, num_classes: int):
    """One bank per process: every config of a grid shares its tasks."""
    import jax

    root = jax.random.fold_in(jax.random.key(task_seed), 0)
    return task_bank.build(root, num_tasks, input_dim, num_classes)


def torch_units(cfg) -> tuple[dict, dict]:
    """PyTorch units for ``cfg`` (one step per call) and facts (threads and their calibration).

    PyTorch runs with the thread count (1 or all cores) that a calibration finds faster: on a shared
    machine its OpenMP workers spin at every small op's barrier, and one thread can be 10x faster than two.
    """
    import torch

    import torch_gpicl as tg
    from gpicl_phase import data as datasets

    ds = datasets.load(cfg.dataset, image_size=cfg.image_size, channels=cfg.channels)
    torch.manual_seed(cfg.seed)
    model = tg.Transformer(cfg.input_dim + cfg.num_classes + 1, cfg.d_model, cfg.num_layers, cfg.num_heads,
                           cfg.key_size, cfg.seq_len, cfg.num_classes)
    step = tg.make_step(model)
    maker = tg.BatchMaker(ds.train_x.copy(), ds.train_y, batch=cfg.batch_size, seq_len=cfg.seq_len,
                          classes=cfg.num_classes, num_tasks=cfg.num_tasks)
    fixed = maker()
    threads, calib = pick_threads(lambda: step(*fixed))

    def with_threads(fn):
        def run():
            torch.set_num_threads(threads)
            fn()
        return run

    units = {"torch_step": with_threads(lambda: step(*fixed)), "torch_e2e": with_threads(lambda: step(*maker())),
             "torch_data": with_threads(maker)}
    return units, {"torch_threads": threads, "torch_calibration": calib}


def pick_threads(fn) -> tuple[int, dict]:
    """The faster of 1 thread and all cores for ``fn`` (second of two alternating calls each)."""
    import torch

    counts = sorted({1, os.cpu_count() or 1})
    seconds: dict[int, float] = {}
    for _ in range(2):  # the first round warms both up
        for c in counts:
            torch.set_num_threads(c)
            start = time.perf_counter()
            fn()
            seconds[c] = time.perf_counter() - start
    return min(counts, key=seconds.get), seconds


def per_step(times: dict, facts: dict) -> dict:
    """Seconds per step of each unit, per round, plus ``jax_run``: a step's cost inside a long engine run.

    ``jax_run`` = (long call - short call) / steps: the engine's batch and step without the run's fixed
    part (parameter init, two meta-tests), which PyTorch's ``torch_e2e`` (batch and step) does not have
    either and a sweep's runs of thousands of steps amortize.
    """
    out = {name: [t / k for t in times[name]] for name, k in facts["steps"].items()}
    out["jax_run"] = [2 * long - short for long, short in zip(out["jax_e2e_long"], out["jax_e2e"])]
    return out


def step_rows(cfg, times: dict, facts: dict) -> list[dict]:
    """Benchmark 2's rows from interleaved ``times`` of ``step_units``: seconds per step, shares, speedups."""
    case = f"N_M={cfg.d_model} B={cfg.batch_size}"
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
    rows += batch_share_rows(cfg, case, times)
    if "torch_step" in times:
        rows += speedup_rows(case, times)
    return rows


def batch_share_rows(cfg, case: str, times: dict) -> list[dict]:
    """The batch's share of a step inside a run, fresh projections and from the bank (target for N_M >= 64)."""
    big = cfg.d_model >= 64
    rows = []
    for name, label in (("jax_data", "fresh"), ("jax_data_bank", "bank")):
        # The bank replaces the fresh draws inside the step: run - fresh + bank is its step time.
        share = [d / (e - f + d) if name == "jax_data_bank" else d / e
                 for d, e, f in zip(times[name], times["jax_run"], times["jax_data"])]
        rows.append(row(BENCH, case, f"jax batch share of run step ({label})", statistics.median(share), "fraction",
                        spread=(min(share), max(share)), target="< 0.2 (N_M >= 64)" if big else "",
                        met=(statistics.median(share) < 0.2) if big else None,
                        note="of jax_run" + ("; bank: data_bank / (run - data_fresh + data_bank)"
                                             if label == "bank" else "")))
    return rows


def speedup_rows(case: str, times: dict) -> list[dict]:
    """PyTorch time / JAX time per round (> 1: JAX is faster), step alone and end to end."""
    rows = []
    for what, jax_unit, target in (("step", "jax_step", ">= 1.0"), ("e2e", "jax_run", "> 1.0"),
                                   ("e2e incl. fixed part", "jax_e2e", "")):
        torch_unit = f"torch_{what.split()[0]}"
        r = [a / b for a, b in zip(times[torch_unit], times[jax_unit])]
        med = statistics.median(r)
        met = None if not target else med >= 1.0 if what == "step" else med > 1.0
        rows.append(row(BENCH, case, f"speedup {what} (torch/jax)", med, "x", spread=(min(r), max(r)),
                        target=target, met=met, note=f"{torch_unit} / {jax_unit}"))
    share = [d / e for d, e in zip(times["torch_data"], times["torch_e2e"])]
    rows.append(row(BENCH, case, "torch batch share of e2e step", statistics.median(share), "fraction",
                    spread=(min(share), max(share))))
    return rows
