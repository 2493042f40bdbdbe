"""Evidence for the engine proposals in BENCHMARKS.md: where the JAX step and the compile time go.

- ``unroll``: the engine's step (forward, backward, Adam on a fixed batch) with the Transformer's blocks
  run by ``lax.scan`` (as ``models/transformer.py`` does) against the same scan with ``unroll=True``;
  step time and compile time, interleaved.
- ``parts``: per-layer pieces, JAX against PyTorch (forward + backward): causal attention (XLA einsum /
  mask / softmax / einsum against ``scaled_dot_product_attention``) and the MLP.
- ``compile``: compile seconds of the pieces of the engine's program: one batch, one step, the whole run,
  and the whole run packed 4 wide.
- ``rng``: Gaussian numbers per second, the cost behind a fresh projection per sequence: ``jax.random.normal``
  with threefry and rbg keys, raw bits, and ``torch.randn``.

Not part of ``make bench``.

    python benchmarks/proposals.py [--nm 256] [--batch 128] [--sections unroll,parts,compile,rng] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import common
import task_bank
from common import interleaved, row, timed_row

BENCH = "proposals"


def apply_unrolled(cfg, params, tokens_BxTxI):
    """``models.transformer.apply`` with its layer scan unrolled (the proposed one-argument change)."""
    import jax

    from gpicl_phase.models import transformer as tr
    from gpicl_phase.models.layers import dense, layer_norm

    x = dense(params["embed"], tokens_BxTxI) + params["pos"][: tokens_BxTxI.shape[1]]

    def block(x, blk):
        x = x + tr.attention(blk, layer_norm(blk["ln1"], x), cfg.num_heads)
        return x + dense(blk["mlp_out"], jax.nn.gelu(dense(blk["mlp_in"], layer_norm(blk["ln2"], x)))), None

    x, _ = jax.lax.scan(block, x, params["blocks"], unroll=True)
    return dense(params["head"], layer_norm(params["ln_f"], x))


def unroll(cfg, repeats: int) -> list[dict]:
    """Step seconds and compile seconds, layer scan against unrolled."""
    import jax
    import optax

    from gpicl_phase import models, tasks, train

    data, hp, key = train.task_data(cfg), train.hyper(cfg), train.run_key(cfg.seed)
    root = jax.random.fold_in(jax.random.key(cfg.task_seed), 0)
    tok, y = jax.jit(lambda k: tasks.train_batch(k, data, root, **task_bank.batch_kwargs(cfg, hp)))(key)
    opt = optax.adam(1e-3)
    params = models.init(cfg, key)
    state = opt.init(params)
    units, compile_s = {}, {}
    for name, apply in (("scan (engine)", models.apply), ("unrolled", apply_unrolled)):
        def step(p, s, tok, y, apply=apply):
            loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(apply(cfg, p, tok), y).mean()  # noqa: E731
            updates, s = opt.update(jax.grad(loss)(p), s, p)
            return optax.apply_updates(p, updates), s
        start = time.perf_counter()
        fn = jax.jit(step).lower(params, state, tok, y).compile()
        compile_s[name] = time.perf_counter() - start
        units[name] = lambda fn=fn: jax.block_until_ready(fn(params, state, tok, y))
    times = interleaved(units, repeats)
    case = f"N_M={cfg.d_model} B={cfg.batch_size}"
    rows = [timed_row(BENCH, case, f"step, layers by {name}", t, unit="s", note=f"compile {compile_s[name]:.1f} s")
            for name, t in times.items()]
    r = [a / b for a, b in zip(times["scan (engine)"], times["unrolled"])]
    rows.append(row(BENCH, case, "speedup unrolled", float(np.median(r)), "x", spread=(min(r), max(r))))
    return rows


def parts(cfg, repeats: int) -> list[dict]:
    """One layer's attention and MLP, forward + backward, JAX against PyTorch (its faster thread count)."""
    import jax
    import jax.numpy as jnp

    from gpicl_phase.models import transformer as tr

    b, t, h, k, n = cfg.batch_size, cfg.seq_len, cfg.num_heads, cfg.key_size, cfg.d_model
    rng = np.random.default_rng(0)
    x = rng.normal(size=(b, t, n)).astype(np.float32)
    p = {name: {"w": (rng.normal(size=shape) / np.sqrt(shape[0])).astype(np.float32)}
         for name, shape in (("q", (n, h * k)), ("k", (n, h * k)), ("v", (n, h * k)), ("o", (h * k, n)))}
    w1 = (rng.normal(size=(n, 4 * n)) / np.sqrt(n)).astype(np.float32)
    w2 = (rng.normal(size=(4 * n, n)) / np.sqrt(4 * n)).astype(np.float32)
    attn = jax.jit(jax.grad(lambda p, x: jnp.sum(tr.attention(p, x, h) ** 2), argnums=(0, 1)))
    mlp = jax.jit(jax.grad(lambda w1, w2, x: jnp.sum((jax.nn.gelu(x @ w1) @ w2) ** 2), argnums=(0, 1, 2)))
    units = {"jax attention": lambda: jax.block_until_ready(attn(p, x)),
             "jax mlp": lambda: jax.block_until_ready(mlp(w1, w2, x))}
    if common.has_torch():
        import torch

        import step_variants
        import torch_gpicl as tg

        blk = tg.Block(n, h, k)
        tx = torch.from_numpy(x).requires_grad_()
        tw1, tw2 = torch.from_numpy(w1).requires_grad_(), torch.from_numpy(w2).requires_grad_()

        def t_attn():
            q, kk, v = (lin(tx).view(b, t, h, -1).transpose(1, 2) for lin in (blk.q, blk.k, blk.v))
            out = torch.nn.functional.scaled_dot_product_attention(q, kk, v, is_causal=True)
            (blk.o(out.transpose(1, 2).reshape(b, t, -1)) ** 2).sum().backward()

        def t_mlp():
            ((torch.nn.functional.gelu(tx @ tw1, approximate="tanh") @ tw2) ** 2).sum().backward()

        threads, _ = step_variants.pick_threads(t_attn)
        units["torch attention"] = lambda: (torch.set_num_threads(threads), t_attn())
        units["torch mlp"] = lambda: (torch.set_num_threads(threads), t_mlp())
    times = interleaved(units, repeats)
    case = f"one layer, N_M={n} B={b} H={h} K={k}"
    return [timed_row(BENCH, case, f"{name} fwd+bwd", t, unit="s") for name, t in times.items()]


