"""Malformed input at the command line: each case exits non-zero with one line that names the problem, no
traceback, and nothing written. One table, so a new refusal is one row."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gpicl_phase import cli
from gpicl_phase.figures import phase
from gpicl_phase.figures.source import Source
from gpicl_phase.testing import synthetic_store
from sweep_helpers import TINY_SWEEP

# Sweep files, by name: TINY_SWEEP with one change each.
TINY_WITH_SMOKE = TINY_SWEEP
SPECS = {
    "ok": TINY_SWEEP,
    "not_toml": "name = \n[base",
    "unknown_top": TINY_SWEEP + "\n[extra]\nx = 1\n",
    "unknown_field": TINY_SWEEP.replace("d_model = 8", "d_model = 8\nwidth = 3"),
    "bad_type": TINY_SWEEP.replace("d_model = 8", 'd_model = "wide"'),
    "zero_steps": TINY_SWEEP.replace("steps = 10", "steps = 0"),
    "negative_lr": TINY_SWEEP.replace("d_model = 8", "d_model = 8\nlearning_rate = -0.1"),
    "one_class": TINY_SWEEP.replace("d_model = 8", "d_model = 8\nnum_classes = 1"),
    "unknown_axis": TINY_SWEEP.replace("seed = [0, 1]", "seed = [0, 1]\nwidth = [1, 2]"),
    "empty_axis": TINY_SWEEP.replace("seed = [0, 1]", "seed = []"),
    "duplicate_value": TINY_SWEEP.replace("seed = [0, 1]", "seed = [0, 0]"),
    "bad_range": TINY_SWEEP.replace("num_tasks = [1, 4, 16, 64]", 'num_tasks = "2^a..2^3"'),
    "range_down": TINY_SWEEP.replace("num_tasks = [1, 4, 16, 64]", 'num_tasks = "2^5..2^1"'),
    "range_too_far": TINY_SWEEP.replace("num_tasks = [1, 4, 16, 64]", 'num_tasks = "2^0..2^4000"'),
    "axis_in_base_and_axes": TINY_SWEEP.replace("d_model = 8", "d_model = 8").replace(
        "seed = [0, 1]", "seed = [0, 1]\nd_model = [8, 8]"),
    "max_below_steps": TINY_SWEEP + "\n[adaptive]\nmax_steps = 5\n",
    "adaptive_unknown": TINY_SWEEP + "\n[adaptive]\npatience_x = 2\n",
    "refine_zero": TINY_SWEEP + "\n[refine]\nresolution = 0\n",
    "refine_non_numeric": TINY_SWEEP + "\n[refine]\naxes = [\"batch_size\"]\n",
    "threshold_unknown": TINY_SWEEP + "\n[thresholds]\nimprovment = 0.1\n",
    "preset_stream": TINY_SWEEP + "\n[axes.stream]\na = { d_model = 8 }\nb = { d_model = 16 }\n",
    "preset_status": TINY_SWEEP + "\n[axes.status]\na = { d_model = 8 }\n",
    "preset_path": TINY_SWEEP + '\n[axes."../../evil"]\na = { d_model = 8 }\n',
    "preset_field_name": TINY_SWEEP + "\n[axes.d_model]\na = { num_layers = 1 }\n",
    "huge_grid": TINY_SWEEP.replace("num_tasks = [1, 4, 16, 64]\nseed = [0, 1]", "\n".join(
        f"{name} = {list(range(1, 1025))}" for name in ("num_tasks", "seed", "batch_size", "eval_batch"))),
    "huge_model": TINY_SWEEP.replace("d_model = 8", "d_model = 9223372036854775807"),
    "missing_dataset": TINY_SWEEP.replace("d_model = 8", 'd_model = 8\ndataset = "nowhere/digits.npz"'),
    "smoke_missing": TINY_SWEEP.split("[smoke]")[0],
}


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    says: str  # a fragment of the one-line message
    code: int = 2


def S(name: str, *extra: str, store: str = "new.zarr") -> tuple[str, ...]:
    return ("sweep", f"{name}.toml", "--store", store, *extra)


CASES = {
    # sweep files
    "spec missing": Case(("sweep", "nope.toml", "--store", "new.zarr"), "no such sweep file"),
    "spec is a directory": Case(("sweep", "adir", "--store", "new.zarr"), "is a directory"),
    "spec not TOML": Case(S("not_toml"), "not valid TOML"),
    "unknown top-level key": Case(S("unknown_top"), "unknown top-level key"),
    "unknown base field": Case(S("unknown_field"), "width"),
    "field of the wrong type": Case(S("bad_type"), "d_model"),
    "zero steps": Case(S("zero_steps"), "steps"),
    "negative learning rate": Case(S("negative_lr"), "learning_rate"),
    "a single class": Case(S("one_class"), "num_classes"),
    "unknown axis": Case(S("unknown_axis"), "axes.width"),
    "empty axis": Case(S("empty_axis"), "empty axis"),
    "duplicate axis value": Case(S("duplicate_value"), "duplicate value"),
    "malformed log2 range": Case(S("bad_range"), "log2 range"),
    "log2 range going down": Case(S("range_down"), "must go up"),
    "log2 range beyond any counter": Case(S("range_too_far"), "beyond 2^62"),
    "maximum budget below the base budget": Case(S("max_below_steps"), "max_steps"),
    "unknown adaptive key": Case(S("adaptive_unknown"), "adaptive.patience_x"),
    "refinement resolution of zero": Case(S("refine_zero"), "resolution"),
    "refinement along a non-numeric axis": Case(S("refine_non_numeric"), "refine.axes"),
    "unknown threshold": Case(S("threshold_unknown"), "thresholds.improvment"),
    "preset axis named like a store dim": Case(S("preset_stream", "--dry-run"), "name the store uses"),
    "preset axis named like a variable": Case(S("preset_status"), "name the store uses"),
    "preset axis named like a path": Case(S("preset_path", "--dry-run"), "preset axis name"),
    "preset axis named like a field": Case(S("preset_field_name"), "named like a config field"),
    "grid of 2^40 cells": Case(S("huge_grid", "--dry-run"), "more than the limit"),
    "a model that cannot fit": Case(S("huge_model", "--dry-run"), "more than the device budget"),
    "a dataset that is not there": Case(S("missing_dataset"), "cannot be read"),
    "--smoke without a [smoke] table": Case(S("smoke_missing", "--smoke"), "no [smoke] table"),
    # sweep flags
    "--store missing": Case(("sweep", "ok.toml"), "--store is required"),
    "--store is a regular file": Case(S("ok", store="afile"), "is a file"),
    "--store is a directory of other things": Case(S("ok", store="notastore"), "not a Zarr v3 results store"),
    "--store under a regular file": Case(S("ok", store="afile/new.zarr"), "under a regular file"),
    "--max-pack 0": Case(S("ok", "--max-pack", "0"), "--max-pack"),
    "--max-pack -3": Case(S("ok", "--max-pack", "-3"), "--max-pack"),
    "--workers 0": Case(S("ok", "--executor", "dask", "--workers", "0"), "--workers"),
    "--checkpoint-every -1": Case(S("ok", "--checkpoint-every", "-1"), "--checkpoint-every"),
    "--set without =": Case(S("ok", "--set", "steps"), "FIELD=VALUE"),
    "--set of an unknown field": Case(S("ok", "--set", "stepz=3"), "stepz"),
    "--set of a bad value": Case(S("ok", "--set", "steps=many"), "steps"),
    "--set of an axis": Case(S("ok", "--set", "seed=3"), "is an axis"),
    "--max-cells 0": Case(S("ok", "--max-cells", "0"), "--max-cells"),
    # refine
    "refine a missing store": Case(("refine", "nope.zarr"), "does not exist"),
    "refine a store without a spec": Case(("refine", "synthetic.zarr"), "records no sweep spec"),
    "refine --resolution 0": Case(("refine", "synthetic.zarr", "--resolution", "0"), "resolution"),
    "refine --max-rounds 0": Case(("refine", "synthetic.zarr", "--max-rounds", "0"), "--max-rounds"),
    # status
    "status of a missing store": Case(("status", "nope.zarr"), "does not exist"),
    "status of a regular file": Case(("status", "afile"), "is a file"),
    "status of an empty directory": Case(("status", "adir"), "empty directory"),
    # analyze
    "analyze a missing store": Case(("analyze", "nope.zarr"), "does not exist"),
    "analyze at an eval step the store lacks": Case(("analyze", "synthetic.zarr", "--eval-step", "7"), "eval_step 7"),
    "analyze with --n-first past the sequence": Case(("analyze", "synthetic.zarr", "--n-first", "500"), "n_first"),
    "analyze with a negative threshold": Case(("analyze", "synthetic.zarr", "--improvement", "-1"), "improvement"),
    "analyze --out under a regular file": Case(("analyze", "synthetic.zarr", "--out", "afile/tables"), "--out"),
    "analyze with a missing thresholds file": Case(("analyze", "synthetic.zarr", "--thresholds", "nope.toml"),
                                                   "thresholds"),
    # export
    "export a missing store": Case(("export", "nope.zarr", "--out", "figs"), "does not exist"),
    "export an unknown figure": Case(("export", "synthetic.zarr", "--figure", "pie"), "--figure"),
    # app
    "app --port 70000": Case(("app", "synthetic.zarr", "--port", "70000"), "--port"),
    "app --port -1": Case(("app", "synthetic.zarr", "--port", "-1"), "--port"),
    "app on a missing store": Case(("app", "nope.zarr"), "does not exist"),
    # train
    "train with d_model 0": Case(("train", "--d-model", "0"), "d-model"),
    "train with an unknown model": Case(("train", "--model", "mamba"), "model"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A directory holding every sweep file above, a synthetic store and paths of the wrong kinds."""
    root = tmp_path_factory.mktemp("bad_input")
    for name, text in SPECS.items():
        (root / f"{name}.toml").write_text(text)
    synthetic_store(root / "synthetic.zarr", d_models=(16,), num_tasks=(1, 16, 256), seeds=(0,), seq_len=20,
                    steps=200, log_every=20, eval_every=100, eval_datasets=())
    (root / "afile").write_text("not a store")
    (root / "adir").mkdir()
    (root / "notastore").mkdir()
    (root / "notastore" / "notes.txt").write_text("mine")
    return root


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time: what "nothing written" compares."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def test_the_table_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_refused_with_one_line_and_nothing_written(name, world, capsys, monkeypatch):
    case = CASES[name]
    monkeypatch.chdir(world)
    before = listing(world)
    try:
        code = cli.main(list(case.argv))
    except SystemExit as exit_:  # argparse refusals
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == case.code, f"{name}: exit {code}; stderr: {err}"
    assert case.says in err, f"{name}: {case.says!r} not in stderr: {err!r}"
    assert "Traceback" not in err + out
    assert listing(world) == before, f"{name}: something was written"


def test_the_phase_diagram_of_a_store_with_only_task_and_seed_axes(tmp_path):
    ds = synthetic_store(d_models=(16,), num_tasks=(1, 16, 256, 4096), seeds=(0, 1), seq_len=20, steps=200,
                         log_every=20, eval_every=100).isel(d_model=0, drop=True)
    built = phase.build(Source(ds, name="tasks-only"), {})
    heat = [t for t in built.figure.data if t.type == "heatmap"]
    assert len(heat) == 1 and np.asarray(heat[0].z).shape == (1, 4)


def test_a_new_store_may_go_in_a_folder_that_does_not_exist_yet(tmp_path):
    from gpicl_phase.store import writer_lock
    from gpicl_phase.sweep.runner import check_store_path

    path = tmp_path / "runs" / "deeper" / "new.zarr"
    check_store_path(str(path))  # make demo's runs/demo.zarr on a fresh clone
    with writer_lock(path):
        assert path.parent.is_dir() and not path.exists()
