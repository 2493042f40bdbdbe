"""The timed units of benchmarks 2 and 4, built once per config: JAX engine, JAX step alone, PyTorch.

Each builder returns ``{name: callable}``; one call runs ``steps`` training steps and blocks until done.

- ``jax_e2e``: the engine itself, ``jit(make_train(cfg))`` with ``steps`` steps (batch generation, step,
  two tiny meta-tests). Compiled ahead of time, so compile time is measured apart (``compile_s``).
  ``jax_e2e_long``: the same run with twice the steps (with ``marginal``). The difference of the two is
  what a step costs inside a long run, without the run's fixed part (parameter init, the two meta-tests).
- ``jax_step``: forward, backward, global norm and Adam on one fixed batch, ``steps`` times in a
  ``fori_loop``: the step without batch generation.
- ``jax_data``: ``tasks.train_batch`` alone (a fresh projection per sequence), ``steps`` batches;
  ``jax_data_bank``: the same batches gathered from a ``task_bank`` of all ``num_tasks`` matrices.
- ``torch_step`` / ``torch_e2e`` / ``torch_data``: the same three for ``torch_gpicl``.
"""

from __future__ import annotations

import functools
import time

import common  # noqa: F401 - puts the repository root on sys.path
import task_bank


def jax_variants(cfg, bank: bool = False, marginal: bool = False) -> tuple[dict, dict]:
    """JAX units for ``cfg`` (``cfg.steps`` steps per call; ``jax_e2e_long`` twice that) and facts about them
    (compile seconds)."""
    import jax
    import optax

    from gpicl_phase import models, tasks, train

    data = train.task_data(cfg)
    hp = train.hyper(cfg)
    key = train.run_key(cfg.seed)
    start = time.perf_counter()
    engine = jax.jit(train.make_train(cfg)).lower(data, hp, key=key).compile()
    compile_s = time.perf_counter() - start

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
            norm = optax.global_norm(grads)
            updates, s = opt.update(jax.tree_util.tree_map(lambda g: g * (norm > 0), grads), s, p)
            return optax.apply_updates(p, updates), s
        return jax.lax.fori_loop(0, cfg.steps, one, (params, opt_state))

    opt_state = opt.init(params)
    tb = _bank(cfg.task_seed, cfg.num_tasks, cfg.input_dim, cfg.num_classes) if bank else None
    batches = task_bank.batch_units(cfg, data, tb, batches=cfg.steps)
    units = {
        "jax_e2e": lambda: jax.block_until_ready(engine(data, hp, key=key)),
        "jax_step": lambda: jax.block_until_ready(fixed_steps(params, opt_state)),
        "jax_data": batches["fresh"],
    }
    if bank:
        units["jax_data_bank"] = batches["bank"]
    if marginal:
        long = cfg.replace(steps=2 * cfg.steps, eval_every=2 * cfg.eval_every)  # same two meta-tests
        longer = jax.jit(train.make_train(long)).lower(data, hp, key=key).compile()
        units["jax_e2e_long"] = lambda: jax.block_until_ready(longer(data, hp, key=key))
    return units, {"compile_s": compile_s}


@functools.lru_cache(maxsize=1)
def _bank(task_seed: int, num_tasks: int, input_dim: int, num_classes: int):
    """One bank per process: every config of a grid shares its tasks."""
    import jax

    root = jax.random.fold_in(jax.random.key(task_seed), 0)
    return task_bank.build(root, num_tasks, input_dim, num_classes)


def torch_variants(cfg) -> tuple[dict, dict]:
    """PyTorch units for ``cfg`` (one step per call) and facts (steps per call, threads); empty without torch.

    PyTorch runs with the thread count (1 or all cores) that a calibration finds faster: on a shared
    machine its OpenMP workers spin at every small op's barrier, and one thread can be 10x faster than two.
    """
    if not common.has_torch():
        return {}, {}
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
    return units, {"steps": dict.fromkeys(units, 1), "torch_threads": threads, "torch_calibration": calib}


def pick_threads(fn) -> tuple[int, dict]:
    """The faster of 1 thread and all cores for ``fn`` (second of two alternating calls each)."""
    import os

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
