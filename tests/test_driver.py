"""The host loop (driver.drive) and the task bank: other ways to compute the same numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gpicl_phase import driver, tasks, train


def _assert_metrics_close(a, b, rtol=1e-5, atol=1e-6):
    for name, x, y in zip(train.Metrics._fields, a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=name)


def test_host_loop_equals_the_scanned_program_and_reports_every_chunk(tiny_cfg, tiny_data):
    cfg = tiny_cfg.replace(steps=30, eval_every=10, log_every=5, lr=3e-3)
    seen = []
    looped = driver.drive(cfg.static_part(), tiny_data, train.hyper(cfg), key=train.run_key(cfg.seed), packed=False,
                          on_chunk=lambda c, runs: seen.append(c)).metrics
    _assert_metrics_close(looped, train.run(cfg, tiny_data))
    assert seen == [0, 1, 2]
    assert looped.eval_acc.shape == (4, len(cfg.streams), cfg.seq_len)


def test_packed_host_loop_equals_runs_one_by_one(tiny_cfg, tiny_data):
    # What sweeps pack: runs differing in seed, task count, learning rate and bias (all traced values).
    cfgs = [tiny_cfg.replace(seed=s, num_tasks=n, lr=lr, bias=b)
            for s, n, lr, b in [(0, 1, 1e-3, 0.0), (1, 4, 3e-3, 0.5), (0, 2 ** 20, 1e-3, 0.0)]]
    keys = jax.vmap(train.run_key)(jnp.asarray([c.seed for c in cfgs], jnp.uint32))
    packed = driver.drive(tiny_cfg.static_part(), tiny_data, train.hyper(cfgs), key=keys, packed=True).metrics
    for i, cfg in enumerate(cfgs):
        _assert_metrics_close([x[i] for x in packed], train.run(cfg, tiny_data), rtol=1e-4, atol=1e-5)
    # The group compiled once: another pack of other values, over every chunk, reuses both programs.
    other = [c.replace(seed=c.seed + 9, lr=2 * c.lr) for c in cfgs]
    driver.drive(tiny_cfg.static_part(), tiny_data, train.hyper(other), key=keys, packed=True)
    start, chunk, n_chunks = driver.programs(tiny_cfg.static_part(), True, driver.resolve(None))
    assert n_chunks > 1 and start.init._cache_size() == 1 and chunk._cache_size() == 1


@pytest.mark.parametrize("bias_mode,tasks_per_batch", [("task", 0), ("labels", 2)])
def test_bank_batches_are_the_fresh_batches(tiny_cfg, tiny_data, bias_mode, tasks_per_batch):
    root = train.task_root(tiny_cfg.task_seed)
    banked = tiny_data._replace(bank=tasks.build_bank(root, 16, tiny_cfg.input_dim, tiny_cfg.num_classes, block=5))
    kw = dict(num_tasks=16, bias=0.5, batch_size=8, seq_len=6, tasks_per_batch=tasks_per_batch,
              num_classes=tiny_cfg.num_classes, bias_mode=bias_mode)
    for i in range(3):
        key = jax.random.key(i)
        fresh_tok, fresh_y = tasks.train_batch(key, tiny_data, root, **kw)
        bank_tok, bank_y = tasks.train_batch(key, banked, root, **kw)
        np.testing.assert_array_equal(bank_y, fresh_y)
        np.testing.assert_allclose(bank_tok, fresh_tok, rtol=0, atol=1e-6)


def test_training_on_a_bank_gives_the_same_run(tiny_cfg, tiny_data):
    cfg = tiny_cfg.replace(num_tasks=8, bias=0.25)
    banked = driver.with_bank(tiny_data, cfg.static_part(), 8)
    assert banked.bank.projections.shape == (8, cfg.input_dim, cfg.input_dim)
    static, hp, key = cfg.static_part(), train.hyper(cfg), train.run_key(cfg.seed)
    with_bank = driver.drive(static, banked, hp, key=key, packed=False).metrics
    _assert_metrics_close(with_bank, driver.drive(static, tiny_data, hp, key=key, packed=False).metrics)


def test_bank_size_picks_the_bank_only_when_it_fits_and_pays(tiny_cfg):
    cfg = tiny_cfg.replace(steps=100, batch_size=8, tasks_per_batch=0, num_classes=10)  # 800 draws per run
    gib = 2 ** 30
    per_task = tasks.bank_bytes(1, 196, 10)
    assert driver.bank_size(cfg, 512, 1, 196, gib) == 512
    assert driver.bank_size(cfg, 512, 1, 196, gib, "fresh") == 0
    assert driver.bank_size(cfg, 1024, 1, 196, gib) == 0  # more tasks than one run's 800 draws
    assert driver.bank_size(cfg, 1024, 2, 196, gib) == 1024  # two runs draw 1600
    assert driver.bank_size(cfg, 512, 1, 196, 4 * 512 * per_task) == 512  # exactly a quarter of the budget
    assert driver.bank_size(cfg, 512, 1, 196, 4 * 512 * per_task - 1) == 0
    assert driver.bank_size(cfg, 1024, 1, 196, gib, "bank") == 1024  # forced, though it does not pay
    with pytest.raises(ValueError, match="GiB"):
        driver.bank_size(cfg, 2 ** 20, 1, 196, gib, "bank")  # 150 GiB
    with pytest.raises(ValueError, match="task source"):
        driver.bank_size(cfg, 4, 1, 196, gib, "cached")


def test_a_killed_pack_resumes_from_its_checkpoint_with_the_same_numbers(tiny_cfg, tiny_data):
    cfg = tiny_cfg.replace(steps=40, eval_every=10)
    cfgs = [cfg.replace(seed=0, num_tasks=4), cfg.replace(seed=1, num_tasks=2 ** 20)]
    hp, keys = train.hyper(cfgs), jax.vmap(train.run_key)(jnp.asarray([0, 1], jnp.uint32))
    saved, resumed_at = {}, []
    checkpoints = driver.Checkpoints(save=lambda arrays, meta: saved.update(found=(arrays, meta)),
                                     load=lambda: saved.get("found"), every=0.0, resumed=resumed_at.append)

    def kill(c, runs):
        if c == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        driver.drive(cfg.static_part(), tiny_data, hp, key=keys, packed=True, on_chunk=kill, checkpoints=checkpoints)
    assert saved["found"][1]["next_chunk"] == 2
    seen = []
    resumed = driver.drive(cfg.static_part(), tiny_data, hp, key=keys, packed=True,
                           on_chunk=lambda c, runs: seen.append(c), checkpoints=checkpoints).metrics
    assert resumed_at == [20] and seen == [0, 1, 2, 3]
    whole = driver.drive(cfg.static_part(), tiny_data, hp, key=keys, packed=True).metrics
    for name, x, y in zip(train.Metrics._fields, resumed, whole, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)
    # Another pack never resumes from this one's checkpoint.
    other = train.hyper([c.replace(lr=3e-3) for c in cfgs])
    driver.drive(cfg.static_part(), tiny_data, other, key=keys, packed=True, checkpoints=checkpoints)
    assert resumed_at == [20]


def _stop_first_two_after(n_chunks: int):
    """A stop rule that ends the pack's first two runs once ``n_chunks`` intervals are trained."""
    def decide(h):
        out = np.zeros(h.eval_acc.shape[0], np.int8)
        if h.eval_acc.shape[1] - 1 == n_chunks and h.eval_acc.shape[0] == 4:
            out[:2] = 2
        return out
    return driver.Stopper(decide, f"first-two-after-{n_chunks}")


