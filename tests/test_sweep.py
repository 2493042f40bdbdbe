"""The sweep engine: packed equals one by one, a re-run recomputes nothing, a foreign store is refused."""

import numpy as np
import pytest

from gpicl_phase import store
from gpicl_phase.sweep import load
from gpicl_phase.sweep.runner import SweepError, run_sweep
from sweep_helpers import TINY_SWEEP, assert_same_results, write_spec


@pytest.fixture(autouse=True)
def _jax_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GPICL_PHASE_JAX_CACHE", str(tmp_path_factory.getbasetemp() / "jax-cache"))


def test_packed_sweep_equals_runs_one_by_one(tmp_path):
    spec = load(write_spec(tmp_path))
    packed = run_sweep(spec, tmp_path / "packed.zarr", max_pack=8, progress=False)
    single = run_sweep(spec, tmp_path / "single.zarr", max_pack=1, progress=False)
    assert packed.ok and single.ok and packed.written == {"done": 8, "diverged": 0}
    a, b = store.open_results(tmp_path / "packed.zarr"), store.open_results(tmp_path / "single.zarr")
    assert_same_results(a, b, exact=False)
    assert (a.status.values == store.STATUS["done"]).all()
    # The runs really differ from each other: packing did not collapse them onto one.
    loss = a.train_loss.values.reshape(8, -1)
    assert len({tuple(np.round(r, 6)) for r in loss}) == 8


def test_rerun_skips_everything_and_store_round_trips(tmp_path):
    spec = load(write_spec(tmp_path), smoke=True)
    path = tmp_path / "s.zarr"
    first = run_sweep(spec, path, progress=False)
    before = store.open_results(path).load()
    again = run_sweep(spec, path, progress=False)
    assert first.skipped == 0 and again.skipped == spec.size and again.written == {}
    after = store.open_results(path).load()
    import xarray as xr
    xr.testing.assert_identical(before, after)
    assert store.store_attrs(path)["spec"] == spec.to_json()
    coords = {a.name: list(a.values) for a in spec.axes}
    assert after.num_tasks.values.tolist() == coords["num_tasks"]


def test_store_of_another_spec_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "s.zarr"
    run_sweep(load(write_spec(tmp_path), smoke=True), path, progress=False)
    before = store.open_results(path).load()
    other = load(write_spec(tmp_path, (tmp_path / "tiny.toml").read_text().replace("steps = 10", "steps = 20")),
                 smoke=True)
    with pytest.raises(SweepError, match=r"different sweep spec(.|\n)*\"steps\": 20"):
        run_sweep(other, path, progress=False)
    import xarray as xr
    xr.testing.assert_identical(before, store.open_results(path).load())


def test_a_failing_chunk_is_recorded_and_the_rest_still_runs(tmp_path, monkeypatch):
    from gpicl_phase.sweep import execute

    spec = load(write_spec(tmp_path), smoke=True)
    real = execute.train_chunk

    def flaky(chunk, *args, **kwargs):
        if chunk.configs[0].num_tasks == 4:
            raise MemoryError("pretend the device ran out of memory")
        return real(chunk, *args, **kwargs)

    monkeypatch.setattr(execute, "train_chunk", flaky)
    path = tmp_path / "s.zarr"
    summary = run_sweep(spec, path, max_pack=2, progress=False)
    assert not summary.ok and summary.written == {"done": 2, "diverged": 0, "failed": 2}
    ds = store.open_results(path)
    failed = ds.status.sel(num_tasks=4).values
    assert (failed == store.STATUS["failed"]).all()
    assert "pretend the device ran out of memory" in str(ds.message.sel(num_tasks=4).values[0])
    monkeypatch.setattr(execute, "train_chunk", real)
    retry = run_sweep(spec, path, max_pack=2, progress=False)
    assert retry.ok and retry.written == {"done": 2, "diverged": 0} and retry.skipped == 2


def test_dry_run_prints_the_plan_traces_and_writes_nothing(tmp_path, capsys):
    from gpicl_phase import cli

    spec_path = write_spec(tmp_path)
    assert cli.main(["sweep", str(spec_path), "--dry-run", "--max-pack", "3"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 8 runs" in out and "ok: 3 chunks in 1 compiled program group(s)" in out
    assert "   3/3 " in out and "   2/3 " in out  # 8 runs packed 3, 3, 2 (the last padded to 3)
    # Each chunk banks the tasks its own runs draw (num_tasks up to 4, 16, 64): a program per bank size.
    assert [line.split("bank of ")[1].split()[0] for line in out.splitlines() if "bank of" in line] == ["4", "16", "64"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]
    assert cli.main(["sweep", str(spec_path)]) == 2  # no --store and no --dry-run
    assert "--store is required" in capsys.readouterr().err


def test_dry_run_names_the_group_whose_program_does_not_trace(tmp_path, monkeypatch):
    from gpicl_phase import models
    from gpicl_phase.sweep.dry_run import check_sweep

    def broken(cfg, params, tokens, engine):
        raise ValueError("shapes do not fit")

    real = models.MODELS["transformer"]
    monkeypatch.setitem(models.MODELS, "transformer", real._replace(apply=broken))
    # d_model 12: a shape no other test compiles, so no cached program hides the broken model.
    spec = load(write_spec(tmp_path, TINY_SWEEP.replace("d_model = 8", "d_model = 12")))
    with pytest.raises(SweepError, match="group 0 .*d_model=12.*ValueError: shapes do not fit"):
        check_sweep(spec)
