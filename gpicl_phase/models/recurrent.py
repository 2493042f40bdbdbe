"""Baselines: an LSTM on the same tokens, and an MLP that sees only the current input (no context)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gpicl_phase.models.layers import dense, dense_init


def _mlp_init(key, input_dim: int, width: int, layers: int) -> list:
    keys = jax.random.split(key, layers)
    dims = [input_dim] + [width] * layers
    return [dense_init(keys[i], dims[i], dims[i + 1], scale=2.0) for i in range(layers)]


def _mlp(ps: list, x: jax.Array) -> jax.Array:
    for p in ps:
        x = jax.nn.relu(dense(p, x))
    return x


def lstm_init(cfg, key, input_dim: int) -> dict:
    """2-layer ReLU MLP encoder (width N), an LSTM cell of hidden size N, a linear head."""
    n = cfg.d_model
    k_enc, k_cell, k_head = jax.random.split(key, 3)
    cell = dense_init(k_cell, 2 * n, 4 * n)
    # A forget-gate bias of 1 is the usual choice that lets gradients through early in training.
    cell["b"] = cell["b"].at[n:2 * n].set(1.0)
    return {"enc": _mlp_init(k_enc, input_dim, n, 2), "cell": cell,
            "head": dense_init(k_head, n, cfg.num_classes)}


def lstm_apply(cfg, params: dict, tokens_BxTxI: jax.Array) -> jax.Array:
    """Logits ``[B, T, K]`` from an LSTM scanned over positions."""
    n = cfg.d_model
    e_TxBxN = jnp.swapaxes(_mlp(params["enc"], tokens_BxTxI), 0, 1)

    def step(carry, e_BxN):
        h, c = carry
        gates = dense(params["cell"], jnp.concatenate([e_BxN, h], -1))
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((tokens_BxTxI.shape[0], n), tokens_BxTxI.dtype)
    _, h_TxBxN = jax.lax.scan(step, (zeros, zeros), e_TxBxN)
    return dense(params["head"], jnp.swapaxes(h_TxBxN, 0, 1))


def lstm_state_size(cfg) -> int:
    """Hidden and cell vectors: 2 x hidden."""
    return 2 * cfg.d_model


def mlp_init(cfg, key, input_dim: int) -> dict:
    """``num_layers`` ReLU layers of width N on x_t alone, then a linear head."""
    k_body, k_head = jax.random.split(key)
    return {"body": _mlp_init(k_body, cfg.input_dim, cfg.d_model, cfg.num_layers),
            "head": dense_init(k_head, cfg.d_model, cfg.num_classes)}


def mlp_apply(cfg, params: dict, tokens_BxTxI: jax.Array) -> jax.Array:
    """Logits from the current input only: the previous label and all context are dropped."""
    return dense(params["head"], _mlp(params["body"], tokens_BxTxI[..., :cfg.input_dim]))


def mlp_state_size(cfg) -> int:
    """No memory between examples."""
    return 0
