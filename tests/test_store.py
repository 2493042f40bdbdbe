"""The results store: round trips, attributes, concurrent writers, and readable errors for bad stores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
import zarr

from gpicl_phase import __version__, store, testing
from gpicl_phase.store import StoreError

AXES = {"arch": ["transformer", "lstm"], "lr": [1e-3, 3e-4], "seed": [0, 1, 2]}
ATTRS = {
    "spec": json.dumps({"axes": {"seed": [0, 1, 2]}, "note": "ünïcode"}),
    "base_config": json.dumps({"d_model": 16}),
    "num_classes": 10,
    "nested": {"a": [1, 2.5, None, True], "b": {"c": "d"}},
    "created": "2026-01-01T00:00:00+00:00",
}
CFG = {"cfg_model": {"dims": ["arch"], "values": ["transformer", "lstm"]}}


def make(path, **over):
    """A small store: 2 x 2 x 3 runs, 4 log steps, 3 eval steps, 2 streams, 5 positions."""
    kwargs = dict(axes=AXES, log_steps=[10, 20, 30, 40], eval_steps=[0, 20, 40], streams=["seen", "unseen"],
                  seq_len=5, attrs=ATTRS, cell_coords=CFG)  # fmt: skip
    store.create(path, **(kwargs | over))
    return path


def cell_values(i: int) -> dict:
    """Distinct values for one cell; eval arrays one eval step and one position short, to exercise padding."""
    return dict(
        train_loss=np.arange(4, dtype=np.float32) + i,
        grad_norm=np.arange(3, dtype=np.float32) * i,
        eval_acc=np.full((2, 2, 4), 0.1 * i, dtype=np.float32),
        eval_loss=np.full((3, 2, 5), i, dtype=np.float32),
        param_count=100 + i,
        state_size=10 * i,
        wall_time=1.5 * i,
        steps_trained=40,
        max_steps=60,
        stop_reason=2,
        status="done",
        diverged_step=-1,
        message=f"cell {i}",
    )


def expected_dataset(cells: dict[tuple[int, int, int], dict]) -> xr.Dataset:
    """The Dataset a store with `cells` written must read back as, built without the store."""
    shape = (2, 2, 3)
    dims = list(AXES)
    data = {name: np.full(shape + s, fill, dtype) for name, s, dtype, fill in [
        ("train_loss", (4,), np.float32, np.nan), ("grad_norm", (4,), np.float32, np.nan),
        ("eval_acc", (3, 2, 5), np.float32, np.nan), ("eval_loss", (3, 2, 5), np.float32, np.nan),
        ("param_count", (), np.int64, -1), ("state_size", (), np.int64, -1), ("wall_time", (), np.float64, np.nan),
        ("steps_trained", (), np.int64, -1), ("max_steps", (), np.int64, -1), ("stop_reason", (), np.int8, 0),
        ("round", (), np.int16, 0), ("status", (), np.int8, 0), ("diverged_step", (), np.int64, -1),
        ("message", (), "<U16", ""),
    ]}  # fmt: skip
    for cell, values in cells.items():
        for name, value in values.items():
            value = store.STATUS[value] if name == "status" else np.asarray(value)
            data[name][cell + tuple(slice(0, n) for n in np.shape(value))] = value
    trailing = {"train_loss": ["log_step"], "grad_norm": ["log_step"], "eval_acc": ["eval_step", "stream", "position"],
                "eval_loss": ["eval_step", "stream", "position"]}  # fmt: skip
    ds = xr.Dataset(
        {name: (dims + trailing.get(name, []), values) for name, values in data.items()},
        coords={**AXES, "log_step": [10, 20, 30, 40], "eval_step": [0, 20, 40], "stream": ["seen", "unseen"],
                "position": np.arange(5), "cfg_model": ("arch", ["transformer", "lstm"])},  # fmt: skip
        attrs={"package_version": __version__, **ATTRS, "schema_version": store.SCHEMA_VERSION},
    )
    for name, (_, _, _, meaning) in store.VARIABLES.items():
        ds[name].attrs["long_name"] = meaning
    ds["status"].attrs |= {"flag_values": [0, 1, 2, 3, 4, 5, 6],
                           "flag_meanings": "pending running done diverged failed skipped damaged"}
    ds["stop_reason"].attrs |= {"flag_values": [0, 1, 2, 3, 4],
                                "flag_meanings": "none budget settled stalled diverged"}
    ds = ds[list(store.VARIABLES)]
    return ds


def test_round_trip_create_write_open(tmp_path):
    path = make(tmp_path / "s.zarr")
    written = {(0, 0, 0): cell_values(1), (1, 1, 2): cell_values(2)}
    for (a, b, c), values in written.items():
        store.write_cell(path, {"arch": a, "lr": b, "seed": c}, **values)
    store.set_status(path, [{"arch": 0, "lr": 1, "seed": 0}], "failed", "boom")
    written[(0, 1, 0)] = {"status": "failed", "message": "boom"}

    want = expected_dataset(written)
    xr.testing.assert_identical(store.open_results(path).load(), want)
    loaded = store.load_results(path)
    xr.testing.assert_identical(loaded, want)
    for name in store.VARIABLES:  # identical() ignores dtypes; the schema does not
        assert loaded[name].dtype == want[name].dtype or name == "message", name
    assert loaded["lr"].dtype == np.float64 and loaded["seed"].dtype == np.int64 and loaded["arch"].dtype.kind == "U"
    assert store.read_status(path).tolist() == want["status"].values.tolist()


def test_attrs_read_back_identically_and_bad_attrs_refused(tmp_path):
    path = make(tmp_path / "s.zarr")
    attrs = store.store_attrs(path)
    assert {k: attrs[k] for k in ATTRS} == ATTRS and attrs["schema_version"] == store.SCHEMA_VERSION
    assert store.open_results(path).attrs == attrs
    for bad in ({"t": (1, 2)}, {"x": np.float32(1.0)}, {"nan": float("nan")}, {"d": {1: "a"}}):
        with pytest.raises(StoreError, match="read back identically"):
            make(tmp_path / "bad.zarr", attrs=bad)
    assert not (tmp_path / "bad.zarr").exists()


def test_synthetic_store_round_trips(tmp_path):
    ds = testing.synthetic_store(tmp_path / "syn.zarr", d_models=(16,), num_tasks=(1, 64, 4096), nan_runs=0.2,
                                 missing=0.2, failed=0.2)  # fmt: skip
    xr.testing.assert_identical(store.open_results(tmp_path / "syn.zarr").load(), ds)
    xr.testing.assert_identical(store.load_results(tmp_path / "syn.zarr"), ds)


def test_create_refuses_to_overwrite_and_checks_its_arguments(tmp_path):
    path = make(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match="refusing to overwrite"):
        make(path)
    with pytest.raises(StoreError, match="unique"):
        make(tmp_path / "b.zarr", axes={"seed": [0, 0]})
    with pytest.raises(StoreError, match="shape"):
        make(tmp_path / "c.zarr", cell_coords={"cfg_model": {"dims": ["arch"], "values": ["x"]}})
    with pytest.raises(StoreError, match="cfg_"):
        make(tmp_path / "d.zarr", cell_coords={"model": {"dims": ["arch"], "values": ["x", "y"]}})


def test_write_cell_validates_index_shapes_and_status(tmp_path):
    path = make(tmp_path / "s.zarr")
    ok = cell_values(1)
    with pytest.raises(StoreError, match="exactly the axes"):
        store.write_cell(path, {"arch": 0, "lr": 0}, **ok)
    with pytest.raises(StoreError, match=r"seed=3"):
        store.write_cell(path, {"arch": 0, "lr": 0, "seed": 3}, **ok)
    with pytest.raises(StoreError, match="log_step has 5"):
        store.write_cell(path, {"arch": 0, "lr": 0, "seed": 0}, **(ok | {"train_loss": np.zeros(5)}))
    with pytest.raises(StoreError, match="stream has 1"):
        store.write_cell(path, {"arch": 0, "lr": 0, "seed": 0}, **(ok | {"eval_acc": np.zeros((3, 1, 5))}))
    with pytest.raises(StoreError, match="status must be"):
        store.write_cell(path, {"arch": 0, "lr": 0, "seed": 0}, **(ok | {"status": "finished"}))
    assert (store.read_status(path) == 0).all()  # nothing half-written


def test_messages_are_capped_and_pending_resets(tmp_path):
    path = make(tmp_path / "s.zarr")
    where = {"arch": 1, "lr": 0, "seed": 1}
    store.write_cell(path, where, **(cell_values(3) | {"message": "x" * 1000, "status": "diverged"}))
    assert len(store.open_results(path)["message"].values[1, 0, 1]) == store.MESSAGE_CHARS
    assert store.read_status(path)[1, 0, 1] == store.STATUS["diverged"]
    store.set_status(path, [where], "pending")
    assert (store.read_status(path) == 0).all()
    assert store.load_results(path)["message"].values[1, 0, 1] == ""


def test_read_status_fast_path_matches_zarr(tmp_path):
    path = make(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(2, 2, 3))
    for cell in np.ndindex(codes.shape):
        store.set_status(path, [dict(zip(AXES, cell))], int(codes[cell]))
    assert store.read_status(path).tolist() == codes.tolist()
    assert np.asarray(zarr.open_array(tmp_path / "s.zarr" / "status", mode="r")[...]).tolist() == codes.tolist()


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from gpicl_phase import store
    path, arch = sys.argv[1], int(sys.argv[2])
    for lr in range(2):
        for seed in range(3):
            i = 10 * arch + 3 * lr + seed
            store.write_cell(path, {"arch": arch, "lr": lr, "seed": seed}, train_loss=np.full(4, i),
                             grad_norm=np.ones(4), eval_acc=np.full((3, 2, 5), i), eval_loss=np.ones((3, 2, 5)),
                             param_count=i, state_size=i, wall_time=i, status="done", message=f"w{i}")
""")