def test_stopped_runs_leave_the_pack_and_the_rest_train_on(tiny_cfg, tiny_data):
    cfg = tiny_cfg.replace(steps=20, eval_every=5, log_every=5, max_steps=40)
    cfgs = [cfg.replace(seed=s, num_tasks=n) for s, n in [(0, 1), (1, 4), (2, 16), (3, 2 ** 20)]]
    keys = jax.vmap(train.run_key)(jnp.asarray([c.seed for c in cfgs], jnp.uint32))
    live = []
    out = driver.drive(cfg.static_part(), tiny_data, train.hyper(cfgs), key=keys, packed=True,
                       stopper=_stop_first_two_after(2), on_chunk=lambda c, runs: live.append(list(runs)))
    assert out.steps_trained.tolist() == [10, 10, 40, 40]
    assert out.stop_reason.tolist() == [2, 2, 1, 1]
    assert live[:2] == [[0, 1, 2, 3]] * 2 and live[2:] == [[2, 3]] * 6
    assert np.isnan(out.metrics.train_loss[:2, 2:]).all() and np.isfinite(out.metrics.train_loss[2:]).all()
    never = driver.Stopper(lambda h: np.zeros(h.eval_acc.shape[0], np.int8), "never")
    for i in (2, 3):  # runs that moved into a pack of two compute what they compute alone
        alone = driver.drive(cfg.static_part(), tiny_data, train.hyper(cfgs[i]), key=train.run_key(cfgs[i].seed),
                             packed=False, stopper=never)
        _assert_metrics_close([x[i] for x in out.metrics], alone.metrics, rtol=1e-4, atol=1e-5)


def test_a_pack_killed_after_shrinking_resumes_with_the_same_bits(tiny_cfg, tiny_data):
    cfg = tiny_cfg.replace(steps=20, eval_every=5, log_every=5, max_steps=40)
    cfgs = [cfg.replace(seed=s, num_tasks=4) for s in range(4)]
    hp, keys = train.hyper(cfgs), jax.vmap(train.run_key)(jnp.arange(4, dtype=jnp.uint32))
    saved = {}
    checkpoints = driver.Checkpoints(save=lambda arrays, meta: saved.update(found=(arrays, meta)),
                                     load=lambda: saved.get("found"), every=0.0)

    def kill(c, runs):
        if c == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        driver.drive(cfg.static_part(), tiny_data, hp, key=keys, packed=True, stopper=_stop_first_two_after(2),
                     on_chunk=kill, checkpoints=checkpoints)
    assert saved["found"][0]["slots"].tolist() == [2, 3], "the checkpoint holds the shrunken pack"
    resumed = driver.drive(cfg.static_part(), tiny_data, hp, key=keys, packed=True, stopper=_stop_first_two_after(2),
                           checkpoints=checkpoints)
    whole = driver.drive(cfg.static_part(), tiny_data, hp, key=keys, packed=True, stopper=_stop_first_two_after(2))
    for name, x, y in zip(train.Metrics._fields, resumed.metrics, whole.metrics, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert resumed.steps_trained.tolist() == whole.steps_trained.tolist() == [10, 10, 40, 40]
