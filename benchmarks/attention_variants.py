"""Attention on XLA:CPU: the engine's attention against rewrites, inside the full training step.

Each variant replaces ``models.transformer.attention`` for one compiled step (forward, backward, global
norm, Adam on a fixed batch, ``--steps`` steps per call); the variants run interleaved, and the ratios
are per round against the engine's own attention. Every variant's loss gradient is checked against the
engine's (max abs difference printed), so a faster variant that computes something else is caught.

    python benchmarks/attention_variants.py [--grid 256:32,64:128] [--rounds 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics

import common
from common import interleaved, row


def variants():
    """name -> attention(p, x, num_heads) with the engine's parameters and semantics."""
    import jax
    import jax.numpy as jnp

    from gpicl_phase.models import attention, transformer
    from gpicl_phase.models.layers import dense

    def reference(p, x, num_heads):
        # The engine's attention before session 4: einsum / mask / softmax / einsum on the whole batch.
        b, t, _ = x.shape
        q, k, v = (dense(p[n], x).reshape(b, t, num_heads, -1) for n in ("q", "k", "v"))
        return dense(p["o"], attention.reference(q, k, v).reshape(b, t, -1))

    def heads_first(p, x, num_heads):
        # q, k, v projected straight into [B, H, T, K] (weights viewed as [N, H, K]), additive causal bias.
        b, t, n = x.shape
        proj = lambda w: jnp.einsum("btn,nhk->bhtk", x, w.reshape(n, num_heads, -1))  # noqa: E731
        q, k, v = (proj(p[name]["w"]) for name in ("q", "k", "v"))
        bias = jnp.where(jnp.tril(jnp.ones((t, t), bool)), 0.0, -1e30).astype(x.dtype)
        w = jax.nn.softmax(jnp.einsum("bhtk,bhsk->bhts", q, k) / jnp.sqrt(q.shape[-1]) + bias, axis=-1)
        out = jnp.einsum("bhts,bhsk->bthk", w, v).reshape(b, t, -1)
        return dense(p["o"], out)

    def fused_qkv(p, x, num_heads):
        # One [N, 3HK] matmul for q, k, v instead of three.
        b, t, n = x.shape
        w = jnp.concatenate([p["q"]["w"], p["k"]["w"], p["v"]["w"]], axis=1)
        q, k, v = jnp.split((x @ w).reshape(b, t, 3, num_heads, -1), 3, axis=2)
        q, k, v = (a[:, :, 0] for a in (q, k, v))
        logits = jnp.einsum("bthk,bshk->bhts", q, k) / jnp.sqrt(q.shape[-1])
        logits = jnp.where(jnp.tril(jnp.ones((t, t), bool)), logits, jnp.finfo(logits.dtype).min)
        out = jnp.einsum("bhts,bshk->bthk", jax.nn.softmax(logits, axis=-1), v)
        return dense(p["o"], out.reshape(b, t, -1))

    @jax.custom_vjp
    def core(q, k, v):  # [B, H, T, K] each; causal softmax attention
        return _core_fwd(q, k, v)[0]

    def _core_fwd(q, k, v):
        t = q.shape[2]
        s = jnp.einsum("bhtk,bhsk->bhts", q, k) / jnp.sqrt(q.shape[-1])
        s = jnp.where(jnp.tril(jnp.ones((t, t), bool)), s, -jnp.inf)
        m = s.max(-1, keepdims=True)
        e = jnp.exp(s - m)
        pr = e / e.sum(-1, keepdims=True)
        o = jnp.einsum("bhts,bhsk->bhtk", pr, v)
        return o, (q, k, v, pr, o)

    def _core_bwd(res, do):
        # Softmax backward through rowsum(dO * O) over K (32) instead of rowsum(dP * P) over T (100).
        q, k, v, pr, o = res
        scale = 1.0 / jnp.sqrt(q.shape[-1])
        dv = jnp.einsum("bhts,bhtk->bhsk", pr, do)
        dp = jnp.einsum("bhtk,bhsk->bhts", do, v)
        ds = pr * (dp - (do * o).sum(-1, keepdims=True)) * scale
        dq = jnp.einsum("bhts,bhsk->bhtk", ds, k)
        dk = jnp.einsum("bhts,bhtk->bhsk", ds, q)
        return dq, dk, dv

    core.defvjp(_core_fwd, _core_bwd)

    def manual_vjp(p, x, num_heads):
        b, t, n = x.shape
        proj = lambda w: jnp.einsum("btn,nhk->bhtk", x, w.reshape(n, num_heads, -1))  # noqa: E731
        out = core(*(proj(p[name]["w"]) for name in ("q", "k", "v")))
        return dense(p["o"], out.transpose(0, 2, 1, 3).reshape(b, t, -1))

    def blocked(num_blocks):
        # Query blocks attend only to the keys at or before their last position: the causal triangle's
        # upper blocks are never computed (with 4 blocks at T = 100, 62.5% of the T x T logits).
        def attn(p, x, num_heads):
            b, t, _ = x.shape
            split = lambda y: y.reshape(b, t, num_heads, -1)  # noqa: E731
            q, k, v = (split(dense(p[n], x)) for n in ("q", "k", "v"))
            edges = [round(t * i / num_blocks) for i in range(num_blocks + 1)]
            outs = []
            for lo, hi in zip(edges[:-1], edges[1:]):
                s = jnp.einsum("bthk,bshk->bhts", q[:, lo:hi], k[:, :hi]) / jnp.sqrt(q.shape[-1])
                s = jnp.where(jnp.tril(jnp.ones((hi - lo, hi), bool), k=lo), s, jnp.finfo(s.dtype).min)
                outs.append(jnp.einsum("bhts,bshk->bthk", jax.nn.softmax(s, axis=-1), v[:, :hi]))
            return dense(p["o"], jnp.concatenate(outs, axis=1).reshape(b, t, -1))
        return attn

    return {"engine": transformer.attention, "reference": reference, "heads_first": heads_first,
            "fused_qkv": fused_qkv, "manual_vjp": manual_vjp,
            "blocked_2": blocked(2), "blocked_4": blocked(4), "blocked_5": blocked(5)}


