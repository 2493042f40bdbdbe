"""Online SGD learner (Table 1's SGD row): per sequence, a fresh linear classifier learns by plain SGD.

Nothing is meta-trained but the learning rate. Each sequence starts from W = 0, b = 0. At position t:

    (1) update with the previous example, whose label arrives in token t:
        g_t = m_t * (softmax(W x_{t-1} + b) - onehot(y_{t-1}))      m_t = 1 - no_label_t  (0 at t = 0)
        W  <- W - lr * x_{t-1} g_t^T                                b <- b - lr * g_t
    (2) predict x_t with the updated weights: logits_t = W x_t + b.

So the prediction at t has taken one gradient step on each of the t examples before it and none on x_t:
causal, and inside the common ``tokens -> logits`` interface. The only parameter is ``log_lr``
(lr = exp(log_lr)), so tuning the learning rate on seen tasks is ordinary meta-training of that one
scalar with the normal trainer. Shape letters: B batch, T positions, D inputs (N_x), K classes.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def init(cfg, key, input_dim: int) -> dict:
    """``log_lr`` at log(1 / N_x): one step then moves a logit by about one for unit-variance inputs."""
    del key, input_dim  # deterministic: the classifier itself is zero-initialized inside apply
    return {"log_lr": jnp.asarray(-math.log(cfg.input_dim), jnp.float32)}


def apply(cfg, params: dict, tokens_BxTxI: jax.Array) -> jax.Array:
    """Logits ``[B, T, K]``: each position predicted by SGD on all earlier examples of its sequence."""
    d, k = cfg.input_dim, cfg.num_classes
    lr = jnp.exp(params["log_lr"])
    x_TxBxD = jnp.swapaxes(tokens_BxTxI[..., :d], 0, 1)
    y_TxBxK = jnp.swapaxes(tokens_BxTxI[..., d:d + k], 0, 1)
    has_label_TxB = 1.0 - jnp.swapaxes(tokens_BxTxI[..., d + k], 0, 1)

    def step(carry, inputs):
        w_BxDxK, b_BxK, x_prev_BxD, logits_prev_BxK = carry
        x_BxD, y_prev_BxK, has_label_B = inputs
        # The previous logits were made with the current weights, so they are the ones the gradient needs.
        g_BxK = has_label_B[:, None] * (jax.nn.softmax(logits_prev_BxK) - y_prev_BxK)
        w_BxDxK = w_BxDxK - lr * x_prev_BxD[:, :, None] * g_BxK[:, None, :]
        b_BxK = b_BxK - lr * g_BxK
        logits_BxK = jnp.einsum("bd,bdk->bk", x_BxD, w_BxDxK) + b_BxK
        return (w_BxDxK, b_BxK, x_BxD, logits_BxK), logits_BxK

    bsz, dtype = tokens_BxTxI.shape[0], tokens_BxTxI.dtype
    carry = (jnp.zeros((bsz, d, k), dtype), jnp.zeros((bsz, k), dtype), jnp.zeros((bsz, d), dtype),
             jnp.zeros((bsz, k), dtype))
    _, logits_TxBxK = jax.lax.scan(step, carry, (x_TxBxD, y_TxBxK, has_label_TxB))
    return jnp.swapaxes(logits_TxBxK, 0, 1)


def state_size(cfg) -> int:
    """The classifier's weights and biases: N_x * K + K."""
    return cfg.input_dim * cfg.num_classes + cfg.num_classes