def test_concurrent_writers_lose_nothing(tmp_path):
    path = make(tmp_path / "s.zarr")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(a)]) for a in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    ds = store.load_results(path)
    i = 10 * np.arange(2)[:, None, None] + 3 * np.arange(2)[None, :, None] + np.arange(3)
    assert (ds["status"].values == store.STATUS["done"]).all()
    assert (ds["param_count"].values == i).all()
    assert (ds["train_loss"].values == i[..., None]).all()
    assert (ds["eval_acc"].values == i[..., None, None, None]).all()
    assert ds["message"].values.tolist() == np.char.add("w", i.astype(str)).tolist()


def test_bad_stores_raise_readable_store_errors(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        store.open_results(tmp_path / "nope.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a Zarr v3 results store"):
        store.open_results(tmp_path / "plain")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / ".zgroup").write_text('{"zarr_format": 2}')
    with pytest.raises(StoreError, match="Zarr v2"):
        store.read_status(tmp_path / "v2")
    zarr.create_group(tmp_path / "other.zarr", zarr_format=3)
    with pytest.raises(StoreError, match="not a gpicl-phase results store"):
        store.open_results(tmp_path / "other.zarr")

    path = make(tmp_path / "s.zarr")
    meta = path / "zarr.json"
    original = json.loads(meta.read_text())
    for version, words in ((0, "older"), (store.SCHEMA_VERSION + 1, "newer")):
        meta.write_text(json.dumps(original | {"attributes": original["attributes"] | {"schema_version": version}}))
        with pytest.raises(StoreError, match=f"schema_version {version}, written by an? {words}"):
            store.open_results(path)
    meta.write_text(json.dumps(original | {"attributes": original["attributes"] | {"schema_version": 1}}))
    with pytest.raises(StoreError, match="older gpicl-phase.*can be read"):
        store.write_cell(path, {"arch": 0, "lr": 0, "seed": 0}, **cell_values(1))
    meta.write_text(json.dumps(original))
    shutil.rmtree(path / "eval_loss")
    with pytest.raises(StoreError, match="lacks the variable.*eval_loss"):
        store.open_results(path)


