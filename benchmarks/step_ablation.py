"""Where the XLA:CPU training step spends its time, by ablation at the paper default (N_M=256, B=128, T=100).

Each variant removes one non-matmul part of the model and is timed interleaved with the engine's step
(forward, backward, Adam on a fixed batch): the T x T attention (softmax and its two batched matmuls,
replaced by o(v(x))), GELU (replaced by ReLU), LayerNorm (replaced by its affine part). A variant that
runs X times faster saves 1 - 1/X of the step. These are diagnostics, not models anyone should train.
(benchmarks/matmul_shapes.py shows the dense matmuls themselves at parity with PyTorch.)

    python benchmarks/step_ablation.py [--grid 256:128] [--rounds 4] [--rolled] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics

import attention_variants
import common
from common import interleaved, row


@contextlib.contextmanager
def ablated(part: str):
    """The model with ``part`` removed, for as long as programs are being traced."""
    import jax

    from gpicl_phase.models import transformer
    from gpicl_phase.models.layers import dense

    saved = transformer.attention, transformer.layer_norm, jax.nn.gelu
    if part == "no T x T attention":
        transformer.attention = lambda p, x, h: dense(p["o"], dense(p["v"], x))
    elif part == "ReLU for GELU":
        jax.nn.gelu = jax.nn.relu
    elif part == "no LayerNorm statistics":
        transformer.layer_norm = lambda p, x: x * p["scale"] + p["offset"]
    try:
        yield
    finally:
        transformer.attention, transformer.layer_norm, jax.nn.gelu = saved


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="256:128", help="d_model:batch_size pairs")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--rolled", action="store_true", help="with the layer scan rolled (as before session 3)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from gpicl_phase.models import transformer

    transformer.UNROLL_LAYERS = not args.rolled

    rows = []
    for d, b, cfg in common.grid_configs(args.grid):
        units = {}
        for part in ("engine", "no T x T attention", "ReLU for GELU", "no LayerNorm statistics"):
            with ablated(part):
                # step_units builds one program per attention variant; only the engine's is wanted here.
                attention_variants.variants = lambda: {"engine": transformer.attention}
                built, _ = attention_variants.step_units(cfg, 1)
            units[part] = built["engine"]
        samples = interleaved(units, args.rounds)
        for part, s in samples.items():
            ratios = [x / y for x, y in zip(samples["engine"], s, strict=True)]
            share = 1 - 1 / statistics.median(ratios)
            rows.append(row("step ablation", f"N_M={d}, B={b}", f"{part}: s/step", statistics.median(s), "s",
                            spread=(min(s), max(s)),
                            note=f"{common.ratio_text(ratios)} vs engine: the part costs ~{share:.0%} of the step"))
            print(f"N_M={d} B={b} {part:26s} {statistics.median(s):.3f} s/step  {common.ratio_text(ratios)}"
                  f"  (~{share:.0%} of the step)", flush=True)
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
