"""The 'biased' meta-test stream: the bias intervention's fixed task, measured beside the other streams."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gpicl_phase import tasks, train
from gpicl_phase.config import ConfigError


def test_the_stream_exists_only_when_asked(tiny_cfg):
    assert "biased" not in tiny_cfg.streams
    on = tiny_cfg.replace(eval_biased=1)
    assert on.streams == (*tiny_cfg.streams, "biased")
    with pytest.raises(ConfigError, match="eval_biased"):
        tiny_cfg.replace(eval_biased=2)


def test_the_other_streams_keep_their_numbers(tiny_cfg, tiny_data):
    cfg = tiny_cfg.replace(steps=10, eval_every=10)
    plain = train.run(cfg, tiny_data)
    more = train.run(cfg.replace(eval_biased=1), tiny_data)
    n = len(cfg.streams)
    np.testing.assert_array_equal(np.asarray(more.eval_acc)[:, :n], np.asarray(plain.eval_acc))
    np.testing.assert_array_equal(np.asarray(more.train_loss), np.asarray(plain.train_loss))


def test_eval_batch_uses_the_given_permutation(tiny_cfg, tiny_data):
    root = train.task_root(0)
    ids = tasks.unseen_ids(6)
    fixed = jnp.zeros_like(ids)
    key = jax.random.key(3)
    _, y_own = tasks.eval_batch(key, tiny_data.test_x, tiny_data.test_y, root, ids, seq_len=5,
                                num_classes=10, project=True)
    _, y_fixed = tasks.eval_batch(key, tiny_data.test_x, tiny_data.test_y, root, ids, seq_len=5,
                                  num_classes=10, project=True, perm_ids_B=fixed)
    _, y_raw = tasks.eval_batch(key, tiny_data.test_x, tiny_data.test_y, root, ids, seq_len=5,
                                num_classes=10, project=False)
    perm0 = np.asarray(tasks.permutation(root, jnp.int32(0), 10))
    np.testing.assert_array_equal(np.asarray(y_fixed), perm0[np.asarray(y_raw)])
    assert not np.array_equal(np.asarray(y_own), np.asarray(y_fixed)), "unseen tasks have their own permutations"


def test_a_run_trained_only_on_the_fixed_task_knows_it_before_any_example(tiny_cfg, tiny_data):
    """bias 1 in 'task' mode trains on task 0 alone: memorized, so the biased stream is right at position 0,
    while unseen tasks stay near chance there (nothing in a first token says which permutation is in force)."""
    cfg = tiny_cfg.replace(bias=1.0, bias_mode="task", eval_biased=1, steps=300, eval_every=300, log_every=50,
                           eval_batch=64, lr=3e-3)
    m = train.run(cfg, tiny_data)
    acc = np.asarray(m.eval_acc)[-1]
    s = list(cfg.streams)
    assert acc[s.index("biased"), 0] > 0.6, acc[s.index("biased")]
    assert acc[s.index("unseen"), 0] < 0.35, acc[s.index("unseen")]
