"""The Transformer's layer scan rolled (a loop over stacked blocks) against unrolled (``UNROLL_LAYERS``).

For each config: compile seconds of each variant, then the compiled programs timed interleaved. ``step``
configs time forward, backward and Adam on a fixed batch (benchmark 2's ``jax_step``); ``e2e`` configs
time the engine's whole compiled run (batches, steps, meta-tests). Results are also checked bit for bit.

    python benchmarks/layer_unroll.py [--rounds 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time

import common
from common import interleaved, row

CONFIGS = {  # name: (kind, RunConfig changes)
    "paper default N_M=256, B=128, 4 layers": ("step", dict(d_model=256, batch_size=128)),
    "paper default, engine run of 2 steps": ("e2e", dict(d_model=256, batch_size=128)),
    "cpu_phase d64, B=64, T=40, 2 layers": ("e2e", dict(d_model=64, batch_size=64, num_layers=2, num_heads=4,
                                                        key_size=16, seq_len=40, image_size=5, num_classes=5,
                                                        steps=40, eval_every=20, log_every=10, eval_batch=16)),
}


def build(kind: str, cfg, unroll: bool):
    """(compiled callable, compile seconds, outputs of one call) with the layer scan rolled or unrolled."""
    import jax
    import optax

    from gpicl_phase import models, tasks, train
    from gpicl_phase.models import transformer

    import task_bank

    transformer.UNROLL_LAYERS = unroll  # read when tracing, so it only needs to hold while building
    try:
        data, hp, key = train.task_data(cfg), train.hyper(cfg), train.run_key(cfg.seed)
        start = time.perf_counter()
        if kind == "e2e":
            compiled = jax.jit(train.make_train(cfg)).lower(data, hp, key=key).compile()
            fn = lambda: jax.block_until_ready(compiled(data, hp, key=key))  # noqa: E731
        else:
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
        seconds = time.perf_counter() - start
    finally:
        transformer.UNROLL_LAYERS = True
    return fn, seconds, fn()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import jax
    import numpy as np

    rows = []
    for name, (kind, changes) in CONFIGS.items():
        cfg = common.bench_config(**changes)
        (rolled, c_rolled, out_r), (unrolled, c_unrolled, out_u) = build(kind, cfg, False), build(kind, cfg, True)
        same = all(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True) for a, b in
                   zip(jax.tree_util.tree_leaves(out_r), jax.tree_util.tree_leaves(out_u), strict=True))
        t = interleaved({"rolled": rolled, "unrolled": unrolled}, args.rounds)
        ratios = [a / b for a, b in zip(t["rolled"], t["unrolled"], strict=True)]
        note = (f"unrolled {statistics.median(ratios):.2f}x faster ({min(ratios):.2f}..{max(ratios):.2f}); compile "
                f"{c_rolled:.1f} s rolled, {c_unrolled:.1f} s unrolled; outputs {'bitwise equal' if same else 'DIFFER'}")
        for variant, samples in t.items():
            rows.append(row("layer unroll", name, f"{kind} s/call, {variant}", statistics.median(samples), "s",
                            spread=(min(samples), max(samples)), note=note))
        print(f"{name}: {note}", flush=True)
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