# eval_acc chunks of 65,536 B (exactly one 64 KiB read, then an empty one), 65,600 B and 320,000 B.
@pytest.mark.parametrize("eval_steps,seq_len", [(64, 64), (41, 100), (200, 100)])
def test_load_results_reads_chunks_larger_than_one_read(tmp_path, eval_steps, seq_len):
    # chunk_files.read_all reads 64 KiB at a time; eval_acc chunks of real sweeps can be larger.
    path = tmp_path / "big.zarr"
    store.create(path, axes={"seed": [0, 1]}, log_steps=[10], eval_steps=list(range(eval_steps)),
                 streams=["seen", "unseen", "a", "b"], seq_len=seq_len, attrs={})
    rng = np.random.default_rng(eval_steps)
    acc = rng.random((eval_steps, 4, seq_len), dtype=np.float32)
    store.write_cell(path, {"seed": 1}, train_loss=[1.0], grad_norm=[1.0], eval_acc=acc, eval_loss=acc,
                     param_count=1, state_size=1, wall_time=1.0, status="done")
    raw = store.fast_read.read(path, store.open_group(path, mode="r"), "eval_acc")
    assert raw is not None, "the fast reader fell back to Zarr, so this test would not test it"
    loaded = store.load_results(path, ["eval_acc", "status"])
    np.testing.assert_array_equal(loaded["eval_acc"].values[1], acc)
    assert np.isnan(loaded["eval_acc"].values[0]).all() and loaded["status"].values.tolist() == [0, 2]
