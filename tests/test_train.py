"""The trainer is pure, deterministic, survives divergence, and packs under vmap."""

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase import train

# Update only when a change to the model, the task sampler, the initialization or the optimizer is
# intended (and say so in the commit); a change here from refactoring alone means behaviour changed.
PINNED_LOSS_STEP0 = 2.9231725
PINNED_EVAL_LOSS_STEP1 = 2.7676110


def one_step_cfg(tiny_cfg):
    return tiny_cfg.replace(steps=1, eval_every=1, log_every=1)


def test_pinned_loss_after_one_step(tiny_cfg, tiny_data):
    m = train.run(one_step_cfg(tiny_cfg), tiny_data)
    got = float(m.train_loss[0]), float(m.eval_loss[1].mean())
    print("pinned values:", got)
    # Pinned on CPU; accelerators round float32 matmuls differently (TF32 on NVIDIA), measured 4e-5 on an H200.
    rtol = 2e-5 if jax.default_backend() == "cpu" else 2e-4
    np.testing.assert_allclose(got, (PINNED_LOSS_STEP0, PINNED_EVAL_LOSS_STEP1), rtol=rtol,
                               err_msg="one-step loss moved: legitimate only if the model, task sampler, "
                                       "initialization or optimizer was changed on purpose")


def test_shapes_and_schedule(tiny_cfg, tiny_data):
    m = train.run(tiny_cfg, tiny_data)
    n_streams = len(tiny_cfg.streams)
    assert m.train_loss.shape == (len(tiny_cfg.log_steps),) == m.grad_norm.shape
    assert m.eval_acc.shape == (len(tiny_cfg.eval_steps), n_streams, tiny_cfg.seq_len) == m.eval_loss.shape
    assert int(m.diverged_step) == -1
    assert np.isfinite(np.asarray(m.train_loss)).all()


def test_same_key_same_numbers_and_seed_matters(tiny_cfg, tiny_data):
    a = train.run(tiny_cfg, tiny_data)
    b = train.run(tiny_cfg, tiny_data)
    c = train.run(tiny_cfg.replace(seed=1), tiny_data)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.train_loss, c.train_loss)


def test_jit_and_no_jit_agree(tiny_cfg, tiny_data):
    # One layer, short sequences and tiny meta-tests: op-by-op execution costs seconds per op count.
    cfg = tiny_cfg.replace(steps=2, eval_every=2, log_every=1, num_layers=1, seq_len=6, eval_batch=2)
    fn = train.make_train(cfg)
    args = (tiny_data, train.hyper(cfg))
    jitted = jax.jit(fn)(*args, key=train.run_key(cfg.seed))
    with jax.disable_jit():
        eager = fn(*args, key=train.run_key(cfg.seed))
    for x, y in zip(jitted, eager):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_divergence_is_recorded_not_raised(tiny_cfg, tiny_data):
    m = train.run(tiny_cfg.replace(lr=1e30), tiny_data)
    step = int(m.diverged_step)
    assert 0 <= step < tiny_cfg.steps
    window = step // tiny_cfg.log_every
    assert np.isnan(np.asarray(m.train_loss)[window:]).all()
    assert np.isfinite(np.asarray(m.eval_acc)).all(), "meta-tests still run on the last finite parameters"


def test_bias_curriculum_anneals_linearly(tiny_cfg):
    hp = train.hyper(tiny_cfg.replace(bias=0.6, bias_anneal_steps=100.0))
    got = [float(train.bias_at(hp, jnp.float32(s))) for s in (0, 50, 100, 200)]
    np.testing.assert_allclose(got, [0.6, 0.3, 0.0, 0.0], atol=1e-6)
    const = train.hyper(tiny_cfg.replace(bias=0.6))
    assert float(train.bias_at(const, jnp.float32(10 ** 6))) == np.float32(0.6)


def test_the_train_command_prints_a_summary_and_writes_its_netcdf(tmp_path, capsys):
    import xarray as xr

    from gpicl_phase import cli

    flags = ["--d-model", "8", "--num-layers", "1", "--num-heads", "1", "--key-size", "8", "--num-tasks", "4",
             "--steps", "20", "--eval-every", "10", "--log-every", "5", "--seq-len", "8", "--batch-size", "4",
             "--eval-batch", "4", "--image-size", "4", "--quiet"]
    out = tmp_path / "run.nc"
    assert cli.main(["train", *flags, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"metrics written to {out}" in printed
    ds = xr.open_dataset(out, engine="scipy")
    assert ds["train_loss"].shape == (4,) and np.isfinite(ds["train_loss"].values).all()
    assert cli.main(["train", *flags]) == 0, "without --out too"
    assert cli.main(["train", *flags, "--out", str(tmp_path / "run.txt")]) == 2
