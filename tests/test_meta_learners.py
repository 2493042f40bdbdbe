"""The MAML and VSML learners (Table 1): their formulas, causality, gradients, and learning within a sequence.

The common contract (shapes, finite loss and gradients, counts) and the single-position causality check run
for them in test_models.py, which covers every model of the registry; here they get the stronger checks.
"""

import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gpicl_phase import models, tasks, train
from gpicl_phase.config import RunConfig

KINDS = ("maml", "vsml")


def _small(kind, **changes):
    base = {"model": kind, "d_model": 4, "image_size": 3, "num_classes": 3, "seq_len": 10}
    return RunConfig(**{**base, **changes})


# Parameters and inputs come from jitted functions: run op by op, each first-seen operation compiles on its own,
# which costs seconds on the shared CPU.


def _init(cfg, seed=0):
    return jax.jit(lambda key: models.init(cfg, key))(jax.random.key(seed))


def _tokens(cfg, batch=2, seed=0):
    @jax.jit
    def make(key_x, key_y):
        x = jax.random.normal(key_x, (batch, cfg.seq_len, cfg.input_dim))
        y = jax.random.randint(key_y, (batch, cfg.seq_len), 0, cfg.num_classes)
        return tasks.tokens(x, y, cfg.num_classes), x, y

    return make(jax.random.key(seed), jax.random.key(seed + 1))


def test_param_counts_and_state_sizes_follow_the_formulas():
    d, n, k = 9, 4, 3
    maml = _small("maml")
    classifier = d * n + n + n * k + k
    assert models.state_size(maml) == classifier
    assert models.count_params(maml) == 2 * classifier  # initial weights and one learning rate each
    s = 4
    vsml = _small("vsml")
    assert models.state_size(vsml) == d * k * 2 * s
    assert models.count_params(vsml) == (3 + s) * 4 * s + 4 * s + s
    # VSML's parameters do not grow with the network it stands in for; its state does.
    wide = vsml.replace(image_size=6, num_classes=5)
    assert models.count_params(wide) == models.count_params(vsml)
    assert models.state_size(wide) == 36 * 5 * 2 * s


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_finite_values(kind):
    cfg = _small(kind)
    params = _init(cfg, 0)
    toks, _, _ = _tokens(cfg, batch=3)
    apply = jax.jit(lambda p, tokens: models.apply(cfg, p, tokens))
    logits = apply(params, toks)
    assert logits.shape == (3, cfg.seq_len, cfg.num_classes)
    assert np.isfinite(np.asarray(logits)).all()
    # Inputs 30x larger than the data's over a long sequence: still finite.
    long_cfg = cfg.replace(seq_len=100)
    big, _, _ = _tokens(long_cfg, batch=2, seed=3)
    big = big.at[..., :cfg.input_dim].multiply(30.0)
    assert np.isfinite(np.asarray(apply(params, big))).all()  # seq_len is read from the tokens' shape


@pytest.mark.parametrize("kind", KINDS)
def test_causal_at_every_position(kind):
    """Changing token t (its input or its previous label) changes no logit before t, and the logit at t or after."""
    cfg = _small(kind)
    params = _init(cfg, 0)
    toks, _, _ = _tokens(cfg)
    apply = jax.jit(lambda p, tokens: models.apply(cfg, p, tokens))  # one compilation for every call below
    base = np.asarray(apply(params, toks))
    d, k = cfg.input_dim, cfg.num_classes
    for t in range(1, cfg.seq_len):
        new_x = toks.at[:, t, :d].add(2.0)
        # Another label for example t-1: move the one-hot of token t to the next class.
        old = toks[:, t, d:d + k]
        new_y = toks.at[:, t, d:d + k].set(jnp.roll(old, 1, axis=-1))
        for changed, what in ((new_x, "input"), (new_y, "label")):
            out = np.asarray(apply(params, changed))
            np.testing.assert_allclose(out[:, :t], base[:, :t], atol=1e-6, err_msg=f"{what} at {t} leaks back")
            # The input at t reaches the logit at t; the label of t-1 reaches it through the update at t.
            assert not np.allclose(out[:, t], base[:, t], atol=1e-5), f"{what} at {t} does not reach logits {t}"


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_reaches_every_parameter(kind):
    cfg = _small(kind)
    params = _init(cfg, 0)
    toks, _, y = _tokens(cfg, batch=4)

    def loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(models.apply(cfg, p, toks), y).mean()

    grads = jax.jit(jax.grad(loss))(params)
    flat, _ = jax.tree_util.tree_flatten_with_path(grads)
    for path, g in flat:
        g = np.asarray(g)
        assert np.isfinite(g).all(), path
        # Every entry: every weight of the classifier (its init and its learning rate), every row of the LSTM.
        assert (np.abs(g) > 0).mean() > 0.9, f"{jax.tree_util.keystr(path)}: {(g != 0).mean():.2f} nonzero"


