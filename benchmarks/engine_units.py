"""One compiled engine program as a timed unit, for benchmarks that compare two builds of the engine.

``kind`` is ``step`` (forward, backward and Adam on a fixed batch), ``e2e`` (the engine's whole compiled
run: batches, steps, meta-tests) or ``packed`` (16 runs of the config in one ``vmap``, as ``gpicl-phase
sweep`` packs them). Engine switches (module flags) are read while tracing, so a caller sets them around
``build`` only.
"""

from __future__ import annotations

import statistics
import time

import common
from common import interleaved, row


def build(kind: str, cfg):
    """(compiled callable, compile seconds, outputs of one call)."""
    import jax
    import optax

    from gpicl_phase import models, tasks, train

    import task_bank

    data, hp, key = train.task_data(cfg), train.hyper(cfg), train.run_key(cfg.seed)
    start = time.perf_counter()
    if kind == "e2e":
        compiled = jax.jit(train.make_train(cfg)).lower(data, hp, key=key).compile()
        fn = lambda: jax.block_until_ready(compiled(data, hp, key=key))  # noqa: E731
    elif kind == "packed":
        cfgs = [cfg.replace(num_tasks=2 ** (i // 2), seed=i % 2) for i in range(16)]
        hp, keys = train.hyper(cfgs), jax.vmap(train.run_key)(jax.numpy.arange(16) % 2)
        run = jax.vmap(lambda h, k: train.make_train(cfg)(data, h, key=k))
        compiled = jax.jit(run).lower(hp, keys).compile()
        fn = lambda: jax.block_until_ready(compiled(hp, keys))  # noqa: E731
    elif kind == "step":
        root = train.task_root(cfg.task_seed)
        tok, y = jax.jit(lambda k: tasks.train_batch(k, data, root, **task_bank.batch_kwargs(cfg, hp)))(key)
        params = models.init(cfg, key)
        opt = optax.adam(1e-3)

        def step(p, s):
            g = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
                models.apply(cfg, p, tok), y).mean())(p)
            u, s = opt.update(g, s, p)
            return optax.apply_updates(p, u), s

        state = opt.init(params)
        compiled = jax.jit(step).lower(params, state).compile()
        fn = lambda: jax.block_until_ready(compiled(params, state))  # noqa: E731
    else:
        raise ValueError(f"unknown unit kind {kind!r}: expected step, e2e or packed")
    fn.compiled = compiled  # for profile_step.py's HLO dump
    return fn, time.perf_counter() - start, fn()


def max_difference(a, b) -> float:
    """Largest absolute difference over two output trees, ignoring entries that are NaN in either."""
    import jax
    import numpy as np

    diffs = [np.nanmax(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)), initial=0.0)
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)]
    return float(max(diffs))


def compare(bench: str, name: str, kind: str, cfg, build, labels: tuple[str, str], rounds: int, describe) -> list[dict]:
    """The engine built twice, ``build(kind, cfg, False)`` (``labels[0]``) and ``build(kind, cfg, True)``
    (``labels[1]``), timed interleaved. Rows of seconds per call for each, with one note for both:
    ``describe(outputs_a, outputs_b)``, then the second's speedup per round and both compile times."""
    (fa, ca, oa), (fb, cb, ob) = build(kind, cfg, False), build(kind, cfg, True)
    times = interleaved({labels[0]: fa, labels[1]: fb}, rounds)
    ratios = [a / b for a, b in zip(times[labels[0]], times[labels[1]], strict=True)]
    note = (f"{labels[1]} {common.ratio_text(ratios)} faster; compile {ca:.1f} s {labels[0]}, {cb:.1f} s "
            f"{labels[1]}; {describe(oa, ob)}")
    print(f"{name}: {note}", flush=True)
    return [row(bench, name, f"{kind} s/call, {label}", statistics.median(t), "s", spread=(min(t), max(t)), note=note)
            for label, t in times.items()]
