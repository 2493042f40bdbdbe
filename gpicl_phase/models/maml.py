"""MAML with Meta-SGD learning rates (Table 1's MAML row), run online inside the common sequence interface.

The learner is a small classifier, a one-hidden-layer ReLU MLP ``N_x -> N -> K`` (N = ``d_model``):

    f(theta, x) = W2 relu(W1 x + b1) + b2          theta = {W1 [D, N], b1 [N], W2 [N, K], b2 [K]}

Meta-learned: its initial parameters ``theta_0`` and one log learning rate per parameter ``log_lr`` (the
same tree as theta; alpha = exp(log_lr), Meta-SGD with positive rates). Each sequence starts from
``theta_0``; at position t the scan

    (1) takes one inner gradient step on the previous example, whose label arrives in token t:
        theta_t = theta_{t-1} - alpha * grad_theta [m_t * CE(f(theta_{t-1}, x_{t-1}), y_{t-1})]
        with m_t = 1 - no_label_t (0 at t = 0, so theta_0 predicts position 0);
    (2) predicts x_t with the adapted weights: logits_t = f(theta_t, x_t).

So the prediction at t has taken exactly one step on each of the t earlier examples, and none on x_t: causal,
as in ``sgd.py``. The inner gradient is ``jax.grad`` inside the scan and the trainer differentiates through
it: full second-order MAML, no first-order approximation.

What differs from MAML as published (Finn et al. 2017; Meta-SGD: Li et al. 2017): there, a task gives a
support set and a query set, the learner takes k full-batch steps on the support set and is scored on the
query set. Here there is no split: every position is a query and the k-th step is on the k-th example alone
(online, batch size one, one step per example), and the meta-loss is the cross-entropy over all positions,
like every other model of the registry. Learning rates are positive (exp of a log), where Meta-SGD lets them
take any sign. Shape letters: B batch, T positions, D inputs (N_x), N hidden width, K classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gpicl_phase.models.layers import dense_init

# exp(-3) ~ 0.05 per parameter: one step then moves the logits of a similar input by a fraction of one.
_INIT_LOG_LR = -3.0


def _classifier_init(key, d: int, n: int, k: int) -> dict:
    k1, k2 = jax.random.split(key)
    return {"hidden": dense_init(k1, d, n, scale=2.0), "out": dense_init(k2, n, k)}


def _classifier(theta: dict, x_D: jax.Array) -> jax.Array:
    """Logits ``[K]`` of one input ``[D]``."""
    h_N = jax.nn.relu(x_D @ theta["hidden"]["w"] + theta["hidden"]["b"])
    return h_N @ theta["out"]["w"] + theta["out"]["b"]


def init(cfg, key, input_dim: int) -> dict:
    """``init``: the classifier's initial parameters; ``log_lr``: one log learning rate per parameter."""
    del input_dim  # the classifier reads x_t alone; labels reach it only through the inner steps
    theta = _classifier_init(key, cfg.input_dim, cfg.d_model, cfg.num_classes)
    return {"init": theta, "log_lr": jax.tree_util.tree_map(lambda p: jnp.full_like(p, _INIT_LOG_LR), theta)}


def _sequence(cfg, params: dict, x_TxD: jax.Array, y_prev_TxK: jax.Array, has_label_T: jax.Array) -> jax.Array:
    """Logits ``[T, K]`` of one sequence: online Meta-SGD, one inner step per labelled example."""
    lr = jax.tree_util.tree_map(jnp.exp, params["log_lr"])

    def inner_loss(theta, x_D, y_K, has_label):
        return -has_label * jnp.sum(y_K * jax.nn.log_softmax(_classifier(theta, x_D)))

    def step(carry, inputs):
        theta, x_prev_D = carry
        x_D, y_prev_K, has_label = inputs
        grads = jax.grad(inner_loss)(theta, x_prev_D, y_prev_K, has_label)
        theta = jax.tree_util.tree_map(lambda p, a, g: p - a * g, theta, lr, grads)
        return (theta, x_D), _classifier(theta, x_D)

    carry = (params["init"], jnp.zeros_like(x_TxD[0]))
    _, logits_TxK = jax.lax.scan(step, carry, (x_TxD, y_prev_TxK, has_label_T))
    return logits_TxK


def apply(cfg, params: dict, tokens_BxTxI: jax.Array) -> jax.Array:
    """Logits ``[B, T, K]``: each position predicted by the adapted classifier of its own sequence."""
    d, k = cfg.input_dim, cfg.num_classes
    x_BxTxD = tokens_BxTxI[..., :d]
    y_prev_BxTxK = tokens_BxTxI[..., d:d + k]
    has_label_BxT = 1.0 - tokens_BxTxI[..., d + k]
    return jax.vmap(lambda x, y, m: _sequence(cfg, params, x, y, m))(x_BxTxD, y_prev_BxTxK, has_label_BxT)


def classifier_size(cfg) -> int:
    """Parameters of the inner classifier: N_x N + N + N K + K."""
    n = cfg.d_model
    return cfg.input_dim * n + n + n * cfg.num_classes + cfg.num_classes


def state_size(cfg) -> int:
    """The adapted classifier weights are the memory: N_x N + N + N K + K (half the parameter count)."""
    return classifier_size(cfg)