def test_maml_matches_a_plain_online_loop():
    """The scan equals a Python loop of: predict x_t with theta, then one Meta-SGD step on (x_t, y_t)."""
    cfg = _small("maml", seq_len=6)
    params = _init(cfg, 2)
    params["log_lr"] = jax.tree_util.tree_map(lambda p: p + jax.random.uniform(jax.random.key(3), p.shape),
                                              params["log_lr"])  # unequal rates, so each must go to its weight
    toks, x, y = _tokens(cfg)
    got = np.asarray(jax.jit(lambda p: models.apply(cfg, p, toks))(params))

    @jax.jit
    def f(th, x_d):
        return jax.nn.relu(x_d @ th["hidden"]["w"] + th["hidden"]["b"]) @ th["out"]["w"] + th["out"]["b"]

    @jax.jit
    @jax.grad
    def ce_grad(th, x_d, label):
        return -jax.nn.log_softmax(f(th, x_d))[label]

    for s in range(2):
        th = params["init"]
        for t in range(cfg.seq_len):
            np.testing.assert_allclose(got[s, t], f(th, x[s, t]), rtol=1e-4, atol=1e-5)
            g = ce_grad(th, x[s, t], y[s, t])
            th = jax.tree_util.tree_map(lambda p, lr, gr: p - jnp.exp(lr) * gr, th, params["log_lr"], g)


def test_maml_meta_gradient_is_second_order():
    """The meta-gradient through the inner steps agrees with finite differences of the meta-loss.

    A first-order MAML (inner gradients treated as constants) misses the Hessian term, which at these large
    inner learning rates changes the directional derivative by far more than the tolerance.
    """
    cfg = _small("maml", seq_len=8)
    params = _init(cfg, 0)
    params["log_lr"] = jax.tree_util.tree_map(lambda p: jnp.full_like(p, math.log(0.5)), params["log_lr"])
    toks, _, y = _tokens(cfg, batch=4)

    @jax.jit
    def loss(init):
        logits = models.apply(cfg, {**params, "init": init}, toks)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    g = jax.jit(jax.grad(loss))(params["init"])
    norm = math.sqrt(sum(float(jnp.sum(v * v)) for v in jax.tree_util.tree_leaves(g)))
    direction = jax.tree_util.tree_map(lambda v: v / norm, g)
    eps = 1e-2

    def shifted(sign):
        return jax.tree_util.tree_map(lambda p, v: p + sign * eps * v, params["init"], direction)

    numeric = (float(loss(shifted(1))) - float(loss(shifted(-1)))) / (2 * eps)
    assert numeric == pytest.approx(norm, rel=0.02)


def _vsml_reference(cfg, params, x_BxTxD, y_BxT):
    """VSML written out weight by weight, with loops, from the equations of the module docstring."""
    w, b, v = (np.asarray(a, np.float64) for a in (params["cell"]["w"], params["cell"]["b"], params["out"]))
    d, k, s = cfg.input_dim, cfg.num_classes, cfg.d_model

    def sig(z):
        return 1 / (1 + np.exp(-z))

    out = np.zeros(y_BxT.shape + (k,))
    for bi in range(x_BxTxD.shape[0]):
        h, c = np.zeros((d, k, s)), np.zeros((d, k, s))
        x_prev, err = np.zeros(d), np.zeros(k)
        for t in range(x_BxTxD.shape[1]):
            x = np.asarray(x_BxTxD[bi, t], np.float64)
            for i in range(d):
                for j in range(k):
                    z = np.concatenate([[x[i], x_prev[i], err[j]], h[i, j]]) @ w + b
                    zi, zf, zo, zg = np.split(z, 4)
                    c[i, j] = sig(zf) * c[i, j] + sig(zi) * np.tanh(zg)
                    h[i, j] = sig(zo) * np.tanh(c[i, j])
                    out[bi, t, j] += h[i, j] @ v
            p = np.exp(out[bi, t] - out[bi, t].max())
            err = p / p.sum() - np.eye(k)[y_BxT[bi, t]]
            x_prev = x
    return out


