"""Engine options: one frozen value, part of every program's cache key, recorded in the store; bfloat16 tracks
float32 on a real learning problem."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gpicl_phase import driver, train
from gpicl_phase.config import RunConfig
from gpicl_phase.engine import Engine
from gpicl_phase.rules import Thresholds
from gpicl_phase.rules.stopping import History, RunFacts, phases_over_time


def test_options_are_checked_and_round_trip():
    with pytest.raises(ValueError, match="attention must be one of"):
        Engine(attention="flash")
    with pytest.raises(ValueError, match="precision must be one of"):
        Engine(precision="float16")
    with pytest.raises(ValueError, match="block_bytes"):
        Engine(block_bytes=0)
    e = Engine(attention="xla", precision="bfloat16", unroll_layers=False)
    assert Engine.from_json(e.to_json()) == e
    with pytest.raises(ValueError, match="warp_size"):
        Engine.from_json(json.dumps({"attention": "xla", "warp_size": 32}))
    assert e.replace(precision=None, attention="reference") == Engine(precision="bfloat16", unroll_layers=False)


def test_each_backend_gets_its_measured_choice():
    assert Engine.for_backend("cpu") == Engine(attention="blocked", gradient_barrier=True)
    assert Engine.for_backend("gpu") == Engine(attention="cudnn", precision="bfloat16")
    assert Engine.for_backend("tpu") == Engine()


def _drive(cfg, data, engine):
    cfgs = [cfg.replace(seed=s) for s in (0, 1)]
    keys = jax.vmap(train.run_key)(jnp.asarray([c.seed for c in cfgs], jnp.uint32))
    return driver.drive(cfg.static_part(), data, train.hyper(cfgs), key=keys, packed=True, engine=engine).metrics


def test_a_changed_option_builds_new_programs_and_never_reuses_a_stale_one(tiny_cfg, tiny_data):
    cfg = tiny_cfg.replace(num_layers=1, steps=10, eval_every=5)
    f32, bf16 = Engine(), Engine(precision="bfloat16")
    first = _drive(cfg, tiny_data, f32)
    half = _drive(cfg, tiny_data, bf16)
    again = _drive(cfg, tiny_data, f32)
    static = cfg.static_part()
    assert driver.programs(static, True, f32) is not driver.programs(static, True, bf16)
    assert not np.array_equal(first.train_loss, half.train_loss)  # bfloat16 ran: other numbers
    for a, b in zip(first, again, strict=True):  # float32 again: its own programs, the same bits
        np.testing.assert_array_equal(a, b)
    for engine in (f32, bf16):  # each engine compiled its programs once
        start, chunk, _ = driver.programs(static, True, engine)
        assert start.init._cache_size() == 1 and chunk._cache_size() == 1


def test_bfloat16_parameters_and_optimizer_state_stay_float32(tiny_cfg, tiny_data):
    stages = train.make_stages(tiny_cfg.static_part(), Engine(precision="bfloat16"))
    carry, _ = jax.eval_shape(stages.start, tiny_data, train.hyper(tiny_cfg), train.run_key(0))
    floats = [x.dtype for x in jax.tree_util.tree_leaves((carry.params, carry.opt_state))
              if jnp.issubdtype(x.dtype, jnp.floating)]
    assert floats and all(d == jnp.float32 for d in floats)


@pytest.mark.slow
def test_bfloat16_training_tracks_float32_on_the_learning_test():
    """Same phase at every meta-test on a tiny grid (4 tasks: memorized; 2^16: not learned in 300 steps), and
    training-loss curves within 0.1 x ln K of each other at every log window."""
    base = RunConfig(d_model=32, num_layers=1, num_heads=2, key_size=16, image_size=5, num_classes=5, seq_len=20,
                     batch_size=32, steps=300, eval_every=100, log_every=25, eval_batch=128)
    cfgs = [base.replace(num_tasks=n) for n in (4, 2 ** 16)]
    data = train.task_data(base)
    keys = jax.vmap(train.run_key)(jnp.zeros(2, jnp.uint32))
    facts = RunFacts(base.streams, base.num_classes, base.eval_every, base.log_every, np.array([300] * 2),
                     np.array([300] * 2))
    out = {}
    for precision in ("float32", "bfloat16"):
        m = driver.drive(base.static_part(), data, train.hyper(cfgs), key=keys, packed=True,
                         engine=Engine(precision=precision)).metrics
        out[precision] = (phases_over_time(History(np.asarray(m.eval_acc), np.asarray(m.train_loss),
                                                   np.asarray(m.grad_norm)), facts, Thresholds()),
                          np.asarray(m.train_loss))
    (p32, l32), (p16, l16) = out["float32"], out["bfloat16"]
    assert p32[0, -1] == "memorizing", p32  # the grid shows a phase, so agreeing means something
    np.testing.assert_array_equal(p16, p32)
    assert np.abs(l16 - l32).max() <= 0.1 * np.log(base.num_classes), np.abs(l16 - l32).max()