def step_units(cfg, steps: int, only: set | None = None) -> tuple[dict, dict]:
    """A compiled ``steps``-step training loop per attention variant, and each one's gradient error."""
    import jax
    import jax.numpy as jnp
    import optax

    from gpicl_phase import models, tasks, train
    from gpicl_phase.models import transformer

    import task_bank

    data, hp, key = train.task_data(cfg), train.hyper(cfg), train.run_key(cfg.seed)
    root = jax.random.fold_in(jax.random.key(cfg.task_seed), 0)
    tok, y = jax.jit(lambda k: tasks.train_batch(k, data, root, **task_bank.batch_kwargs(cfg, hp)))(key)
    params = models.init(cfg, key)
    opt = optax.chain(optax.scale_by_adam(), optax.scale_by_learning_rate(1e-3))
    units, errors, original = {}, {}, transformer.attention
    reference = None
    for name, attn in variants().items():
        if only is not None and name != "engine" and name not in only:
            continue
        transformer.attention = attn  # traced now, so the patch is only needed while building
        try:
            def loss_fn(p):
                return optax.softmax_cross_entropy_with_integer_labels(models.apply(cfg, p, tok), y).mean()

            grads = jax.jit(jax.grad(loss_fn))(params)

            @jax.jit
            def loop(params, state):
                def one(_, carry):
                    p, s = carry
                    g = jax.grad(loss_fn)(p)
                    u, s = opt.update(g, s, p)
                    return optax.apply_updates(p, u), s
                return jax.lax.fori_loop(0, steps, one, (params, state))

            compiled = loop.lower(params, opt.init(params)).compile()
        finally:
            transformer.attention = original
        reference = grads if reference is None else reference
        errors[name] = max(float(jnp.abs(a - b).max()) for a, b in
                           zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(reference), strict=True))
        state = opt.init(params)
        units[name] = lambda c=compiled, s=state: jax.block_until_ready(c(params, s))
    return units, errors


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="256:32,64:128", help="d_model:batch_size pairs (T = 100, 4 layers)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2, help="training steps per timed call")
    ap.add_argument("--only", default=None, help="comma-separated variant names to time (the engine always runs)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rows = []
    for d, b, cfg in common.grid_configs(args.grid):
        units, errors = step_units(cfg, args.steps, set(args.only.split(",")) if args.only else None)
        samples = interleaved(units, args.rounds)
        base = samples["engine"]
        for name, s in samples.items():
            ratios = [x / y for x, y in zip(base, s, strict=True)]
            rows.append(row("attention", f"N_M={d}, B={b}", f"{name}: s/step", statistics.median(s) / args.steps,
                            "s", spread=(min(s) / args.steps, max(s) / args.steps),
                            note=f"speedup vs engine {common.ratio_text(ratios)}; max grad difference {errors[name]:.1e}"))
            print(f"N_M={d} B={b} {name:12s} {statistics.median(s) / args.steps:.3f} s/step  "
                  f"{common.ratio_text(ratios)}  grad diff {errors[name]:.1e}", flush=True)
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
