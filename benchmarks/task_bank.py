"""The engine's on-device task bank (``tasks.build_bank``, ``TaskData.bank``), wrapped for the benchmarks.

``build`` is ``tasks.build_bank``; ``bank_batch`` is ``tasks.train_batch`` on data carrying the bank, which
gives exactly the batches of ``tasks.train_batch`` without one (same ids, same examples, same matrices:
checked by ``max_difference`` here and by tests/test_driver.py). A bank costs ``num_tasks x D^2 x 4`` bytes
(2^13 tasks at 14 x 14: 1.26 GB; at 28 x 28: 20 GB); ``driver.bank_size`` decides per sweep whether to build one.
"""

from __future__ import annotations

import common  # noqa: F401 - puts the repository root on sys.path


def build(root, num_tasks: int, input_dim: int, num_classes: int, chunk: int = 512):
    """The engine's bank of ids 0..num_tasks-1 (projections [num_tasks, D, D], permutations [num_tasks, K])."""
    import jax

    from gpicl_phase import tasks

    return jax.block_until_ready(tasks.build_bank(root, num_tasks, input_dim, num_classes, block=chunk))


def bank_batch(key, data, bank, root, **kw):
    """``tasks.train_batch`` with task matrices gathered from ``bank``: same arguments, same result."""
    from gpicl_phase import tasks

    return tasks.train_batch(key, data._replace(bank=bank), root, **kw)


def batch_kwargs(cfg, hp) -> dict:
    """The keyword arguments both batch functions take, from a config and its Hyper."""
    return dict(num_tasks=hp.num_tasks, bias=hp.bias, batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                tasks_per_batch=cfg.tasks_per_batch, num_classes=cfg.num_classes, bias_mode=cfg.bias_mode)


def batch_units(cfg, data, bank=None, batches: int = 1) -> dict:
    """``{"fresh": fn, "bank": fn}``: each call makes ``batches`` batches on device and blocks."""
    import itertools

    import jax
    import jax.numpy as jnp

    from gpicl_phase import tasks, train

    root = jax.random.fold_in(jax.random.key(cfg.task_seed), 0)
    kw = batch_kwargs(cfg, train.hyper(cfg))

    def loop(make):
        @jax.jit
        def run(key, bank):
            def one(i, acc):
                tok, y = make(jax.random.fold_in(key, i), bank)
                return acc + tok[0, 0, 0] + y[0, 0]  # keeps every batch alive without storing them
            return jax.lax.fori_loop(0, batches, one, jnp.float32(0))
        counter = itertools.count()
        return lambda: jax.block_until_ready(run(jax.random.key(next(counter)), bank))

    units = {"fresh": loop(lambda k, _: tasks.train_batch(k, data, root, **kw))}
    if bank is not None:
        units["bank"] = loop(lambda k, b: bank_batch(k, data, b, root, **kw))
    return units


def max_difference(cfg, data, bank, draws: int = 3) -> float:
    """Largest |difference| between ``bank_batch`` and ``tasks.train_batch`` tokens over a few keys (0 = exact)."""
    import jax
    import jax.numpy as jnp

    from gpicl_phase import tasks, train

    root = jax.random.fold_in(jax.random.key(cfg.task_seed), 0)
    kw = batch_kwargs(cfg, train.hyper(cfg))
    worst = 0.0
    for i in range(draws):
        key = jax.random.key(1000 + i)
        a, ya = jax.jit(lambda k: tasks.train_batch(k, data, root, **kw))(key)
        b, yb = jax.jit(lambda k, bk: bank_batch(k, data, bk, root, **kw))(key, bank)
        if not bool(jnp.all(ya == yb)):
            return float("inf")
        worst = max(worst, float(jnp.max(jnp.abs(a - b))))
    return worst
