"""Causal softmax attention over ``[B, T, H, A]`` queries, keys and values; a cache-blocked form for CPUs.

The reference form materializes the ``B x H x T x T`` logits, probabilities and their gradients: at the
paper default that is 41 MB per array per layer, so on a CPU each elementwise pass over them runs from
main memory. The blocked form computes the same attention a few sequences at a time (``lax.map`` over the
batch), sized so one block's ``T x T`` arrays stay in cache, and has a flash-attention style backward pass
that recomputes the probabilities from the saved log-sum-exp instead of storing them, so it is faster on CPUs
(measured: BENCHMARKS.md, History); the numbers agree with the reference to float32 rounding (tests).
Accelerators use ``jax.nn.dot_product_attention`` (cuDNN's fused kernel where it accepts the call): there a
sequential loop over blocks would only serialize work that the GPU runs in parallel. Which form runs is
``Engine.attention``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

FUSED_REFUSALS = (RuntimeError, ValueError, NotImplementedError, TypeError)  # cuDNN's "not here" at trace time


def causal_attention(q_BxTxHxA: jax.Array, k_BxTxHxA: jax.Array, v_BxTxHxA: jax.Array,
                     form: str = "reference", block_bytes: int = 2_600_000) -> jax.Array:
    """Each position attends to itself and the positions before it; returns ``[B, T, H, A]`` in the dtype of
    ``v``. ``form``: ``Engine.attention``; ``block_bytes``: ``Engine.block_bytes`` (the blocked form).

    Softmax statistics are float32 whatever the input dtype (bfloat16 under mixed precision)."""
    if form in ("xla", "cudnn"):
        return fused(q_BxTxHxA, k_BxTxHxA, v_BxTxHxA, form)
    b, t, h, _ = q_BxTxHxA.shape
    blocks = num_blocks(b, h, t, block_bytes)
    if form != "blocked" or blocks == 1:
        return reference(q_BxTxHxA, k_BxTxHxA, v_BxTxHxA)
    f32 = lambda x: x.astype(jnp.float32)  # noqa: E731  the blocked form's own backward pass is float32
    out = _blocked(blocks, f32(q_BxTxHxA), f32(k_BxTxHxA), f32(v_BxTxHxA))
    return out.astype(v_BxTxHxA.dtype)


def fused(q_BxTxHxA: jax.Array, k_BxTxHxA: jax.Array, v_BxTxHxA: jax.Array, implementation: str) -> jax.Array:
    """``jax.nn.dot_product_attention`` (same layout, same 1/sqrt(A) scale). ``"cudnn"`` asks for cuDNN's fused
    kernel and falls back to the XLA implementation where cuDNN refuses the call while tracing (no GPU, float32
    inputs, an unsupported shape), so one engine runs everywhere."""
    if implementation == "cudnn":
        try:
            return jax.nn.dot_product_attention(q_BxTxHxA, k_BxTxHxA, v_BxTxHxA, is_causal=True,
                                                implementation="cudnn")
        except FUSED_REFUSALS:
            pass
    return jax.nn.dot_product_attention(q_BxTxHxA, k_BxTxHxA, v_BxTxHxA, is_causal=True, implementation="xla")


def reference(q_BxTxHxA: jax.Array, k_BxTxHxA: jax.Array, v_BxTxHxA: jax.Array) -> jax.Array:
    """The textbook form: logits, causal mask, softmax, weighted values; autodiff for the gradient."""
    w_BxHxTxT = jax.nn.softmax(_causal_logits(q_BxTxHxA, k_BxTxHxA), axis=-1)
    return jnp.einsum("bhts,bsha->btha", w_BxHxTxT.astype(v_BxTxHxA.dtype), v_BxTxHxA)


def _causal_logits(q_BxTxHxA: jax.Array, k_BxTxHxA: jax.Array) -> jax.Array:
    """Scaled logits ``[B, H, T, T]``, the lowest float where a query would see a later key (a finite fill:
    every row keeps its diagonal, so the masked entries' probabilities are exactly 0 either way)."""
    t = q_BxTxHxA.shape[1]
    logits_BxHxTxT = jnp.einsum("btha,bsha->bhts", q_BxTxHxA, k_BxTxHxA, preferred_element_type=jnp.float32)
    logits_BxHxTxT = logits_BxHxTxT / jnp.sqrt(jnp.float32(q_BxTxHxA.shape[-1]))
    causal_TxT = jnp.tril(jnp.ones((t, t), bool))
    return jnp.where(causal_TxT, logits_BxHxTxT, jnp.finfo(logits_BxHxTxT.dtype).min)


def num_blocks(batch: int, heads: int, seq_len: int, block_bytes: int) -> int:
    """How many blocks to split ``batch`` sequences into: the fewest that divide it evenly and keep one
    block's ``T x T`` float32 array within ``block_bytes``."""
    per_sequence = heads * seq_len * seq_len * 4
    for n in range(1, batch + 1):
        if batch % n == 0 and (batch // n) * per_sequence <= block_bytes:
            return n
    return batch


def _probs(q, k, lse=None):
    """Causal softmax probabilities ``[b, H, T, T]`` and their log-sum-exp (or, given it, the probabilities
    recomputed from it)."""
    s = _causal_logits(q, k)
    if lse is not None:
        return jnp.exp(s - lse)
    m = jax.lax.stop_gradient(s.max(-1, keepdims=True))
    e = jnp.exp(s - m)
    z = e.sum(-1, keepdims=True)
    return e / z, m + jnp.log(z)


def _forward_block(qkv):
    q, k, v = qkv
    p, lse = _probs(q, k)
    return jnp.einsum("bhts,bsha->btha", p, v), lse


def _backward_block(args):
    q, k, v, o, lse, do = args
    p = _probs(q, k, lse)
    dv = jnp.einsum("bhts,bthk->bshk", p, do)
    dp = jnp.einsum("btha,bsha->bhts", do, v)
    # Softmax backward: dS = P * (dP - rowsum(dP * P)), and rowsum(dP * P) = rowsum(dO * O) over K.
    ds = p * (dp - jnp.einsum("bthk,bthk->bht", do, o)[..., None]) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    dq = jnp.einsum("bhts,bsha->btha", ds, k)
    dk = jnp.einsum("bhts,bthk->bshk", ds, q)
    return dq, dk, dv


def _split(blocks, x):
    return x.reshape(blocks, x.shape[0] // blocks, *x.shape[1:])


def _merge(x):
    return x.reshape(-1, *x.shape[2:])


def _blocked_fwd(blocks, q, k, v):
    o, lse = jax.lax.map(_forward_block, (_split(blocks, q), _split(blocks, k), _split(blocks, v)))
    return _merge(o), (q, k, v, o, lse)


def _blocked_bwd(blocks, residuals, do):
    q, k, v, o, lse = residuals
    split = [_split(blocks, x) for x in (q, k, v)]
    grads = jax.lax.map(_backward_block, (*split, o, lse, _split(blocks, do)))
    return tuple(_merge(g) for g in grads)


_blocked = jax.custom_vjp(lambda blocks, q, k, v: _blocked_fwd(blocks, q, k, v)[0], nondiff_argnums=(0,))
_blocked.defvjp(_blocked_fwd, _blocked_bwd)
