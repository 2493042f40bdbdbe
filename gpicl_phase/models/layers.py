"""Plain-JAX building blocks: parameters are nested dicts of arrays, so vmap over runs is free.

Shape letters: B batch, T positions, I input features, N model width, H heads, K key size, C classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dense_init(key, fan_in: int, fan_out: int, scale: float = 1.0, bias: bool = True) -> dict:
    """A linear layer with variance-scaling init: std = sqrt(scale / fan_in), zero bias."""
    w = jax.random.normal(key, (fan_in, fan_out)) * jnp.sqrt(scale / fan_in)
    return {"w": w, "b": jnp.zeros((fan_out,))} if bias else {"w": w}


def dense(p: dict, x: jax.Array) -> jax.Array:
    """x @ w + b."""
    y = x @ p["w"]
    return y + p["b"] if "b" in p else y


def layer_norm_init(n: int) -> dict:
    """LayerNorm with unit scale and zero offset."""
    return {"scale": jnp.ones((n,)), "offset": jnp.zeros((n,))}


def layer_norm(p: dict, x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """LayerNorm over the last axis."""
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["offset"]


def param_count(params) -> int:
    """Number of scalar parameters in a pytree (static: from shapes only)."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
