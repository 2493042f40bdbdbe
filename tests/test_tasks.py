"""Tasks are pure functions of their integer id."""

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase import tasks

ROOT = jax.random.key(0)


def test_same_id_same_task_and_different_ids_differ():
    w1, p1 = tasks.make_task(ROOT, jnp.int32(7), 16, 10)
    w2, p2 = tasks.make_task(ROOT, jnp.int32(7), 16, 10)
    w3, _ = tasks.make_task(ROOT, jnp.int32(8), 16, 10)
    w4, _ = tasks.make_task(ROOT, jnp.int32(-8), 16, 10)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(w1, w3)
    assert not np.allclose(w3, w4), "an unseen (negative) id must not alias a training id"


def test_task_does_not_depend_on_how_many_tasks_are_drawn_with_it():
    ids = jnp.arange(5, dtype=jnp.int32)
    batched = jax.vmap(lambda i: tasks.projection(ROOT, i, 8))(ids)
    np.testing.assert_allclose(batched[3], tasks.projection(ROOT, jnp.int32(3), 8), rtol=1e-6)


def test_projection_statistics():
    d = 196
    ws = jax.vmap(lambda i: tasks.projection(ROOT, i, d))(jnp.arange(8, dtype=jnp.int32))
    assert abs(float(ws.mean())) < 3 * np.sqrt(1 / d / ws.size)
    np.testing.assert_allclose(float(ws.var()), 1 / d, rtol=0.02)


def test_permutation_is_a_permutation():
    for i in range(20):
        perm = np.asarray(tasks.permutation(ROOT, jnp.int32(i), 10))
        assert sorted(perm.tolist()) == list(range(10))


def test_training_ids_stay_in_range_and_never_hit_unseen_ids():
    for n in (1, 3, 2 ** 25, 2 ** 31 - 1):
        ids = np.asarray(tasks.draw_ids(jax.random.key(n % 97), 4096, jnp.int32(n)))
        assert ids.min() >= 0 and ids.max() < n
    assert np.asarray(tasks.unseen_ids(4)).tolist() == [-1, -2, -3, -4]
    ids = np.asarray(tasks.draw_ids(jax.random.key(0), 4096, jnp.int32(3)))
    assert set(ids.tolist()) == {0, 1, 2}


def test_num_tasks_can_be_traced_and_vmapped():
    draw = jax.jit(jax.vmap(lambda n: tasks.draw_ids(jax.random.key(0), 256, n)))
    ids = np.asarray(draw(jnp.asarray([1, 4], jnp.int32)))
    assert ids[0].max() == 0 and ids[1].max() == 3


def test_tokens_carry_previous_label_and_explicit_no_label():
    x = jnp.zeros((1, 3, 2))
    y = jnp.asarray([[4, 1, 7]])
    tok = np.asarray(tasks.tokens(x, y, 10))
    assert tok.shape == (1, 3, 2 + 11)
    assert tok[0, 0, 2 + 10] == 1 and tok[0, 0, 2:12].sum() == 0
    assert tok[0, 1, 2 + 4] == 1 and tok[0, 2, 2 + 1] == 1


def test_full_bias_uses_the_fixed_task_only(tiny_cfg, tiny_data):
    kw = dict(batch_size=4, seq_len=6, tasks_per_batch=0, num_classes=10)
    key = jax.random.key(3)
    biased, y_b = tasks.train_batch(key, tiny_data, ROOT, num_tasks=jnp.int32(1000), bias=jnp.float32(1.0),
                                    bias_mode="task", **kw)
    task0, y_0 = tasks.train_batch(key, tiny_data, ROOT, num_tasks=jnp.int32(1), bias=jnp.float32(0.0),
                                   bias_mode="task", **kw)
    np.testing.assert_allclose(biased, task0, rtol=1e-6)
    np.testing.assert_array_equal(y_b, y_0)
    labels_only, y_l = tasks.train_batch(key, tiny_data, ROOT, num_tasks=jnp.int32(1000),
                                         bias=jnp.float32(1.0), bias_mode="labels", **kw)
    np.testing.assert_array_equal(y_l, y_0)
    assert not np.allclose(labels_only[..., :16], task0[..., :16])


def test_tasks_per_batch_shares_one_task_per_group():
    # Every example is the same image, so two sequences agree exactly when they share a projection.
    x = jnp.ones((50, 16))
    data = tasks.TaskData(x, jnp.zeros(50, jnp.int32), x, jnp.zeros(50, jnp.int32), ())
    toks, y = tasks.train_batch(jax.random.key(1), data, ROOT, num_tasks=jnp.int32(2 ** 20),
                                bias=jnp.float32(0.0), batch_size=4, seq_len=6, tasks_per_batch=2,
                                num_classes=10, bias_mode="task")
    assert toks.shape == (4, 6, 16 + 11) and y.shape == (4, 6)
    np.testing.assert_array_equal(toks[0], toks[1])
    np.testing.assert_array_equal(toks[2], toks[3])
    assert not np.allclose(toks[0, :, :16], toks[2, :, :16])
