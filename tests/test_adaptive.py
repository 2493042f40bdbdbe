"""Adaptive sweeps: packed equals one by one, stopped runs leave the pack, refinement resumes exactly after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gpicl_phase import store
from gpicl_phase.rules import REASON
from gpicl_phase.sweep import load
from gpicl_phase.sweep.rounds import read_rounds
from gpicl_phase.sweep.runner import run_sweep
from sweep_helpers import assert_same_results, write_spec

pytestmark = pytest.mark.slow

# One task is memorized within a few meta-tests and settles; 2^20 tasks sit on the plateau to the budget.
ADAPTIVE = """
name = "tiny_adaptive"
[base]
d_model = 16
num_layers = 1
num_heads = 2
key_size = 4
image_size = 4
num_classes = 3
seq_len = 8
batch_size = 8
steps = 20
eval_every = 5
log_every = 5
eval_batch = 16
lr = 3e-3
[axes]
num_tasks = [1, 2, 1048576]
seed = [0, 1]
[adaptive]
max_steps = 60
patience = 2
loss_tol = 0.2
acc_tol = 0.5
[thresholds]
memorization_acc = 0.2
"""
REFINE = ADAPTIVE + """
[refine]
resolution = 4.0
max_rounds = 2
"""


@pytest.fixture(autouse=True)
def _jax_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GPICL_PHASE_JAX_CACHE", str(tmp_path_factory.getbasetemp() / "jax-cache"))


def test_adaptive_packed_equals_one_by_one_and_stopped_runs_leave_the_pack(tmp_path):
    spec = load(write_spec(tmp_path, ADAPTIVE))
    packed = run_sweep(spec, tmp_path / "packed.zarr", max_pack=8, progress=False)
    single = run_sweep(spec, tmp_path / "single.zarr", max_pack=1, progress=False)
    assert packed.ok and single.ok
    a, b = store.load_results(tmp_path / "packed.zarr"), store.load_results(tmp_path / "single.zarr")
    for name in ("steps_trained", "stop_reason", "max_steps", "status"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert_same_results(a, b, exact=False)
    reasons = set(a["stop_reason"].values.ravel().tolist())
    assert {REASON["settled"], REASON["budget"]} <= reasons, "some runs settle early, others use the budget"
    steps = a["steps_trained"].values
    assert steps.min() < 60 == steps.max()
    # A stopped run's record ends at its stop: NaN after it, numbers before.
    early = np.unravel_index(np.argmin(steps), steps.shape)
    loss = a["train_loss"].values[early]
    assert np.isfinite(loss[: steps[early] // 5]).all() and np.isnan(loss[steps[early] // 5:]).all()
    assert packed.run_steps == int(steps.sum()) < 6 * 60


def _sweep_cmd(spec, path):
    return [sys.executable, "-m", "gpicl_phase", "sweep", str(spec), "--store", str(path), "--max-pack", "2",
            "--quiet", "--checkpoint-every", "0"]


def test_kill_mid_refinement_then_resume_equals_uninterrupted(tmp_path, tmp_path_factory):
    spec = write_spec(tmp_path, REFINE)
    env = dict(os.environ, GPICL_PHASE_JAX_CACHE=str(tmp_path_factory.getbasetemp() / "jax-cache"))
    reference = tmp_path / "reference.zarr"
    subprocess.run(_sweep_cmd(spec, reference), env=env, check=True, capture_output=True)
    ref_rounds = read_rounds(store.store_attrs(reference))
    assert ref_rounds, "the reference refines at least once"

    path = tmp_path / "killed.zarr"
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(_sweep_cmd(spec, path), env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, "the sweep ended before the kill point; see killed.log"
            assert time.monotonic() < deadline, "never reached the kill point"
            try:
                recorded = read_rounds(store.store_attrs(path)) if path.exists() else []
                running = (store.read_status(path) == store.STATUS["running"]).any() if recorded else False
            except (store.StoreError, ValueError, KeyError):
                recorded, running = [], False  # caught mid-write: look again
            if recorded and running:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (store.read_status(path) != store.STATUS["done"]).any(), "the kill left work to resume"

    subprocess.run(_sweep_cmd(spec, path), env=env, check=True, capture_output=True)
    assert read_rounds(store.store_attrs(path)) == ref_rounds
    resumed, ref = store.load_results(path), store.load_results(reference)
    assert list(resumed["num_tasks"].values) == list(ref["num_tasks"].values)
    assert_same_results(resumed, ref, exact=True)
    for name in ("steps_trained", "stop_reason", "round"):
        np.testing.assert_array_equal(resumed[name].values, ref[name].values, err_msg=name)
