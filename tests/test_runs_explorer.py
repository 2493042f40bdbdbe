"""The runs explorer: figures/runs.py, runs_by_parameter.py and run_curves.py as pure functions on synthetic
stores, and the page's callbacks as plain functions (the browser side is tests/test_browser_runs.py)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from dash_helpers import find_ids

from app import callbacks, ids, urls
from app.data import Stores
from app.pages import PAGES
from app.pages import runs as page
from gpicl_phase.analysis import classify
from gpicl_phase.figures import run_curves, runs, runs_by_parameter
from gpicl_phase.figures.source import Source, StoreProblem
from gpicl_phase.figures.style import PHASE_COLORS
from gpicl_phase.testing import synthetic_store

SMALL = dict(d_models=(16, 64), batch_sizes=(32, 128), seq_len=20, steps=2000, log_every=40, eval_every=500)
STREAMS = ("seen", "unseen", "unseen:fashion_mnist", "base")


@pytest.fixture(scope="module")
def source():
    return Source(ds=synthetic_store(nan_runs=0.05, **SMALL), name="sweep")


@pytest.fixture(scope="module")
def frame(source):
    return runs.runs_frame(source)


@pytest.fixture(scope="module")
def tasks_only():
    """A store whose only axis is num_tasks (no seed, no model size)."""
    ds = synthetic_store(d_models=(16,), seeds=(0,), seq_len=10, steps=400, log_every=40, eval_every=200)
    return Source(ds=ds.isel(d_model=0, seed=0, drop=True), name="tasks")


# --- the table ---------------------------------------------------------------------------------------------


def test_one_row_per_run_with_the_columns_the_table_shows(source, frame):
    assert len(frame) == source.ds["status"].size == 2 * 9 * 2 * 2
    stream_cols = [f"{m}[{s}]" for m in ("acc_first", "acc_last", "improvement") for s in STREAMS]
    assert list(frame.columns) == ["run", "store", "d_model", "num_tasks", "batch_size", "seed", "status", "phase",
                                   "final_loss", *stream_cols, "steps_trained", "max_steps", "wall_time",
                                   "param_count", "state_size", "stop_reason"]
    assert frame.attrs["axes"] == ["d_model", "num_tasks", "batch_size", "seed"]
    assert frame["run"].is_unique and (frame["store"] == "sweep").all()
    assert set(frame["status"]) <= {"done", "diverged"} and set(frame["stop_reason"]) == {"budget"}


@pytest.mark.parametrize("row", [0, 37, 71])
def test_a_rows_values_are_its_runs_metrics(source, frame, row):
    r = frame.iloc[row]
    name, cell = runs.parse_run(r["run"])
    assert name == "sweep" and r["run"] == f"store=sweep&d_model={r.d_model}&num_tasks={r.num_tasks}" \
        f"&batch_size={r.batch_size}&seed={r.seed}"
    at = {a: int(v) for a, v in cell.items()}
    m = source.metrics.sel(at)
    assert r["final_loss"] == pytest.approx(float(m["final_loss"]), nan_ok=True)
    for s in STREAMS:
        for metric in ("acc_first", "acc_last", "improvement"):
            assert r[f"{metric}[{s}]"] == pytest.approx(float(m[metric].sel(stream=s)), nan_ok=True)
    for name in ("steps_trained", "wall_time", "param_count", "state_size"):
        assert r[name] == m[name].item()
    assert r["phase"] == classify(source.metrics, source.th).sel(at).item()


def test_a_store_without_seed_axis_has_a_row_per_task_count(tasks_only):
    frame = runs.runs_frame(tasks_only)
    assert len(frame) == 9 and frame.attrs["axes"] == ["num_tasks"] and "seed" not in frame
    assert frame["run"].iloc[2] == "store=tasks&num_tasks=16"
    assert runs_by_parameter.parcoords_columns(frame, "final_loss") == ["num_tasks", "final_loss", "phase"]
    assert runs_by_parameter.scatter_figure(frame, "num_tasks", "final_loss").data
    loss, acc = run_curves.overlay_figures({"tasks": tasks_only}, list(frame["run"][:2]))
    assert len(loss.data) == 2 and len(acc.data) == 2 * 4


def test_stores_combine_into_one_table(source, tasks_only):
    both = runs.combine_frames([runs.runs_frame(source), runs.runs_frame(tasks_only)])
    assert len(both) == 72 + 9 and both["run"].is_unique
    assert both.attrs["axes"] == ["d_model", "num_tasks", "batch_size", "seed"]
    assert both.loc[both["store"] == "tasks", "d_model"].isna().all()
    assert runs_by_parameter.parcoords_columns(both, "final_loss")[0] == "store"
    fig = runs_by_parameter.parcoords_figure(both, "final_loss")
    assert "9 runs without a value left out" in fig.layout.title.text  # the task-only store has no d_model


def test_grid_columns_are_json_with_nan_as_null(frame):
    cols = runs.grid_columns(frame)
    assert list(cols) == list(frame.columns) and all(len(v) == len(frame) for v in cols.values())
    holes = frame.copy()
    holes.loc[[3, 7], "improvement[unseen]"] = np.nan  # as for runs still pending
    back = json.loads(json.dumps(runs.grid_columns(holes), allow_nan=False))  # raises on NaN
    assert [i for i, v in enumerate(back["improvement[unseen]"]) if v is None] == [3, 7]
    assert back["final_loss"][0] == round(frame["final_loss"][0], 4)


def test_metric_options_put_unseen_first(frame):
    options = runs.metric_options(frame)
    assert options[0] == "acc_first[unseen]" and runs.default_metric(frame) == "improvement[unseen]"
    assert {"final_loss", "wall_time", "param_count"} <= set(options)


# --- parallel coordinates and brushing ---------------------------------------------------------------------


def test_parcoords_puts_task_counts_on_log2_and_colours_by_phase(frame):
    fig = runs_by_parameter.parcoords_figure(frame, "improvement[unseen]", constraints={"num_tasks": [[3.0, 9.0]]})
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["d model", "num tasks", "batch size", "improvement[unseen]", "phase"]
    assert sorted(set(dims[1].values)) == list(range(0, 17, 2)) and dims[1].ticktext[-1] == "65536"
    assert tuple(dims[1].constraintrange) == (3.0, 9.0)
    names = list(dims[-1].ticktext)
    assert names[0] in ("failed", "memorizing") and set(names) <= set(PHASE_COLORS)
    scale = fig.data[0].line.colorscale
    assert [c for _, c in scale][::2] == [PHASE_COLORS[p] for p in names]


def test_parcoords_draws_an_even_sample_of_many_runs_with_every_run_s_axis_range(frame):
    full = runs_by_parameter.parcoords_figure(frame, "final_loss")
    capped = runs_by_parameter.parcoords_figure(frame, "final_loss", max_lines=10)
    n = len(full.data[0].dimensions[0].values)
    assert n > 10 and len(capped.data[0].dimensions[0].values) == 10
    for a, b in zip(full.data[0].dimensions, capped.data[0].dimensions, strict=True):
        assert tuple(a.range) == tuple(b.range)  # axes do not jump when the sample changes
    assert f"10 of {n:,} runs drawn" in capped.layout.title.text


@pytest.mark.parametrize("value, ranges", [
    ([[2, 6]], [[2.0, 6.0]]),  # one range, wrapped per trace (what a drag sends)
    ([2, 6], [[2.0, 6.0]]),
    ([[[0, 1], [4, 5]]], [[0.0, 1.0], [4.0, 5.0]]),  # two ranges on one axis
    ([[6, 2]], [[2.0, 6.0]]),
])
def test_brush_events_in_every_shape_plotly_sends(value, ranges):
    columns = ["d_model", "num_tasks", "phase"]
    got = runs_by_parameter.brush_update({}, [{"dimensions[1].constraintrange": value}, [0]], columns)
    assert got == {"num_tasks": ranges}


def test_brush_clear_and_stale_columns():
    columns = ["num_tasks", "final_loss", "phase"]
    current = {"num_tasks": [[0, 4]], "improvement[unseen]": [[0.1, 0.5]]}
    assert runs_by_parameter.brush_update(current, None, columns) == {"num_tasks": [[0, 4]]}, "a metric no longer drawn"
    assert runs_by_parameter.brush_update(current, [{"dimensions[0].constraintrange": None}, [0]], columns) == {}
    assert runs_by_parameter.brush_update(current, [{"line.color": "red"}, [0]], columns) == {"num_tasks": [[0, 4]]}
    assert runs_by_parameter.brush_update(current, [{"dimensions[9].constraintrange": [[0, 1]]}, [0]], columns) == {
        "num_tasks": [[0, 4]]}


def test_brushed_keeps_rows_inside_every_axis(frame):
    tasks = runs_by_parameter.brushed(frame, {"num_tasks": [[3.5, 8.5]]})  # log2: 16, 64, 256
    assert set(frame.loc[tasks, "num_tasks"]) == {16, 64, 256} and tasks.sum() == 72 // 3
    either = runs_by_parameter.brushed(frame, {"num_tasks": [[-0.5, 0.5], [15.5, 16.5]]})
    assert set(frame.loc[either, "num_tasks"]) == {1, 65536}
    assert runs_by_parameter.scale(frame["d_model"]) == "linear", "16..64 spans less than LOG2_SPAN"
    both = runs_by_parameter.brushed(frame, {"num_tasks": [[3.5, 8.5]], "d_model": [[60, 70]]})
    assert (both == (tasks & (frame["d_model"] == 64).to_numpy())).all()
    codes, ticks = runs_by_parameter.coordinates(frame, "phase")
    k = ticks["ticktext"].index("generalizing")
    assert set(frame.loc[runs_by_parameter.brushed(frame, {"phase": [[k - 0.2, k + 0.2]]}), "phase"]) == {"generalizing"}
    assert runs_by_parameter.brushed(frame, {}).all() and runs_by_parameter.brushed(frame, {"no such column": [[0, 1]]}).all()


# --- scatter and curves ------------------------------------------------------------------------------------


def test_scatter_has_a_trace_per_phase_in_phase_colours(frame):
    fig = runs_by_parameter.scatter_figure(frame, "num_tasks", "improvement[unseen]")
    drawn = frame[np.isfinite(frame["improvement[unseen]"])]
    assert [t.name for t in fig.data] == [p for p in runs_by_parameter.categories(frame["phase"]) if p in set(drawn["phase"])]
    assert all(t.marker.color == PHASE_COLORS[t.name] for t in fig.data)
    assert sum(len(t.y) for t in fig.data) == int(np.isfinite(frame["improvement[unseen]"]).sum())
    assert "log2" in fig.layout.xaxis.title.text


def test_overlay_draws_one_loss_curve_per_run_and_caps_them(source, frame):
    ids_ = list(frame["run"][:3])
    loss, acc = run_curves.overlay_figures({"sweep": source}, ids_)
    assert len(loss.data) == 3 and len(acc.data) == 3 * len(STREAMS)
    assert [a.text for a in acc.layout.annotations] == list(STREAMS)
    loss, _ = run_curves.overlay_figures({"sweep": source}, list(frame["run"][: run_curves.MAX_OVERLAY + 5]))
    assert len(loss.data) == run_curves.MAX_OVERLAY and f"first {run_curves.MAX_OVERLAY} of 25" in loss.layout.title.text
    empty, _ = run_curves.overlay_figures({"sweep": source}, [])
    assert not empty.data and "Select runs" in empty.layout.annotations[0].text


def test_no_smoothing_draws_the_raw_curve_and_smoothing_is_tensorboards(source, frame):
    run = frame["run"][5]
    _, cell = runs.parse_run(run)
    raw = source.data["train_loss"].sel({a: int(v) for a, v in cell.items()}).values.astype(float)
    loss, _ = run_curves.overlay_figures({"sweep": source}, [run], smoothing=0.0)
    np.testing.assert_array_equal(loss.data[0].y, raw[np.isfinite(raw)])
    np.testing.assert_array_equal(loss.data[0].x, source.data["log_step"].values[np.isfinite(raw)])
    w, last, debias, expect = 0.8, 0.0, 0.0, []
    for v in raw[np.isfinite(raw)]:  # TensorBoard's loop
        last, debias = last * w + (1 - w) * v, debias * w + (1 - w)
        expect.append(last / debias)
    smooth, _ = run_curves.overlay_figures({"sweep": source}, [run], smoothing=w, log_y=True)
    np.testing.assert_allclose(smooth.data[0].y, expect, rtol=1e-12)
    assert smooth.layout.yaxis.type == "log"


def test_x_by_wall_time_scales_steps_by_the_runs_time_per_step(source, frame):
    r = frame.iloc[3]
    loss, _ = run_curves.overlay_figures({"sweep": source}, [r["run"]], x_by="wall time")
    steps = source.data["log_step"].values[: len(loss.data[0].x)]
    np.testing.assert_allclose(loss.data[0].x, steps * r["wall_time"] / r["steps_trained"])
    assert "estimated" in loss.layout.xaxis.title.text


def test_a_run_the_store_lacks_is_a_store_problem(source):
    with pytest.raises(StoreProblem):
        run_curves.overlay_figures({"sweep": source}, ["store=sweep&num_tasks=1"])
    with pytest.raises(ValueError):
        run_curves.overlay_figures({"sweep": source}, ["store=sweep&d_model=16&num_tasks=3&batch_size=32&seed=0"])


# --- the page's callbacks ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs-stores")
    synthetic_store(root / "done.zarr", nan_runs=0.05, **SMALL)
    synthetic_store(root / "empty.zarr", missing=1.0, **SMALL)
    (root / "notes").mkdir()
    return Stores([str(root / n) for n in ("done.zarr", "empty.zarr", "notes")])


def test_the_page_is_routed_with_its_grid_and_controls(stores):
    assert PAGES["/runs"] is page and urls.PAGES["/runs"] == "Runs explorer"
    search = "?store=done&metric=final_loss&x=d_model&smooth=0.6"
    body = callbacks.route(stores, callbacks.version(stores, "/runs", search, None), search)
    found = find_ids(body)
    for cid in (page.GRID, page.PARCOORDS, page.SCATTER, page.LOSS, page.ACC, page.TABLE, page.BRUSH,
                ids.query("metric"), ids.query("x"), ids.query("smooth"), ids.query("logy"), ids.query("xby")):
        assert cid in found
    cols = page.grid(page.frame(stores, search)).columnDefs
    assert cols[0] == {"field": "run", "hide": True}
    assert {"field": "final_loss", "headerName": "final_loss", **page.NUMBER_FILTER} in cols


def test_table_parcoords_scatter_and_overlay_callbacks(stores):
    search = "?store=done"
    columns, count = page.table(stores, search)
    assert count == "72 runs" and len(columns["run"]) == 72
    fig = page.parcoords(stores, search, "final_loss", None)
    assert fig.data[0].type == "parcoords" and fig.data[0].dimensions[3].label == "final loss"
    fig = page.scatter(stores, search, "stale metric", "nope")  # stale URL values fall back to defaults
    assert "improvement[unseen] by num tasks" in fig.layout.title.text
    rows = [{"run": r} for r in columns["run"][:2]]
    loss, acc = page.overlay(stores, search, rows, "0.5", "log", "wall time")
    assert len(loss.data) == 2 and loss.layout.yaxis.type == "log" and len(acc.data) == 8


def test_brush_callback_keeps_the_positions_inside_and_forgets_a_metric_no_longer_drawn(stores):
    search = "?store=done"
    frame = page.frame(stores, search)
    event = [{"dimensions[3].constraintrange": [[0.2, 1.0]]}, [0]]  # the metric axis (improvement[unseen])
    brush, text = page.brush(stores, search, event, None, None, from_plot=True)
    inside = frame["improvement[unseen]"].between(0.2, 1.0)
    assert brush["keep"] == list(np.flatnonzero(inside)) and f"{inside.sum()} of 72 runs" in text
    again = page.brush(stores, search, event, None, brush, from_plot=True)
    assert again[0] is callbacks.no_update, "the same brush sends nothing"
    cleared, text = page.brush(stores, search, event, "final_loss", brush, from_plot=False)
    assert cleared == {"constraints": {}, "keep": None} and text == "72 runs"
    redrawn = page.parcoords(stores, search, "improvement[unseen]", brush)
    assert tuple(redrawn.data[0].dimensions[3].constraintrange) == (0.2, 1.0)


def test_all_stores_in_one_table_and_bad_stores_say_why(stores):
    columns, count = page.table(stores, "?store=done&runs_of=all")
    assert count == "144 runs" and set(columns["store"]) == {"done", "empty"}
    body = page.body(stores, "?runs_of=all")
    assert any("skipped notes" in str(getattr(c, "children", "")) for c in body)
    assert ids.query("runs_of") in find_ids(body)
    picked = [columns["run"][0], columns["run"][-1]]  # one run of each store
    loss, _ = page.overlay(stores, "?runs_of=all", [{"run": r} for r in picked], 0, "linear", "step")
    assert [t.name.split(":")[0] for t in loss.data] == ["done", "empty"]  # labels name the store
    data, message = page.table(stores, "?store=notes")
    assert data is None and "not a Zarr v3 results store" in str(message.children)


def test_an_unfinished_store_lists_its_runs_without_metrics(stores):
    columns, count = page.table(stores, "?store=empty")
    assert count == "72 runs" and set(columns["phase"]) == {"unfinished"} and set(columns["final_loss"]) == {None}
    fig = page.parcoords(stores, "?store=empty", None, None)
    assert "72 runs without a value left out" in fig.layout.title.text


def test_export_writes_the_scatter_and_every_run(stores):
    built = page.export(stores, "?store=done&metric=final_loss", "paper")
    assert built.name == "runs" and len(built.data) == 72 and built.figure.data
    assert "final loss" in built.figure.layout.title.text
    assert {t.type for t in built.figure.data} == {"scatter"}, "SVG points in files, not a WebGL bitmap"
    from conftest_browser import require_chromium

    from gpicl_phase.figures.export import zip_bytes

    require_chromium()
    with zipfile.ZipFile(io.BytesIO(zip_bytes(built, "svg", "done_runs"))) as z:
        assert sorted(z.namelist()) == ["done_runs.csv", "done_runs.svg"]
        assert z.read("done_runs.svg").startswith(b"<svg")
        assert len(z.read("done_runs.csv").decode().splitlines()) == 72 + 1
