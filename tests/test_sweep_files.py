"""Every committed sweep file states its question, command, cost and expectation, validates, and every
program it would compile traces (full and smoke variants); the smoke variants of two files run end to end."""

from pathlib import Path

import pytest

from gpicl_phase import store
from gpicl_phase.sweep import load
from gpicl_phase.sweep.dry_run import check_sweep
from gpicl_phase.sweep.runner import run_sweep

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
FILES = sorted(SWEEPS.glob("*.toml"))


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


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_program_of_the_file_traces(path):
    # The full file and its smoke variant: plan, then trace every distinct program (no compile, no training).
    for smoke in (False, True):
        planned = check_sweep(load(path, smoke=smoke))
        assert sum(c.runs for c in planned) == load(path, smoke=smoke).size


# End to end through run_sweep for the learners that differ most (SGD, LSTM, Transformer) and the default
# sweep; every other file's programs are traced above, and tests/test_sweep*.py run sweeps end to end.
END_TO_END = ("smoke", "paper_table1")


@pytest.mark.slow
@pytest.mark.parametrize("name", END_TO_END)
def test_smoke_variant_runs(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GPICL_PHASE_JAX_CACHE", str(tmp_path.parent / "jax-cache"))
    spec = load(SWEEPS / f"{name}.toml", smoke=True)
    summary = run_sweep(spec, tmp_path / "s.zarr", progress=False)
    assert summary.ok, summary.failures
    status = store.read_status(tmp_path / "s.zarr")
    assert ((status == store.STATUS["done"]) | (status == store.STATUS["diverged"])).all()
