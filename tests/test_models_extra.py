"""The outer-product LSTM and the online SGD learner: their formulas and their promises."""

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase import models, tasks

# The common contract and causality of both models are tested in test_models.py, which covers every model
# of the registry.


def test_state_sizes_and_param_counts_follow_the_formulas(tiny_cfg):
    n, d, k = 16, tiny_cfg.input_dim, tiny_cfg.num_classes
    op = tiny_cfg.replace(model="oplstm")
    assert models.state_size(op) == n * n + n
    assert models.state_size(op.replace(d_model=64)) == 64 * 64 + 64
    i = d + k + 1
    encoder = (i * n + n) + (n * n + n)
    assert models.count_params(op) == encoder + (2 * n * 6 * n + 6 * n) + (n * k + k)
    sgd = tiny_cfg.replace(model="sgd")
    assert models.state_size(sgd) == d * k + k
    assert models.count_params(sgd) == 1
    # The learner has no width: d_model changes neither its state nor its parameters.
    assert models.state_size(sgd.replace(d_model=64)) == models.state_size(sgd)


def _blobs(seed, batch, seq_len, dim, k):
    """One fixed task: class-conditional Gaussian blobs, well separated, labels never permuted."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim)).astype(np.float32)
    y = rng.integers(0, k, (batch, seq_len)).astype(np.int32)
    x = centers[y] + 0.3 * rng.normal(size=(batch, seq_len, dim)).astype(np.float32)
    return x, y


def test_sgd_matches_a_plain_online_loop(tiny_cfg):
    cfg = tiny_cfg.replace(model="sgd")
    d, k, lr = cfg.input_dim, cfg.num_classes, 0.3
    x, y = _blobs(0, 2, cfg.seq_len, d, k)
    toks = tasks.tokens(jnp.asarray(x), jnp.asarray(y), k)
    got = np.asarray(models.apply(cfg, {"log_lr": jnp.log(lr)}, toks))
    for s in range(2):
        w, b = np.zeros((d, k)), np.zeros(k)
        for t in range(cfg.seq_len):
            logits = x[s, t] @ w + b
            np.testing.assert_allclose(got[s, t], logits, rtol=1e-4, atol=1e-5)
            g = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum() - np.eye(k)[y[s, t]]
            w, b = w - lr * np.outer(x[s, t], g), b - lr * g


def test_sgd_learns_within_a_sequence_without_meta_training(tiny_cfg):
    """A fixed learning rate and no meta-training: early positions near chance, late ones far above."""
    cfg = tiny_cfg.replace(model="sgd", seq_len=50)
    k = cfg.num_classes
    x, y = _blobs(1, 128, cfg.seq_len, cfg.input_dim, k)
    params = models.init(cfg, jax.random.key(0))  # lr = 1 / N_x, the untuned default
    logits = models.apply(cfg, params, tasks.tokens(jnp.asarray(x), jnp.asarray(y), k))
    acc_T = np.asarray((logits.argmax(-1) == y).mean(0))
    assert acc_T[:2].mean() < 0.25  # position 0 sees zero weights: chance is 1/K
    assert acc_T[-10:].mean() > 0.85
    assert acc_T[-10:].mean() > acc_T[10:20].mean() > acc_T[:2].mean()


def test_sgd_learning_rate_is_tuned_by_the_normal_trainer(tiny_cfg, tiny_data):
    """Meta-training the single log learning rate with the ordinary trainer lowers the meta-training loss."""
    from gpicl_phase import train

    cfg = tiny_cfg.replace(model="sgd", seq_len=30, steps=40, eval_every=40, log_every=10, lr=0.1)
    m = train.run(cfg, tiny_data)
    loss = np.asarray(m.train_loss)
    print("sgd meta-training loss per window:", loss)
    assert int(m.diverged_step) == -1
    assert loss[-1] < loss[0] - 0.05
