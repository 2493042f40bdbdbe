"""The cache-blocked causal attention computes the reference attention, forward and backward, packed or not."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gpicl_phase import models
from gpicl_phase.models import attention

B, T, H, K = 6, 12, 2, 8


@pytest.fixture
def blocked(monkeypatch):
    """Blocks of two sequences (so three per batch of six), on whatever backend the tests run."""
    monkeypatch.setattr(attention, "BLOCK_BYTES", 2 * H * T * T * 4)
    assert attention.num_blocks(B, H, T) == 3


BLOCKED = functools.partial(attention.causal_attention, blocked=True)  # what Engine.blocked_attention asks


def _qkv(seed=0, batch=B):
    keys = jax.random.split(jax.random.key(seed), 3)
    return tuple(jax.random.normal(k, (batch, T, H, K)) for k in keys)


def _loss(fn):
    # A loss that weighs every output element differently, so every gradient path is exercised.
    w = jax.random.normal(jax.random.key(9), (B, T, H, K))
    return lambda q, k, v: jnp.sum(w * fn(q, k, v))


def test_blocked_path_is_the_custom_one(blocked):
    jaxpr = str(jax.make_jaxpr(BLOCKED)(*_qkv()))
    assert "custom_vjp" in jaxpr
    # With one block it is the reference form, which has no custom rule.
    assert "custom_vjp" not in str(jax.make_jaxpr(BLOCKED)(*_qkv(batch=2)))


def test_blocked_equals_reference_forward_and_backward(blocked):
    q, k, v = _qkv()
    np.testing.assert_allclose(BLOCKED(q, k, v), attention.reference(q, k, v),
                               rtol=1e-5, atol=1e-6)
    got = jax.grad(_loss(BLOCKED), argnums=(0, 1, 2))(q, k, v)
    want = jax.grad(_loss(attention.reference), argnums=(0, 1, 2))(q, k, v)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_blocked_is_causal_in_values_and_gradients(blocked):
    q, k, v = _qkv()
    t = 5
    out = BLOCKED(q, k, v)
    changed = BLOCKED(q, k.at[:, t:].add(2.0), v.at[:, t:].add(2.0))
    np.testing.assert_array_equal(out[:, :t], changed[:, :t])
    assert not np.allclose(out[:, t:], changed[:, t:])
    # The gradient of the outputs before t with respect to keys and values from t on is exactly zero.
    dk, dv = jax.grad(lambda k, v: BLOCKED(q, k, v)[:, :t].sum(), argnums=(0, 1))(k, v)
    assert not np.any(dk[:, t:]) and not np.any(dv[:, t:])
    assert np.any(dk[:, :t]) and np.any(dv[:, :t])


def test_blocked_under_vmap_equals_each_run_alone(blocked):
    runs = [_qkv(seed) for seed in range(3)]
    stacked = tuple(jnp.stack(x) for x in zip(*runs, strict=True))
    grad = jax.grad(_loss(BLOCKED), argnums=(0, 1, 2))
    packed = jax.jit(jax.vmap(grad))(*stacked)
    for i, qkv in enumerate(runs):
        for p, g in zip(packed, jax.jit(grad)(*qkv), strict=True):
            np.testing.assert_allclose(p[i], g, rtol=1e-5, atol=1e-6)


def test_num_blocks_divides_the_batch_within_the_budget(monkeypatch):
    per_sequence = 8 * 100 * 100 * 4  # the paper default: 8 heads, T = 100
    monkeypatch.setattr(attention, "BLOCK_BYTES", 8 * per_sequence)
    assert attention.num_blocks(128, 8, 100) == 16  # 8 sequences per block
    assert attention.num_blocks(8, 8, 100) == 1  # fits in one block: the reference form
    assert attention.num_blocks(12, 8, 100) == 2  # 6 per block: the fewest blocks that divide 12
    assert attention.num_blocks(13, 8, 100) == 13  # a prime batch too big for one block: one per block
    monkeypatch.setattr(attention, "BLOCK_BYTES", per_sequence / 2)
    assert attention.num_blocks(4, 8, 100) == 4  # even one sequence is over budget: one per block


def test_a_training_run_with_blocked_attention_matches_the_reference(tiny_cfg, tiny_data, monkeypatch):
    from gpicl_phase import train

    cfg = tiny_cfg.replace(num_layers=1, steps=4, eval_every=2, log_every=2)

    def run(blocked):
        engine = dataclasses.replace(models.Engine.for_backend(jax.default_backend()), blocked_attention=blocked)
        return jax.jit(train.make_train(cfg, engine))(tiny_data, train.hyper(cfg), key=train.run_key(0))

    reference = run(False)
    per_sequence = cfg.num_heads * cfg.seq_len ** 2 * 4
    monkeypatch.setattr(attention, "BLOCK_BYTES", 2 * per_sequence)
    assert attention.num_blocks(cfg.batch_size, cfg.num_heads, cfg.seq_len) == cfg.batch_size // 2
    blocked = run(True)
    np.testing.assert_allclose(blocked.train_loss, reference.train_loss, rtol=1e-4)
    np.testing.assert_allclose(blocked.eval_loss, reference.eval_loss, rtol=1e-3, atol=1e-4)
