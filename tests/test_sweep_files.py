"""Every committed sweep file states its question, command, cost and expectation, validates, and its smoke
variant runs end to end."""

from pathlib import Path

import pytest

from gpicl_phase import store
from gpicl_phase.sweep import load
from gpicl_phase.sweep.runner import run_sweep

FILES = sorted((Path(__file__).resolve().parents[1] / "sweeps").glob("*.toml"))


def test_there_are_sweep_files():
    names = {f.stem for f in FILES}
    assert {"smoke", "demo", "cpu_phase", "cpu_generalize"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_header_and_validation(path):
    head = path.read_text().split("\nname")[0]
    for word in ("# Question:", "Command:", "Cost:", "Expect:"):
        assert word in head, f"{path.name}: the opening comment must state {word!r}"
    full, smoke = load(path), load(path, smoke=True)
    assert smoke.size <= full.size


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_smoke_variant_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("GPICL_PHASE_JAX_CACHE", str(tmp_path.parent / "jax-cache"))
    spec = load(path, smoke=True)
    summary = run_sweep(spec, tmp_path / "s.zarr", progress=False)
    assert summary.ok, summary.failures
    status = store.read_status(tmp_path / "s.zarr")
    assert ((status == store.STATUS["done"]) | (status == store.STATUS["diverged"])).all()
