"""The engine's cache-blocked causal attention on CPU against the reference form (``models/attention.py``).

For each config: compile seconds of each variant, then the compiled programs timed interleaved, and the
largest difference between their outputs. ``step`` configs time forward, backward and Adam on a fixed batch;
``e2e`` configs time the engine's whole compiled run (batches, steps, meta-tests), ``packed`` ones 16 runs
in one ``vmap``, as ``gpicl-phase sweep`` packs them (the blocks then hold all 16 runs' sequences).

    python benchmarks/blocked_attention.py [--rounds 4] [--match TEXT] [--out FILE]
"""

from __future__ import annotations

import argparse

import common
import engine_units

CPU_PHASE = dict(d_model=64, batch_size=64, num_layers=2, num_heads=4, key_size=8, seq_len=40, image_size=5,
                 num_classes=5, steps=40, eval_every=20, log_every=10, eval_batch=16)
CONFIGS = {  # name: (kind, RunConfig changes)
    "paper default N_M=256, B=128": ("step", dict(d_model=256, batch_size=128)),
    "N_M=64, B=128": ("step", dict(d_model=64, batch_size=128)),
    "N_M=256, B=32": ("step", dict(d_model=256, batch_size=32)),
    "paper default, engine run of 2 steps": ("e2e", dict(d_model=256, batch_size=128)),
    "cpu_phase d64, 16 runs packed": ("packed", CPU_PHASE),
    "cpu_phase d64, B=256, 16 runs packed": ("packed", dict(CPU_PHASE, batch_size=256)),
}


def build(kind: str, cfg, blocked: bool):
    """``engine_units.build`` with the blocked or the reference attention."""
    import dataclasses

    from gpicl_phase.models.engine import Engine

    saved = Engine.for_backend
    chosen = dataclasses.replace(saved("cpu"), blocked_attention=blocked)
    Engine.for_backend = classmethod(lambda cls, backend: chosen)  # what make_stages picks while building
    try:
        return engine_units.build(kind, cfg)
    finally:
        Engine.for_backend = saved


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--match", default="", help="only the configs whose name contains this text")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from gpicl_phase.models import attention

    rows = []
    for name, (kind, changes) in CONFIGS.items():
        if args.match not in name:
            continue
        cfg = common.bench_config(**changes)
        blocks = attention.num_blocks(cfg.batch_size, cfg.num_heads, cfg.seq_len)
        rows += engine_units.compare(
            "blocked attention", name, kind, cfg, build, ("reference", "blocked"), args.rounds,
            lambda a, b, n=blocks: f"{n} blocks per run; max output difference {engine_units.max_difference(a, b):.1e}")
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
