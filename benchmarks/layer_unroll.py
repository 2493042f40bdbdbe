"""The Transformer's layer scan rolled (a loop over stacked blocks) against unrolled (``UNROLL_LAYERS``).

For each config: compile seconds of each variant, then the compiled programs timed interleaved. ``step``
configs time forward, backward and Adam on a fixed batch (benchmark 2's ``jax_step``); ``e2e`` configs
time the engine's whole compiled run (batches, steps, meta-tests). Results are also checked bit for bit.

    python benchmarks/layer_unroll.py [--rounds 4] [--out FILE]
"""

from __future__ import annotations

import argparse

import common
import engine_units

CONFIGS = {  # name: (kind, RunConfig changes)
    "paper default N_M=256, B=128, 4 layers": ("step", dict(d_model=256, batch_size=128)),
    "paper default, engine run of 2 steps": ("e2e", dict(d_model=256, batch_size=128)),
    "cpu_phase d64, B=64, T=40, 2 layers": ("e2e", dict(d_model=64, batch_size=64, num_layers=2, num_heads=4,
                                                        key_size=16, seq_len=40, image_size=5, num_classes=5,
                                                        steps=40, eval_every=20, log_every=10, eval_batch=16)),
}


def build(kind: str, cfg, unroll: bool):
    """``engine_units.build`` with the layer scan rolled or unrolled."""
    from gpicl_phase.models import transformer

    transformer.UNROLL_LAYERS = unroll  # read when tracing, so it only needs to hold while building
    try:
        return engine_units.build(kind, cfg)
    finally:
        transformer.UNROLL_LAYERS = True


def _bitwise(a, b) -> str:
    import jax
    import numpy as np

    same = all(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True) for x, y in
               zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True))
    return f"outputs {'bitwise equal' if same else 'DIFFER'}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rows = []
    for name, (kind, changes) in CONFIGS.items():
        rows += engine_units.compare("layer unroll", name, kind, common.bench_config(**changes), build,
                                     ("rolled", "unrolled"), args.rounds, _bitwise)
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
