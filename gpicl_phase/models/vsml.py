"""VSML (Table 1's VSML row; Kirsch & Schmidhuber 2021, *Meta Learning Backpropagation And Improving It*).

A single-layer network ``N_x -> K`` whose every weight (i, j) is replaced by a tiny LSTM of state size
S = ``d_model``. All N_x x K LSTMs share one set of parameters; each keeps its own state (h_ij, c_ij), and what
a sequence teaches the network lives only in those states. One LSTM step per position does both the backward
(learning) and the forward (prediction) message. At position t, LSTM (i, j) reads three numbers,

    u_ij,t = [x_{t,i},  x_{t-1,i},  e_{t-1,j}]       e_{t-1} = m_t (softmax(logits_{t-1}) - onehot(y_{t-1}))

with m_t = 1 - no_label_t (0 at t = 0) and x_{-1} = 0: the current input (forward message), and the previous
input together with the error on output j of the previous example (backward message; the gradient of the
cross-entropy with respect to logits_{t-1}, available in token t because y_{t-1} is). Then

    z = W [u_ij,t; h_ij,t-1] + b  -> i, f, o, g       (W: (3 + S) x 4S, shared by every (i, j))
    c_ij,t = sigmoid(f) c_ij,t-1 + sigmoid(i) tanh(g)      h_ij,t = sigmoid(o) tanh(c_ij,t)
    logits_t,j = sum_i  v . h_ij,t                      (v: S, the shared projection of the forward message)

The previous input enters together with its error, so a Hebbian-like update ``x_{t-1,i} e_{t-1,j}`` (what
online SGD does to weight (i, j)) is a function of one step's inputs and needs no memory of x_{t-1}.
The prediction at t depends on x_0..x_t and y_0..y_{t-1} only: causal. At t = 0 the states are zero and the
error is 0, so every output neuron gets the same value: position 0 predicts uniformly, like ``sgd``.

What differs from the original VSML (the authors' code, github.com/louiskirsch/vsml-neurips2021):

- one dense layer, one LSTM tick per example (the original stacks layers when asked and runs 2 ticks per
  example by default, with forward and backward messages of 8 numbers produced by the LSTMs);
- the forward message is the input itself (a scalar, not a padded vector) and the output is a learned
  projection of h summed over inputs (the original takes the mean of one component of a learned message);
- the previous input x_{t-1,i} is fed again with its error (the original feeds x_t with the error of t-1,
  and the LSTM must remember x_{t-1});
- the output is not tanh-bounded; states start at zero (the original draws half of each cell state at
  random per episode); a sequence's examples are never merged across a batch;
- meta-training is the common one (Adam on backpropagated gradients, cross-entropy over all positions;
  the original used evolution strategies).

Parameters: the cell (3 + S) 4S + 4S and the projection S. State: h and c of every LSTM, N_x K 2S.
Shape letters: B batch, T positions, D inputs (N_x), K classes, S the LSTM state size (``d_model``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gpicl_phase.models.layers import dense_init

_NUM_INPUTS = 3  # x_t, x_{t-1}, e_{t-1}
_FORGET_BIAS = 3.0  # sigmoid(3) = 0.95: the states start out long-lived, as learned weights must be


def init(cfg, key, input_dim: int) -> dict:
    """The shared LSTM cell (gates in the order i, f, o, g) and the forward-message projection ``v``."""
    del input_dim  # the LSTMs read x and the error, never the token directly
    s = cfg.d_model
    k_cell, k_out = jax.random.split(key)
    cell = dense_init(k_cell, _NUM_INPUTS + s, 4 * s)
    cell["b"] = cell["b"].at[s:2 * s].set(_FORGET_BIAS)
    return {"cell": cell, "out": jax.random.normal(k_out, (s,)) / jnp.sqrt(s)}


def apply(cfg, params: dict, tokens_BxTxI: jax.Array) -> jax.Array:
    """Logits ``[B, T, K]`` from the grid of N_x x K weight-LSTMs scanned over positions."""
    d, k, s = cfg.input_dim, cfg.num_classes, cfg.d_model
    w, b, v_S = params["cell"]["w"], params["cell"]["b"], params["out"]
    # The input part of W splits by input, so each term is computed at the size it varies over.
    # Rows of W as [1, 1, 4S], to broadcast against [B, D or K, 1] by rank.
    w_x, w_xprev, w_err = (w[None, None, r] for r in range(_NUM_INPUTS))
    w_h, b_11x4S = w[_NUM_INPUTS:], b[None, None]
    x_TxBxD = jnp.swapaxes(tokens_BxTxI[..., :d], 0, 1)
    y_TxBxK = jnp.swapaxes(tokens_BxTxI[..., d:d + k], 0, 1)
    has_label_TxB = 1.0 - jnp.swapaxes(tokens_BxTxI[..., d + k], 0, 1)

    def step(carry, inputs):
        h_BxDxKxS, c_BxDxKxS, x_prev_BxD, logits_prev_BxK = carry
        x_BxD, y_prev_BxK, has_label_B = inputs
        err_BxK = has_label_B[:, None] * (jax.nn.softmax(logits_prev_BxK) - y_prev_BxK)
        z_BxDx4S = x_BxD[..., None] * w_x + x_prev_BxD[..., None] * w_xprev + b_11x4S
        z_BxKx4S = err_BxK[..., None] * w_err
        z = z_BxDx4S[:, :, None, :] + z_BxKx4S[:, None, :, :] + h_BxDxKxS @ w_h
        zi, zf, zo, zg = jnp.split(z, 4, axis=-1)
        c_BxDxKxS = jax.nn.sigmoid(zf) * c_BxDxKxS + jax.nn.sigmoid(zi) * jnp.tanh(zg)
        h_BxDxKxS = jax.nn.sigmoid(zo) * jnp.tanh(c_BxDxKxS)
        logits_BxK = jnp.einsum("bdks,s->bk", h_BxDxKxS, v_S)
        return (h_BxDxKxS, c_BxDxKxS, x_BxD, logits_BxK), logits_BxK

    bsz, dtype = tokens_BxTxI.shape[0], tokens_BxTxI.dtype
    zeros = jnp.zeros((bsz, d, k, s), dtype)
    carry = (zeros, zeros, jnp.zeros((bsz, d), dtype), jnp.zeros((bsz, k), dtype))
    _, logits_TxBxK = jax.lax.scan(step, carry, (x_TxBxD, y_TxBxK, has_label_TxB))
    return jnp.swapaxes(logits_TxBxK, 0, 1)


def state_size(cfg) -> int:
    """h and c of every weight-LSTM: N_x K 2S."""
    return cfg.input_dim * cfg.num_classes * 2 * cfg.d_model
