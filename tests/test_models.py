"""One contract test for every model: shapes, finite loss and grads, param count, state size, causality."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gpicl_phase import models
from gpicl_phase.models.layers import param_count

KINDS = sorted(models.MODELS)


def _inputs(cfg, key=0):
    toks = jax.random.normal(jax.random.key(key), (3, cfg.seq_len, models.token_dim(cfg)))
    y = jax.random.randint(jax.random.key(key + 1), (3, cfg.seq_len), 0, cfg.num_classes)
    return toks, y


@pytest.mark.parametrize("kind", KINDS)
def test_contract(kind, tiny_cfg):
    cfg = tiny_cfg.replace(model=kind)
    params = models.init(cfg, jax.random.key(0))
    toks, y = _inputs(cfg)
    logits = models.apply(cfg, params, toks)
    assert logits.shape == (3, cfg.seq_len, cfg.num_classes)

    def loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(models.apply(cfg, p, toks), y).mean()

    value, grads = jax.value_and_grad(loss)(params)
    assert np.isfinite(float(value))
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grads))
    assert any(float(jnp.abs(g).sum()) > 0 for g in jax.tree_util.tree_leaves(grads))
    assert models.count_params(cfg) == param_count(params) > 0
    assert isinstance(models.state_size(cfg), int)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "mlp"])
def test_causal(kind, tiny_cfg):
    """Changing the token at t leaves every prediction before t unchanged, and changes some after."""
    cfg = tiny_cfg.replace(model=kind)
    params = models.init(cfg, jax.random.key(0))
    toks, _ = _inputs(cfg)
    t = 5
    changed = toks.at[:, t].add(3.0)
    a, b = models.apply(cfg, params, toks), models.apply(cfg, params, changed)
    np.testing.assert_allclose(a[:, :t], b[:, :t], atol=1e-6)
    assert not np.allclose(a[:, t:], b[:, t:], atol=1e-4)


def test_mlp_sees_no_context(tiny_cfg):
    cfg = tiny_cfg.replace(model="mlp")
    params = models.init(cfg, jax.random.key(0))
    toks, _ = _inputs(cfg)
    changed = toks.at[:, :5].add(3.0).at[:, :, cfg.input_dim:].set(0.0)
    a, b = models.apply(cfg, params, toks), models.apply(cfg, params, changed)
    np.testing.assert_allclose(a[:, 5:], b[:, 5:], atol=1e-6)


def test_transformer_param_count_matches_architecture(tiny_cfg):
    n, h, k, L, c = 16, 2, 8, 2, 10
    i = tiny_cfg.input_dim + c + 1
    block = 2 * 2 * n + 3 * n * h * k + (h * k * n + n) + (n * 4 * n + 4 * n) + (4 * n * n + n)
    expected = (i * n + n) + tiny_cfg.seq_len * n + L * block + 2 * n + (n * c + c)
    assert models.count_params(tiny_cfg) == expected


def test_state_sizes_follow_the_documented_formulas(tiny_cfg):
    assert models.state_size(tiny_cfg) == 2 * 2 * 8 * 2 * 12
    assert models.state_size(tiny_cfg.replace(model="lstm")) == 2 * 16
    assert models.state_size(tiny_cfg.replace(model="mlp")) == 0
    # State size is independent of width for the Transformer, unlike the parameter count.
    wide = tiny_cfg.replace(d_model=64)
    assert models.state_size(wide) == models.state_size(tiny_cfg)
    assert models.count_params(wide) > models.count_params(tiny_cfg)


def test_unrolled_layers_give_the_rolled_numbers(tiny_cfg):
    cfg = tiny_cfg.replace(num_layers=3)
    params = models.init(cfg, jax.random.key(0))
    tokens = jax.random.normal(jax.random.key(1), (4, cfg.seq_len, models.token_dim(cfg)))

    def loss_and_grads(engine):
        return jax.jit(jax.value_and_grad(lambda p: jnp.square(models.apply(cfg, p, tokens, engine)).mean()))(params)

    unrolled = loss_and_grads(models.Engine(unroll_layers=True))
    rolled = loss_and_grads(models.Engine(unroll_layers=False))
    # Same program up to XLA's scheduling: equal to float32 rounding (bit for bit in some configs, not all).
    for a, b in zip(jax.tree_util.tree_leaves(unrolled), jax.tree_util.tree_leaves(rolled), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_layer_norm_gradient_barrier_changes_no_numbers(tiny_cfg, monkeypatch):
    params = models.init(tiny_cfg, jax.random.key(0))
    tokens = jax.random.normal(jax.random.key(1), (4, tiny_cfg.seq_len, models.token_dim(tiny_cfg)))
    barrier, plain = models.Engine(gradient_barrier=True), models.Engine()
    loss = lambda p, engine: jnp.square(models.apply(tiny_cfg, p, tokens, engine)).mean()  # noqa: E731

    def traced_and_run(engine):
        fn = jax.value_and_grad(lambda p: loss(p, engine))
        return str(jax.make_jaxpr(fn)(params)), jax.jit(fn)(params)

    jaxpr_on, on = traced_and_run(barrier)
    packed = jax.vmap(jax.grad(lambda p: loss(p, barrier)))(jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), params))
    jaxpr_off, off = traced_and_run(plain)
    # One barrier per LayerNorm, in the backward pass: two in the layer body (which the scan repeats) and the
    # final one.
    assert jaxpr_on.count("optimization_barrier") == 3
    assert "optimization_barrier" not in jaxpr_off
    np.testing.assert_array_equal(on[0], off[0])  # the forward pass is the same program
    for a, b in zip(jax.tree_util.tree_leaves(on[1]), jax.tree_util.tree_leaves(off[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # Under vmap (packed runs) too.
    for a, b in zip(jax.tree_util.tree_leaves(packed), jax.tree_util.tree_leaves(off[1]), strict=True):
        np.testing.assert_allclose(a[1], b, rtol=1e-5, atol=1e-7)
