"""Pack sizes chosen by throughput: a fake cost model for the choice, the real probe once, the store's record."""

import math

import pytest

from gpicl_phase.sweep.pack_probe import choose_pack, probe


def _calls(cost):
    seen = []

    def seconds(p):
        seen.append(p)
        return cost(p)

    return seconds, seen


def test_overhead_bound_runs_pack_up_to_memory():
    seconds, seen = _calls(lambda p: 1.0 + 0.001 * p)  # launch overhead dominates: packing is almost free
    assert choose_pack(64, seconds) == 64
    assert seen == [1, 2, 4, 8, 16, 32, 64]


def test_compute_bound_runs_do_not_pack_and_big_packs_are_never_timed():
    seconds, seen = _calls(lambda p: 0.01 + 1.0 * p)  # one run fills the device
    assert choose_pack(64, seconds) == 1
    assert seen == [1, 2]


def test_the_pack_stops_where_doubling_stops_paying():
    # Throughput p / (2 + p): 2 -> 4 buys 1.33x, 4 -> 8 1.2x, 8 -> 16 1.11x, 16 -> 32 1.06x (< 1.1).
    assert choose_pack(1024, lambda p: 2.0 + p) == 16
    # A cliff (memory thrashing past 8 runs): the pack stays below it.
    assert choose_pack(1024, lambda p: 1.0 + 0.01 * p if p <= 8 else 10.0 * p) == 8


@pytest.mark.parametrize("cost", [lambda p: 1 + p, lambda p: 0.5 * p ** 1.3, lambda p: 3.0, lambda p: p ** 0.5])
def test_never_slower_per_run_step_than_one_by_one(cost):
    size = choose_pack(256, cost)
    assert size & (size - 1) == 0 and size <= 256
    assert size / cost(size) >= 1 / cost(1) - 1e-12


def test_memory_caps_the_pack_and_a_cap_of_one_times_only_one():
    seconds, seen = _calls(lambda p: 1.0)
    assert choose_pack(5, seconds) == 4  # powers of two, within the memory cap
    seconds, seen = _calls(lambda p: 1.0)
    assert choose_pack(1, seconds) == 1 and seen == [1]


def test_the_real_probe_times_the_sweeps_chunk_program(tiny_cfg):
    from gpicl_phase import driver

    static = tiny_cfg.replace(num_layers=1, steps=10, eval_every=5).static_part()
    lines = []
    seconds = probe(static, driver.resolve(None), repeats=1, log=lines.append)
    one = seconds(1)  # a pack of one: the smallest program a sweep compiles for this group
    assert 0 < one < 60 and math.isfinite(one)
    assert len(lines) == 1 and "run-steps/s" in lines[0]


def test_a_probed_store_records_its_sizes_and_engine_and_a_resume_keeps_them(tmp_path, monkeypatch, capsys):
    from sweep_helpers import write_spec

    from gpicl_phase import store
    from gpicl_phase.engine import Engine
    from gpicl_phase.sweep import load, pack_probe
    from gpicl_phase.sweep.runner import run_sweep, sweep_plan, work_engine

    # Throughput that stops growing past 2 runs; the real probe is tested above.
    monkeypatch.setattr(pack_probe, "probe", lambda static, engine, log=None: lambda p: 1.0 if p <= 2 else p / 2)
    spec = load(write_spec(tmp_path), smoke=True)  # 4 cells, one program group
    path = str(tmp_path / "s.zarr")
    chosen = Engine(attention="xla", unroll_layers=False)
    run_sweep(spec, path, progress=False, probe_pack=True, engine=chosen)
    pack = store.store_attrs(path)["pack"]
    assert list(pack["probed"].values()) == [2] and work_engine(pack) == chosen
    _, chunks = sweep_plan(spec, path, pack)
    assert [c.size for c in chunks] == [2, 2]
    before = store.load_results(path)
    assert (before["status"] == store.STATUS["done"]).all()
    run_sweep(spec, path, progress=False, engine=Engine(precision="bfloat16"))  # a resume: nothing to do
    assert "keeping the store's" in capsys.readouterr().err
    assert store.store_attrs(path)["pack"] == pack
    assert work_engine({"budget_bytes": 1, "max_pack": None}) is None  # stores from before: the backend's choice
