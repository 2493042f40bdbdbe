"""Plain-JAX building blocks: parameters are nested dicts of arrays, so vmap over runs is free.

Shape letters (docs/DESIGN.md): B batch, T positions, I token width, N model width, H heads, A key size, K classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dense_init(key, fan_in: int, fan_out: int, scale: float = 1.0, bias: bool = True) -> dict:
    """A linear layer with variance-scaling init: std = sqrt(scale / fan_in), zero bias."""
    w = jax.random.normal(key, (fan_in, fan_out)) * jnp.sqrt(scale / fan_in)
    return {"w": w, "b": jnp.zeros((fan_out,))} if bias else {"w": w}


def along_last(v: jax.Array, like: jax.Array) -> jax.Array:
    """A vector over the last axis, shaped to broadcast against ``like`` by rank (no implicit promotion)."""
    return v.reshape((1,) * (like.ndim - 1) + v.shape)


def dense(p: dict, x: jax.Array, dtype=None) -> jax.Array:
    """x @ w + b; ``dtype``: compute in it (mixed precision: the float32 parameters are cast at use)."""
    if dtype is not None:
        p, x = jax.tree_util.tree_map(lambda a: a.astype(dtype), p), x.astype(dtype)
    y = x @ p["w"]
    return y + along_last(p["b"], y) if "b" in p else y


def layer_norm_init(n: int) -> dict:
    """LayerNorm with unit scale and zero offset."""
    return {"scale": jnp.ones((n,)), "offset": jnp.zeros((n,))}


# LayerNorm's input gradient can be materialized (``gradient_barrier``). Without it XLA:CPU fuses the
# LayerNorm backward's elementwise chain, through the residual stream across all layers, into the loop
# fusions that transpose gradients for the weight-gradient matmuls, and recomputes the chain in each of them;
# the barrier makes it computed once (measured: BENCHMARKS.md, History).


@jax.custom_vjp
def gradient_barrier(x: jax.Array) -> jax.Array:
    """The identity, whose gradient XLA must compute into a buffer of its own (never fused onward)."""
    return x


gradient_barrier.defvjp(lambda x: (x, None), lambda _, g: (jax.lax.optimization_barrier(g),))


def layer_norm(p: dict, x: jax.Array, eps: float = 1e-5, barrier: bool = False) -> jax.Array:
    """LayerNorm over the last axis; ``barrier``: its input gradient in a buffer of its own (Engine)."""
    if barrier:
        x = gradient_barrier(x)
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * along_last(p["scale"], x) + along_last(p["offset"], x)


def param_count(params) -> int:
    """Number of scalar parameters in a pytree (static: from shapes only)."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
