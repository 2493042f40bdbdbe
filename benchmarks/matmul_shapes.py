"""The Transformer's own matmuls, XLA:CPU against PyTorch, at the paper default (B=128, T=100, N_M=256).

Benchmark 2 found PyTorch's step 1.2-2.1x faster. This splits the question: are the dense layers (the
matmuls that are ~94% of the step's FLOPs) slower in XLA at these shapes, or is the gap elsewhere
(attention, fusion, dispatch)? Each shape is timed forward and forward+backward, interleaved with
PyTorch's, both on all cores and on one thread.

    python benchmarks/matmul_shapes.py [--rounds 7] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics

import common
from common import interleaved, row

SHAPES = {  # name: (rows, in, out) with rows = B x T
    "q/k/v/o 256->256": (12800, 256, 256),
    "mlp_in 256->1024": (12800, 256, 1024),
    "mlp_out 1024->256": (12800, 1024, 256),
}


def units(rows: int, n_in: int, n_out: int, reps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((rows, n_in), np.float32), rng.standard_normal((n_in, n_out), np.float32) / 16
    jx, jw = jnp.asarray(x), jnp.asarray(w)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w).requires_grad_(True)

    # Each matmul reads the previous one's result (a scalar added to x), so XLA cannot hoist it out of the
    # loop; PyTorch does the same elementwise add, so both sides do the same work.
    @jax.jit
    def j_fwd(x, w):
        return jax.lax.fori_loop(0, reps, lambda i, c: ((x + c) @ w)[0, 0] * 1e-30, 0.0)

    @jax.jit
    def j_bwd(x, w):
        def one(i, c):
            y, vjp = jax.vjp(lambda x, w: x @ w, x + c, w)
            dx, dw = vjp(y)
            return (dx[0, 0] + dw[0, 0]) * 1e-30
        return jax.lax.fori_loop(0, reps, one, 0.0)

    def t_fwd():
        c = torch.zeros(())
        with torch.no_grad():
            for _ in range(reps):
                c = ((tx + c) @ tw)[0, 0] * 1e-30

    def t_bwd():
        c = torch.zeros(())
        for _ in range(reps):
            xg = (tx + c).requires_grad_(True)
            y = xg @ tw
            y.backward(y.detach())
            c = (xg.grad[0, 0] + tw.grad[0, 0]).detach() * 1e-30
            tw.grad = None

    j_fwd(jx, jw).block_until_ready(), j_bwd(jx, jw).block_until_ready()
    return {"xla fwd": lambda: j_fwd(jx, jw).block_until_ready(), "torch fwd": t_fwd,
            "xla fwd+bwd": lambda: j_bwd(jx, jw).block_until_ready(), "torch fwd+bwd": t_bwd}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=10, help="matmuls per timed call")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for name, (m, k, n) in SHAPES.items():
        samples = interleaved(units(m, k, n, args.reps), args.rounds)
        for kind in ("fwd", "fwd+bwd"):
            xla, tor = samples[f"xla {kind}"], samples[f"torch {kind}"]
            flops = 2 * m * k * n * args.reps * (1 if kind == "fwd" else 3)
            ratio = [t / x for x, t in zip(xla, tor, strict=True)]
            gx, gt = flops / statistics.median(xla) / 1e9, flops / statistics.median(tor) / 1e9
            rows.append(row("matmul", name, f"{kind}: XLA GFLOP/s", gx, "GFLOP/s",
                            note=f"PyTorch {gt:.0f} GFLOP/s; PyTorch time / XLA time {common.ratio_text(ratio)}"))
            print(f"{name:20s} {kind:8s} XLA {gx:6.1f} GFLOP/s  torch {gt:6.1f}  torch/xla time "
                  f"{common.ratio_text(ratio)}", flush=True)
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
