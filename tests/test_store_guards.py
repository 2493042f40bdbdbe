"""What guards a store: one writer at a time, and a full disk that stops a sweep with one clear message and
loses nothing (resuming after freeing space equals an uninterrupted sweep)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gpicl_phase import store
from gpicl_phase.sweep import load
from gpicl_phase.sweep.runner import SweepError, open_or_create, run_sweep
from sweep_helpers import assert_same_results, write_spec


@pytest.fixture(autouse=True)
def _jax_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GPICL_PHASE_JAX_CACHE", str(tmp_path_factory.getbasetemp() / "jax-cache"))


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    spec_path = write_spec(tmp_path)
    path = tmp_path / "s.zarr"
    with store.writer_lock(path) as me:
        with pytest.raises(SweepError, match=rf"being written by another process \(pid {me['pid']}"):
            run_sweep(load(spec_path, smoke=True), path, progress=False)
        assert not path.exists(), "refused before anything was written"
        out = subprocess.run([sys.executable, "-m", "gpicl_phase", "sweep", str(spec_path), "--store", str(path),
                              "--smoke", "--quiet"], capture_output=True, text=True)
        assert out.returncode == 2 and "being written by another process" in out.stderr
        assert "Traceback" not in out.stderr and not path.exists()
    # The lock goes with its holder: now the sweep runs.
    assert run_sweep(load(spec_path, smoke=True), path, progress=False).ok


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (needs root to mount; skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"could not mount a tmpfs: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_stops_the_sweep_with_one_message_and_resume_is_exact(tmp_path, small_disk):
    spec = load(write_spec(tmp_path), smoke=True)  # 4 runs in 2 packs: the second pack meets the full disk
    reference = tmp_path / "reference.zarr"
    assert run_sweep(spec, reference, max_pack=2, progress=False).ok
    path = small_disk / "s.zarr"
    open_or_create(spec, str(path), max_pack=2)
    # Leave room for about two runs' chunk files (each a page or more on tmpfs), then fill the rest.
    stat = os.statvfs(small_disk)
    room = 2 * len(store.VARIABLES) * stat.f_bsize
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * max(stat.f_bavail * stat.f_bsize - room, 0))
    with pytest.raises(SweepError) as err:
        run_sweep(spec, path, max_pack=2, progress=False)
    message = str(err.value)
    assert "is full" in message and "per run" in message and "resume" in message
    status = store.read_status(path)
    assert (status != store.STATUS["done"]).any(), "the disk filled before the sweep ended"
    filler.unlink()
    assert run_sweep(spec, path, max_pack=2, progress=False).ok
    assert_same_results(store.open_results(path), store.open_results(reference), exact=True)


def test_damaged_runs_are_named_excluded_and_run_again(tmp_path, capsys):
    import shutil

    import zarr

    from gpicl_phase import cli
    from gpicl_phase.analysis import Thresholds
    from gpicl_phase.analysis.report import summary_text

    spec = load(write_spec(tmp_path), smoke=True)  # num_tasks [1, 4] x seed [0, 1]
    reference = tmp_path / "reference.zarr"
    assert run_sweep(spec, reference, progress=False).ok
    path = tmp_path / "s.zarr"
    shutil.copytree(reference, path)
    flipped = path / "eval_acc" / "c" / "0" / "1" / "0" / "0" / "0"  # num_tasks=1 seed=1
    data = bytearray(flipped.read_bytes())
    data[40:80] = bytes(40)  # what the report did: 40 bytes overwritten
    flipped.write_bytes(bytes(data))
    (path / "eval_acc" / "c" / "1" / "0" / "0" / "0" / "0").unlink()  # num_tasks=4 seed=0: a deleted file
    zarr.open_array(path / "status", mode="r+")[1, 1] = 9  # num_tasks=4 seed=1: an unknown status byte

    ds = store.load_results(path)
    assert (ds.status.values == store.STATUS["damaged"]).sum() == 3 and ds.status.values[0, 0] == store.STATUS["done"]
    damaged = "\n".join(ds.attrs["damaged"])
    assert "run num_tasks=1 seed=1: eval_acc checksum mismatch" in damaged
    assert "run num_tasks=4 seed=0: eval_acc chunk file missing" in damaged
    assert "run num_tasks=4 seed=1: status byte 9 is not a status code" in damaged
    text = summary_text(ds, Thresholds())
    assert "DAMAGED runs, excluded" in text and "3 damaged" in text.splitlines()[0]

    assert cli.main(["status", str(path), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "3 damaged run(s)" in err and "run num_tasks=1 seed=1: eval_acc checksum mismatch" in err

    assert run_sweep(spec, path, progress=False).ok  # runs the damaged ones again
    assert store.verify(path) == []
    assert_same_results(store.open_results(path), store.open_results(reference), exact=True)
