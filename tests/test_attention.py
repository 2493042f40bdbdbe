"""Every attention form (Engine.attention) computes the reference attention, forward and backward, packed or
not: the cache-blocked form and jax.nn.dot_product_attention (XLA here; cuDNN falls back to it off GPUs)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gpicl_phase import models
from gpicl_phase.models import attention

B, T, H, K = 6, 12, 2, 8


TWO_PER_BLOCK = 2 * H * T * T * 4  # blocks of two sequences, so three per batch of six


@pytest.fixture
def blocked():
    assert attention.num_blocks(B, H, T, TWO_PER_BLOCK) == 3


# What Engine(attention="blocked", block_bytes=TWO_PER_BLOCK) asks for.
BLOCKED = functools.partial(attention.causal_attention, form="blocked", block_bytes=TWO_PER_BLOCK)


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


def test_num_blocks_divides_the_batch_within_the_budget():
    per_sequence = 8 * 100 * 100 * 4  # the paper default: 8 heads, T = 100
    assert attention.num_blocks(128, 8, 100, 8 * per_sequence) == 16  # 8 sequences per block
    assert attention.num_blocks(8, 8, 100, 8 * per_sequence) == 1  # fits in one block: the reference form
    assert attention.num_blocks(12, 8, 100, 8 * per_sequence) == 2  # 6 per block: the fewest blocks dividing 12
    assert attention.num_blocks(13, 8, 100, 8 * per_sequence) == 13  # a prime batch too big for one block
    assert attention.num_blocks(4, 8, 100, per_sequence // 2) == 4  # even one sequence is over budget


@pytest.mark.parametrize("form", ["xla", "cudnn"])
def test_fused_attention_equals_reference_forward_and_backward(form):
    fused = functools.partial(attention.causal_attention, form=form)
    q, k, v = _qkv()
    np.testing.assert_allclose(fused(q, k, v), attention.reference(q, k, v), rtol=1e-5, atol=1e-6)
    got = jax.grad(_loss(fused), argnums=(0, 1, 2))(q, k, v)
    want = jax.grad(_loss(attention.reference), argnums=(0, 1, 2))(q, k, v)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    t = 5  # causal: keys and values from t on do not reach the outputs before t
    changed = fused(q, k.at[:, t:].add(2.0), v.at[:, t:].add(2.0))
    np.testing.assert_allclose(changed[:, :t], fused(q, k, v)[:, :t], rtol=1e-6, atol=1e-7)


def test_cudnn_falls_back_to_xla_where_cudnn_refuses():
    """On this CPU cuDNN refuses while tracing; the engine's "cudnn" choice must still run, as XLA."""
    if jax.default_backend() == "gpu":
        pytest.skip("on a GPU the cuDNN kernel may accept the call; this checks the fallback")
    q, k, v = (x.astype(jnp.bfloat16) for x in _qkv())
    with pytest.raises(attention.FUSED_REFUSALS):
        jax.nn.dot_product_attention(q, k, v, is_causal=True, implementation="cudnn")
    np.testing.assert_array_equal(attention.causal_attention(q, k, v, form="cudnn"),
                                  attention.causal_attention(q, k, v, form="xla"))


def test_mixed_precision_attention_keeps_float32_softmax_statistics():
    q, k, v = _qkv()
    half = [x.astype(jnp.bfloat16) for x in (q, k, v)]
    for form in ("reference", "xla"):
        out = attention.causal_attention(*half, form=form)
        assert out.dtype == jnp.bfloat16
        # bfloat16 keeps 8 bits of mantissa: within a few of its ulps of the float32 attention.
        np.testing.assert_allclose(out.astype(np.float32), attention.reference(q, k, v), atol=0.05)
    assert "f32" in str(jax.make_jaxpr(attention.reference)(*half))  # the logits are accumulated in float32


def test_a_training_run_with_each_attention_form_matches_the_reference(tiny_cfg, tiny_data):
    from gpicl_phase import train

    cfg = tiny_cfg.replace(num_layers=1, steps=4, eval_every=2, log_every=2)
    per_sequence = cfg.num_heads * cfg.seq_len ** 2 * 4
    assert attention.num_blocks(cfg.batch_size, cfg.num_heads, cfg.seq_len, 2 * per_sequence) == cfg.batch_size // 2

    def run(attention_form):
        engine = models.Engine(attention=attention_form, block_bytes=2 * per_sequence)
        return jax.jit(train.make_train(cfg, engine))(tiny_data, train.hyper(cfg), key=train.run_key(0))

    reference = run("reference")
    for form in ("blocked", "xla"):
        other = run(form)
        np.testing.assert_allclose(other.train_loss, reference.train_loss, rtol=1e-4, err_msg=form)
        np.testing.assert_allclose(other.eval_loss, reference.eval_loss, rtol=1e-3, atol=1e-4, err_msg=form)