def compile_parts(cfg) -> list[dict]:
    """Seconds to lower + compile each piece of the engine's program."""
    import jax
    import jax.numpy as jnp
    import optax

    from gpicl_phase import models, tasks, train

    data, hp, key = train.task_data(cfg), train.hyper(cfg), train.run_key(cfg.seed)
    root = jax.random.fold_in(jax.random.key(cfg.task_seed), 0)
    params = models.init(cfg, key)
    opt = optax.adam(1e-3)
    tok, y = jax.jit(lambda k: tasks.train_batch(k, data, root, **task_bank.batch_kwargs(cfg, hp)))(key)

    def step(p, s):
        grads = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(models.apply(cfg, p, tok), y).mean())(p)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    train_fn = train.make_train(cfg)
    pieces = {
        "one batch (tasks.train_batch)": (jax.jit(lambda k: tasks.train_batch(k, data, root, **task_bank.batch_kwargs(cfg, hp))), (key,), {}),
        "one step (fixed batch)": (jax.jit(step), (params, opt.init(params)), {}),
        "whole run (make_train)": (jax.jit(train_fn), (data, hp), {"key": key}),
        "whole run packed x4": (jax.jit(jax.vmap(lambda d, h, k: train_fn(d, h, key=k), in_axes=(None, 0, 0))),
                                (data, train.hyper([cfg] * 4), jax.vmap(train.run_key)(jnp.arange(4))), {}),
    }
    rows = []
    for name, (fn, args, kwargs) in pieces.items():
        start = time.perf_counter()
        fn.lower(*args, **kwargs).compile()
        rows.append(row(BENCH, f"compile, N_M={cfg.d_model} B={cfg.batch_size}", name, time.perf_counter() - start, "s"))
    return rows


def rng(repeats: int, shape=(128, 196, 196)) -> list[dict]:
    """Normals per second for one B=128 batch of 14x14 projection matrices."""
    import jax

    units = {}
    for impl in ("threefry2x32", "rbg"):
        key = jax.random.key(0, impl=impl)
        normal = jax.jit(lambda k: jax.random.normal(k, shape).sum())
        bits = jax.jit(lambda k: jax.random.bits(k, shape).sum())
        units[f"jax normal ({impl})"] = lambda f=normal, k=key: jax.block_until_ready(f(k))
        units[f"jax bits ({impl})"] = lambda f=bits, k=key: jax.block_until_ready(f(k))
    if common.has_torch():
        import torch

        gen = torch.Generator().manual_seed(0)
        units["torch randn"] = lambda: torch.randn(*shape, generator=gen).sum()
    times = interleaved(units, repeats)
    n = int(np.prod(shape))
    return [timed_row(BENCH, f"{n:,} numbers", name, t, per=n / 1e6, rate=True, unit="M/s")
            for name, t in times.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nm", type=int, default=256)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sections", default="unroll,parts,compile,rng", help="which sections to run")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    cfg = common.bench_config(d_model=a.nm, batch_size=a.batch, steps=1, eval_every=1)
    small = common.bench_config(d_model=64, batch_size=32, steps=1, eval_every=1)
    sections = {"unroll": lambda: unroll(cfg, a.repeats) + unroll(small, a.repeats),
                "parts": lambda: parts(cfg, a.repeats), "compile": lambda: compile_parts(cfg),
                "rng": lambda: rng(a.repeats)}
    rows = [r for name in a.sections.split(",") for r in sections[name.strip()]()]
    common.report(rows, a.out)


if __name__ == "__main__":
    main()
