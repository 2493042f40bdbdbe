"""A precomputed on-device bank of task matrices: the alternative to drawing a projection per sequence.

``build(root, num_tasks, d, k)`` evaluates ``tasks.projection`` and ``tasks.permutation`` once per training
id, so ``bank_batch`` gives exactly the batches ``tasks.train_batch`` gives (same ids, same examples, same
matrices: checked by ``max_difference``), for a gather instead of B x D x D Gaussian draws per step.
It costs ``num_tasks x D^2 x 4`` bytes (2^13 tasks at 14 x 14: 1.26 GB; at 28 x 28: 20 GB), so it only
suits finite task counts; the engine would pick it per sweep when that fits the device budget.
"""

from __future__ import annotations

import common  # noqa: F401 - puts the repository root on sys.path


def build(root, num_tasks: int, input_dim: int, num_classes: int, chunk: int = 512):
    """(projections [num_tasks, D, D], permutations [num_tasks, K]) of ids 0..num_tasks-1."""
    import jax
    import jax.numpy as jnp

    from gpicl_phase import tasks

    ids = jnp.arange(num_tasks, dtype=jnp.int32)
    make = jax.jit(lambda i: jax.lax.map(lambda t: tasks.make_task(root, t, input_dim, num_classes), i,
                                         batch_size=min(chunk, num_tasks)))
    return jax.block_until_ready(make(ids))


def bank_batch(key, data, bank, root, *, num_tasks, bias, batch_size: int, seq_len: int, tasks_per_batch: int,
               num_classes: int, bias_mode: str):
    """``tasks.train_batch`` with task matrices gathered from ``bank``: same arguments, same result."""
    import jax
    import jax.numpy as jnp

    from gpicl_phase import tasks

    proj_TxDxD, perm_TxK = bank
    groups = tasks_per_batch or batch_size
    per_group = batch_size // groups
    id_key, bias_key, ex_key = jax.random.split(key, 3)
    ids_G = tasks.draw_ids(id_key, groups, num_tasks)
    fixed_G = jax.random.uniform(bias_key, (groups,)) < bias
    perm_ids_G = jnp.where(fixed_G, 0, ids_G)
    proj_ids_G = perm_ids_G if bias_mode == "task" else ids_G
    x, y = tasks.sample_examples(ex_key, data.train_x, data.train_y, (groups, per_group * seq_len))
    x_GxSxD = jnp.einsum("gsd,gde->gse", x, proj_TxDxD[proj_ids_G])
    y_GxS = jnp.take_along_axis(perm_TxK[perm_ids_G], y, axis=1)
    x_BxTxD = x_GxSxD.reshape(batch_size, seq_len, -1)
    y_BxT = y_GxS.reshape(batch_size, seq_len)
    return tasks.tokens(x_BxTxD, y_BxT, num_classes), y_BxT


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