def test_vsml_matches_the_equations_weight_by_weight():
    cfg = _small("vsml", image_size=2, num_classes=3, d_model=3, seq_len=5)
    params = _init(cfg, 1)
    toks, x, y = _tokens(cfg)
    got = np.asarray(models.apply(cfg, params, toks))
    np.testing.assert_allclose(got, _vsml_reference(cfg, params, np.asarray(x), np.asarray(y)), rtol=1e-4,
                               atol=1e-5)
    # Nothing learnt yet at position 0: every output neuron gets the same value.
    np.testing.assert_allclose(got[:, 0], got[:, 0, :1] * np.ones((1, cfg.num_classes)), rtol=1e-5)


# Meta-training on the embedded digits: a few seconds of a plain Adam loop (train.run would spend most of a
# test's budget compiling its whole program with meta-tests).
_LEARN = {"image_size": 4, "num_classes": 3, "seq_len": 20, "num_tasks": 2 ** 16}
_STEPS, _BATCH, _EVAL = 150, 32, 128
_META = {"maml": {"d_model": 32, "lr": 0.01}, "vsml": {"d_model": 4, "lr": 0.01}}


@functools.lru_cache(maxsize=1)
def _digit_batches():
    """Meta-training batches ``(tokens [steps, B, T, I], labels [steps, B, T])`` and a meta-test batch of
    ``_EVAL`` sequences, shared by both learners. The meta-test sequences come from the same distribution
    (tasks from the 2^16 training ids, so ones training hardly ever met) under keys training never uses.
    One compiled batch function called in a loop: compiling the batched form costs several times more."""
    cfg = RunConfig(**_LEARN)
    root, data = train.task_root(cfg.task_seed), train.task_data(cfg)

    @jax.jit
    def batch(key, data):  # data as an argument: closed over, XLA would fold it in as constants
        return tasks.train_batch(key, data, root, num_tasks=cfg.num_tasks, bias=0.0, batch_size=_BATCH,
                                 seq_len=cfg.seq_len, tasks_per_batch=0, num_classes=cfg.num_classes,
                                 bias_mode="task")

    train_batches = [batch(k, data) for k in jax.random.split(jax.random.key(1), _STEPS)]
    test_batches = [batch(k, data) for k in jax.random.split(jax.random.key(2), _EVAL // _BATCH)]
    return (jax.tree_util.tree_map(lambda *a: jnp.stack(a), *train_batches),
            jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *test_batches))


def _meta_train(cfg, batches):
    """Adam on the cross-entropy over all positions, one precomputed batch per step; the losses per step."""
    opt = optax.adam(cfg.lr)

    def step(carry, batch):
        params, opt_state = carry
        toks, y = batch
        loss, grads = jax.value_and_grad(
            lambda p: optax.softmax_cross_entropy_with_integer_labels(models.apply(cfg, p, toks), y).mean())(params)
        updates, opt_state = opt.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def run(params, batches):
        (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), batches)
        return params, losses

    params, losses = run(_init(cfg, 0), batches)
    return params, np.asarray(losses)


@pytest.mark.parametrize("kind", KINDS)
def test_meta_trained_learner_improves_within_a_sequence(kind):
    """After meta-training on many digit tasks, late positions beat the first ones by a wide margin."""
    start = time.time()
    cfg = RunConfig(model=kind, **_LEARN, **_META[kind])
    batches, (test_toks, test_y) = _digit_batches()
    accuracy = jax.jit(lambda p: (models.apply(cfg, p, test_toks).argmax(-1) == test_y).mean(0))  # [T]
    before = np.asarray(accuracy(_init(cfg, 0)))
    params, losses = _meta_train(cfg, batches)
    after = np.asarray(accuracy(params))
    chance = 1 / cfg.num_classes
    print(f"{kind}: {time.time() - start:.1f} s; loss {losses[:20].mean():.3f} -> {losses[-20:].mean():.3f}; "
          f"accuracy first 2 {before[:2].mean():.2f} -> {after[:2].mean():.2f}, "
          f"last 5 {before[-5:].mean():.2f} -> {after[-5:].mean():.2f}")
    assert np.isfinite(losses).all()
    assert abs(after[0] - chance) < 0.12  # many tasks: nothing to know before the first label
    assert after[-5:].mean() > after[:2].mean() + 0.2
    # Meta-training made it a better learner.
    assert losses[-20:].mean() < losses[:20].mean() - 0.03
    assert after[-5:].mean() > before[-5:].mean() + 0.02
