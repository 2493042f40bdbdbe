"""Exactly once: a sweep killed with SIGKILL at any point and resumed equals an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gpicl_phase import checkpoints, store
from sweep_helpers import assert_same_results, write_spec

pytestmark = pytest.mark.slow


def _sweep_cmd(spec, path):
    return [sys.executable, "-m", "gpicl_phase", "sweep", str(spec), "--store", str(path), "--max-pack", "2",
            "--quiet"]


@pytest.fixture
def env(tmp_path_factory):
    e = dict(os.environ)
    e["GPICL_PHASE_JAX_CACHE"] = str(tmp_path_factory.getbasetemp() / "jax-cache")
    return e


def _kill_when(proc, path, predicate, timeout=240.0):
    """SIGKILLs ``proc`` as soon as the store's status satisfies ``predicate``; returns that status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before the kill point (exit {proc.returncode}); see its log")
        if path.exists():
            try:
                status = store.read_status(path)
            except store.StoreError:
                status = None
            if status is not None and predicate(status):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return status
        time.sleep(0.02)
    proc.kill()
    pytest.fail("kill point never reached")


@pytest.mark.parametrize("point", ["first-chunk-running", "after-some-chunks"])
def test_kill_and_resume_equals_uninterrupted(tmp_path, env, point):
    spec = write_spec(tmp_path)
    done, running = store.STATUS["done"], store.STATUS["running"]
    reference = tmp_path / "reference.zarr"
    subprocess.run(_sweep_cmd(spec, reference), env=env, check=True, capture_output=True)

    path = tmp_path / "killed.zarr"
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(_sweep_cmd(spec, path), env=env, stdout=log, stderr=log)
        if point == "first-chunk-running":
            status = _kill_when(proc, path, lambda s: (s == running).any())
        else:
            status = _kill_when(proc, path, lambda s: 2 <= (s == done).sum() < s.size)
    finished_before = store.open_results(path).wall_time.values.copy()
    assert (status != done).any(), "the kill must leave work to resume"

    out = subprocess.run(_sweep_cmd(spec, path), env=env, check=True, capture_output=True, text=True)
    assert "already finished" in out.stdout
    resumed, ref = store.open_results(path), store.open_results(reference)
    assert (resumed.status.values == done).all()
    assert_same_results(resumed, ref, exact=True)
    kept = status == done
    # Cells finished before the kill were not recomputed (their recorded wall time is untouched).
    np.testing.assert_array_equal(resumed.wall_time.values[kept], finished_before[kept])


def test_kill_mid_run_resumes_from_the_checkpoint(tmp_path, env):
    # One pack of 2,000 steps with a checkpoint after every meta-test: killed once a checkpoint exists.
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace("steps = 10", "steps = 2000"))
    cmd = lambda path: _sweep_cmd(spec, path)[:-3] + ["--max-pack", "8", "--checkpoint-every", "0", "--quiet"]  # noqa: E731
    reference = tmp_path / "reference.zarr"
    subprocess.run(cmd(reference), env=env, check=True, capture_output=True)
    path = tmp_path / "killed.zarr"
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(cmd(path), env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 240
        while not list((path / store.CHECKPOINTS).glob("*.npz")):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the sweep ended"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (store.read_status(path) != store.STATUS["done"]).all()
    (saved,) = (path / store.CHECKPOINTS).glob("*.npz")
    before = checkpoints.load(path, saved.stem)[1]["wall_time"]
    out = subprocess.run(cmd(path), env=env, check=True, capture_output=True, text=True)
    assert "resume from their checkpoint at step" in out.stderr
    resumed = store.open_results(path)
    assert_same_results(resumed, store.open_results(reference), exact=True)
    # The recorded wall time is the total over both segments, not the last one alone.
    n_runs = resumed.status.size
    assert before > 0 and (resumed.wall_time.values * n_runs >= before - 1e-6).all()
    assert not list((path / store.CHECKPOINTS).glob("*.npz")), "a finished chunk leaves no checkpoint"
