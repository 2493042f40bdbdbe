"""Both readers of whole variables agree: the fast chunk-file reader (for the Zarr releases it was tested with)
and Zarr's public API (any other release). Same Dataset, same damaged runs in the same words, same strings,
schema-1 stores too; and the typed base config (`store.read_config`)."""

from __future__ import annotations

import json
import shutil

import google_crc32c
import numpy as np
import pytest
import xarray as xr
import zarr

from gpicl_phase import store, testing
from gpicl_phase.config import RunConfig
from gpicl_phase.store import StoreError, fast_read


@pytest.fixture(params=["fast", "zarr"])
def reader(request, monkeypatch):
    """Which reader load_results/read_status use: "zarr" is what an untested Zarr release gets."""
    monkeypatch.delenv(fast_read.READER_ENV, raising=False)
    if request.param == "zarr":
        monkeypatch.setattr(zarr, "__version__", "99.0.0")  # through the real version gate
    assert fast_read.usable() == (request.param == "fast"), f"zarr {zarr.__version__} is not in ZARR_TESTED"
    return request.param


def both(fn, monkeypatch):
    """fn() with the fast reader and with Zarr's public API."""
    with monkeypatch.context() as m:
        m.delenv(fast_read.READER_ENV, raising=False)
        assert fast_read.usable(), f"zarr {zarr.__version__} is not in ZARR_TESTED"
        fast = fn()
        m.setenv(fast_read.READER_ENV, "zarr")
        assert not fast_read.usable()
        public = fn()
    return fast, public


def synthetic(path, **kw):
    return testing.synthetic_store(path, d_models=(16, 32), num_tasks=(1, 16, 256, 4096), seeds=(0, 1, 2),
                                   nan_runs=0.2, missing=0.2, failed=0.1, steps=400, eval_every=100, log_every=20,
                                   seq_len=8, **kw)  # fmt: skip


def test_the_version_gate():
    low, high = fast_read.ZARR_TESTED
    assert fast_read.usable(".".join(map(str, low))) and not fast_read.usable(".".join(map(str, high)))
    assert fast_read.version_tuple("3.1.6") == (3, 1, 6) and fast_read.version_tuple("3.2.0rc1") == (3, 2, 0)
    assert fast_read.version_tuple("3.1.6.dev12+g1234") == (3, 1, 6) and fast_read.version_tuple("x") == ()
    assert not fast_read.usable("2.18.3") and not fast_read.usable("4.0.0") and not fast_read.usable("")


def test_the_environment_turns_the_fast_reader_off(monkeypatch):
    monkeypatch.setenv(fast_read.READER_ENV, "zarr")
    assert not fast_read.usable(".".join(map(str, fast_read.ZARR_TESTED[0])))


def test_both_readers_read_the_same_dataset(tmp_path, reader):
    path = tmp_path / "s.zarr"
    ds = synthetic(path)
    assert (ds["message"].values != "").any() and (ds["status"].values == 0).any(), "messages and missing runs"
    store.write_cell(path, {"d_model": 0, "num_tasks": 0, "seed": 0}, train_loss=[1.0], grad_norm=[1.0],
                     eval_acc=np.ones((1, 4, 8)), eval_loss=np.ones((1, 4, 8)), param_count=1, state_size=1,
                     wall_time=1.0, status="failed", message="ünïcode ✓ — boom\nline two")  # fmt: skip
    want = store.open_results(path).load()  # xarray over Zarr: the reference for both
    assert want["message"].values[0, 0, 0] == "ünïcode ✓ — boom\nline two"
    got = store.load_results(path)
    xr.testing.assert_identical(got, want)
    assert got["message"].values.tolist() == want["message"].values.tolist()
    for name in store.VARIABLES:
        assert got[name].dtype == want[name].dtype, name
    xr.testing.assert_identical(store.load_results(path, ["eval_acc", "train_loss"]), want[["eval_acc", "train_loss"]])
    assert store.read_status(path).tolist() == want["status"].values.tolist()
    assert store.verify(path) == []


def _flip(file, at=-6):
    data = bytearray(file.read_bytes())
    data[at] ^= 0xFF
    file.write_bytes(bytes(data))


def damage(path):
    """Damage runs in every way a reader must report; their disk cells (d_model, num_tasks, seed)."""
    _flip(path / "eval_acc" / "c" / "0" / "1" / "1" / "0" / "0" / "0")  # (0, 1, 1), done: a checksum
    _flip(path / "train_loss" / "c" / "0" / "1" / "1" / "0")  # (0, 1, 1) again: a second problem
    _flip(path / "message" / "c" / "0" / "0" / "1")  # (0, 0, 1), diverged: a string chunk's checksum
    _flip(path / "wall_time" / "c" / "1" / "3" / "2", at=0)  # (1, 3, 2), done
    zarr.open_array(path / "status", mode="r+")[1, 2, 1] = 9  # (1, 2, 1): no status code
    (path / "eval_acc" / "c" / "0" / "3" / "1" / "0" / "0" / "0").unlink()  # (0, 3, 1): done, meta-tests gone
    return {(0, 1, 1), (0, 0, 1), (1, 3, 2), (1, 2, 1), (0, 3, 1)}


