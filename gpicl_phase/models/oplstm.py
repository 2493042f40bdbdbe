"""Outer-product LSTM: an LSTM whose cell is a matrix ``M`` (N x N), written by outer products, read by M q.

Equations (docs/models.md), with e_t the same 2-layer ReLU MLP encoding of token t as the LSTM baseline and
z_t = W [e_t; h_{t-1}] + b split into six N-vectors:

    i_t = sigmoid(z_i)   f_t = sigmoid(z_f)   o_t = sigmoid(z_o)
    v_t = tanh(z_v)      k_t = z_k / ||z_k||   q_t = z_q / ||z_q||
    M_t = f_t[:, None] * M_{t-1} + (i_t * v_t) k_t^T
    h_t = o_t * tanh(M_t q_t)

Unit-norm keys and queries with gates and values in [-1, 1] keep every row of M bounded by 1 / (1 - f) and
the read-out by the row norm, so the state cannot blow up over a sequence. State: M and h, N^2 + N numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gpicl_phase.models.layers import dense, dense_init
from gpicl_phase.models.recurrent import _mlp, _mlp_init

_EPS = 1e-6


def _unit(x: jax.Array) -> jax.Array:
    # rsqrt of (|x|^2 + eps) rather than x / |x|: finite gradient at x = 0.
    return x * jax.lax.rsqrt(jnp.sum(jnp.square(x), -1, keepdims=True) + _EPS)


def init(cfg, key, input_dim: int) -> dict:
    """2-layer ReLU MLP encoder (width N), an outer-product cell of hidden size N, a linear head."""
    n = cfg.d_model
    k_enc, k_cell, k_head = jax.random.split(key, 3)
    cell = dense_init(k_cell, 2 * n, 6 * n)
    # Forget-gate bias 1, as for the LSTM baseline: the memory starts out long-lived.
    cell["b"] = cell["b"].at[n:2 * n].set(1.0)
    return {"enc": _mlp_init(k_enc, input_dim, n, 2), "cell": cell,
            "head": dense_init(k_head, n, cfg.num_classes)}


def apply(cfg, params: dict, tokens_BxTxI: jax.Array) -> jax.Array:
    """Logits ``[B, T, K]`` from the outer-product cell scanned over positions."""
    n = cfg.d_model
    e_TxBxN = jnp.swapaxes(_mlp(params["enc"], tokens_BxTxI), 0, 1)

    def step(carry, e_BxN):
        m_BxNxN, h_BxN = carry
        z = dense(params["cell"], jnp.concatenate([e_BxN, h_BxN], -1))
        zi, zf, zo, zv, zk, zq = jnp.split(z, 6, axis=-1)
        f_BxN, write_BxN = jax.nn.sigmoid(zf), jax.nn.sigmoid(zi) * jnp.tanh(zv)
        k_BxN, q_BxN = _unit(zk), _unit(zq)
        m_BxNxN = f_BxN[..., None] * m_BxNxN + write_BxN[..., :, None] * k_BxN[..., None, :]
        h_BxN = jax.nn.sigmoid(zo) * jnp.tanh(jnp.einsum("bij,bj->bi", m_BxNxN, q_BxN))
        return (m_BxNxN, h_BxN), h_BxN

    b = tokens_BxTxI.shape[0]
    carry = (jnp.zeros((b, n, n), tokens_BxTxI.dtype), jnp.zeros((b, n), tokens_BxTxI.dtype))
    _, h_TxBxN = jax.lax.scan(step, carry, e_TxBxN)
    return dense(params["head"], jnp.swapaxes(h_TxBxN, 0, 1))


def state_size(cfg) -> int:
    """The memory matrix and the hidden vector: hidden^2 + hidden."""
    return cfg.d_model ** 2 + cfg.d_model
