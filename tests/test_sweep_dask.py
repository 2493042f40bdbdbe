"""The Dask executor, on a real LocalCluster of two worker processes, writes what the local one writes."""

import pytest

from gpicl_phase import store
from gpicl_phase.sweep import load
from gpicl_phase.sweep.runner import run_sweep
from sweep_helpers import assert_same_results, write_spec

pytestmark = pytest.mark.slow


def test_dask_local_cluster_equals_local_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("GPICL_PHASE_JAX_CACHE", str(tmp_path / "jax-cache"))
    spec = load(write_spec(tmp_path))
    local = run_sweep(spec, tmp_path / "local.zarr", max_pack=2, progress=False)
    dask = run_sweep(spec, tmp_path / "dask.zarr", max_pack=2, executor="dask", workers=2, progress=False)
    assert local.ok and dask.ok and dask.written == local.written
    assert_same_results(store.open_results(tmp_path / "local.zarr"), store.open_results(tmp_path / "dask.zarr"))