def test_both_readers_report_the_same_damaged_runs_in_the_same_words(tmp_path, monkeypatch):
    path = tmp_path / "s.zarr"
    synthetic(path)
    cells = damage(path)
    fast, public = both(lambda: store.load_results(path), monkeypatch)
    xr.testing.assert_identical(fast, public)
    words = "\n".join(public.attrs["damaged"])
    for problem in ("train_loss checksum mismatch; eval_acc checksum mismatch", "message checksum mismatch",
                    "wall_time checksum mismatch", "status byte 9 is not a status code", "eval_acc chunk file missing"):
        assert problem in words
    damaged = public["status"].values == store.STATUS["damaged"]
    assert {tuple(map(int, c)) for c in zip(*np.nonzero(damaged))} == cells  # no extended axes: disk order
    assert np.isnan(public["eval_acc"].values[0, 1, 1]).all() and public["message"].values[0, 0, 1] == ""

    fast, public = both(lambda: store.verify(path), monkeypatch)
    assert fast == public and {c for c, _ in public} == cells
    fast, public = both(lambda: store.load_results(path, ["wall_time", "message"]), monkeypatch)
    xr.testing.assert_identical(fast, public)

    _flip(path / "status" / "c" / "0" / "0" / "0", at=0)  # a damaged status chunk: read_status polls, never raises
    fast, public = both(lambda: store.read_status(path), monkeypatch)
    assert fast.tolist() == public.tolist() and public[0, 0, 0] == store.STATUS["pending"]


def test_a_chunk_of_the_wrong_length_is_a_damaged_run_for_both(tmp_path, monkeypatch):
    path = tmp_path / "s.zarr"
    synthetic(path)
    short = b"\0" * 6  # a valid checksum over the wrong number of bytes
    (path / "train_loss" / "c" / "1" / "1" / "1" / "0").write_bytes(short + google_crc32c.value(short).to_bytes(4, "little"))
    fast, public = both(lambda: store.verify(path), monkeypatch)
    assert [c for c, _ in fast] == [c for c, _ in public] == [(1, 1, 1)]
    assert "train_loss chunk file has 6 bytes" in fast[0][1] and "train_loss chunk unreadable" in public[0][1]
    fast, public = both(lambda: store.read_status(path), monkeypatch)
    assert fast.tolist() == public.tolist()


def test_schema_1_stores_read_alike(tmp_path, reader):
    path = tmp_path / "old.zarr"
    ds = synthetic(path)
    for name in ("steps_trained", "max_steps", "stop_reason", "round"):  # what schema 1 lacked
        shutil.rmtree(path / name)
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["schema_version"] = 1
    (path / "zarr.json").write_text(json.dumps(meta))
    got = store.load_results(path)
    xr.testing.assert_identical(got, store.open_results(path).load())
    finished = np.isin(ds["status"].values, store.FINISHED)
    assert (got["steps_trained"].values == np.where(finished, 400, -1)).all() and (got["max_steps"] == 400).all()
    assert store.verify(path) == []


# --- the typed base config ---------------------------------------------------------------------------------


def small(path, base_config=None, **attrs):
    if base_config is not None:
        attrs["base_config"] = base_config
    store.create(path, axes={"seed": [0]}, log_steps=[10], eval_steps=[0], streams=["seen"], seq_len=2, attrs=attrs)
    return path


def test_read_config_returns_the_sweeps_base_config(tmp_path):
    cfg = RunConfig(model="lstm", d_model=64, steps=300, eval_every=100, eval_datasets=("random", "mnist"))
    path = small(tmp_path / "s.zarr", cfg.to_json())
    assert store.read_config(path) == cfg
    assert store.config_from_attrs(store.open_results(path).attrs) == cfg


def test_read_config_fills_missing_fields_and_ignores_unknown_ones(tmp_path):
    # A store written before max_steps and bias existed, and after some field since removed.
    old = json.loads(RunConfig(d_model=32).to_json())
    del old["max_steps"], old["bias"]
    old["retired_field"] = 3
    cfg = store.read_config(small(tmp_path / "s.zarr", json.dumps(old)))
    assert cfg == RunConfig(d_model=32)
    assert store.config_from_attrs({"base_config": json.dumps({"d_model": 16})}) == RunConfig(d_model=16)
    assert store.config_from_attrs({"base_config": {"d_model": 16}}) == RunConfig(d_model=16)  # already parsed


def test_read_config_errors_name_the_store_and_the_problem(tmp_path):
    with pytest.raises(StoreError, match="no base_config attribute"):
        store.read_config(small(tmp_path / "a.zarr"))
    with pytest.raises(StoreError, match="b.zarr: base_config is not JSON"):
        store.read_config(small(tmp_path / "b.zarr", "{not json"))
    with pytest.raises(StoreError, match="not an object of config fields"):
        store.read_config(small(tmp_path / "c.zarr", "[1, 2]"))
    with pytest.raises(StoreError, match="not a valid run config: d_model: must be positive"):
        store.read_config(small(tmp_path / "d.zarr", json.dumps({"d_model": -1})))
    with pytest.raises(StoreError, match="model: 'gru' is not one of"):
        store.read_config(small(tmp_path / "e.zarr", json.dumps({"model": "gru"})))
    with pytest.raises(StoreError, match="does not exist"):
        store.read_config(tmp_path / "nope.zarr")


def test_synthetic_stores_have_a_valid_base_config(tmp_path):
    ds = synthetic(None)
    cfg = store.config_from_attrs(ds.attrs)
    assert (cfg.steps, cfg.eval_every, cfg.seq_len, cfg.eval_datasets) == (400, 100, 8, ("fashion_mnist",))
