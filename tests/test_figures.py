"""Figure functions on synthetic stores: traces, axes, shapes, the boundary, and honest agreement with the plant."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import catalog, detail, improvement, phase, plateau, progress, statesize
from gpicl_phase.figures.source import Source, StoreProblem
from gpicl_phase.figures.style import PHASE_COLORS
from gpicl_phase.testing import synthetic_store

D_MODELS, BATCHES, TASKS = (16, 32, 64), (32, 128, 512), tuple(2 ** np.arange(0, 17, 2))


@pytest.fixture(scope="module")
def source():
    """Three model sizes x nine task counts x three batch sizes x two seeds, a few runs pending or diverged."""
    ds = synthetic_store(d_models=D_MODELS, batch_sizes=BATCHES, seq_len=30, steps=4000, log_every=40,
                         eval_every=1000, missing=0.03, nan_runs=0.03, seed=1)
    return Source(ds, name="synthetic")


@pytest.fixture(scope="module")
def empty():
    """Every run pending: a sweep that has not started."""
    return Source(synthetic_store(d_models=(16,), num_tasks=(1, 4), seq_len=10, steps=200, missing=1.0), name="empty")


def heatmaps(fig):
    return [t for t in fig.data if t.type == "heatmap"]


def centres(m):
    """Cell centres of a one-row heatmap drawn from its edges."""
    x = np.asarray(m.x, dtype=float)
    return (x[1:] + x[:-1]) / 2


def test_phase_one_panel_per_batch_size_with_cells_and_boundary(source):
    fig = phase.build(source, {}).figure
    maps = heatmaps(fig)
    assert len(maps) == len(BATCHES) * len(D_MODELS), "one heatmap row per model size and panel"
    for m in maps:
        assert np.asarray(m.z).shape == (1, len(TASKS))
        assert list(centres(m)) == pytest.approx(np.log2(TASKS))
    assert not [t for t in fig.data if t.name == "sampled cell"], "a uniform grid needs no sample dots"
    lines = [t for t in fig.data if t.type == "scatter" and t.name == "transition boundary"]
    assert len(lines) == len(BATCHES), "every panel draws its boundary"
    assert [a.text for a in fig.layout.annotations] == [f"batch_size={b}" for b in BATCHES]
    assert fig.layout.xaxis.ticktext[0] == "2<sup>0</sup>"
    assert fig.layout.yaxis.title.text == "d_model"


def test_phase_boundary_separates_generalizing_cells(source):
    """Right of each row's boundary the cells generalize; left of it they do not (the planted transition)."""
    cells, boundary, _ = phase.tables(source, phase.resolve(source, {}))
    for b in boundary.itertuples(index=False):
        row = cells[(cells["facet"] == b.facet) & (cells["y"] == b.y) & (cells["n"] > 0)]
        assert np.isfinite(b.x)
        assert set(row[row["x"] > b.x + 1]["phase"]) == {"generalizing"}
        assert "generalizing" not in set(row[row["x"] < b.x - 1]["phase"])


def test_phase_z_codes_map_to_the_listed_phase_colours(source):
    fig = phase.build(source, {"facet": "none", "batch_size": "128"}).figure
    maps = heatmaps(fig)
    assert len(maps) == len(D_MODELS)
    names = list(fig.layout.coloraxis.colorbar.ticktext)
    cells, _, _ = phase.tables(source, phase.resolve(source, {"facet": "none", "batch_size": "128"}))
    top = cells[(cells["y"] == "64") & (cells["num_tasks"] == TASKS[-1])].iloc[0]
    assert names[int(np.asarray(maps[-1].z)[0, -1])] == top["phase"] == "generalizing"
    scale = [c for _, c in fig.layout.coloraxis.colorscale]
    assert PHASE_COLORS["generalizing"] in scale and len(scale) == 2 * len(names)
    assert fig.layout.title.text.endswith("(batch_size=128)")


def test_phase_colour_by_metric_and_spread_in_hover(source):
    fig = phase.build(source, {"color": "acc:unseen"}).figure
    assert fig.layout.coloraxis.colorscale[0][1] != PHASE_COLORS["failed"]
    z = np.concatenate([np.asarray(m.z, dtype=float).ravel() for m in heatmaps(fig)])
    assert np.nanmax(z) > 0.5 > np.nanmin(z)
    hover = np.concatenate([np.asarray(m.text).ravel() for m in heatmaps(fig)])
    assert any("±" in h and "n=" in h for h in hover.ravel())


def test_phase_stale_query_falls_back_to_defaults(source):
    sel = phase.resolve(source, {"color": "nope", "facet": "nope", "y": "nope", "batch_size": "3"})
    assert sel == {"color": "phase", "y": "d_model", "facet": "batch_size", "fixed": {}, "y_label": "value"}
    sel = phase.resolve(source, {"facet": "none", "batch_size": "512"})
    assert sel["fixed"] == {"batch_size": 512}


def test_phase_csv_is_the_plotted_cells(source):
    built = phase.build(source, {})
    cells = built.data[built.data["part"] == "cell"]
    assert len(cells) == len(D_MODELS) * len(TASKS) * len(BATCHES)
    assert len(built.data[built.data["part"] == "boundary_log2_num_tasks"]) == len(D_MODELS) * len(BATCHES)


def test_plateau_curves_escapes_and_power_law(source):
    built = plateau.build(source, {})
    fig = built.figure
    curves = [t for t in fig.data if t.mode == "lines" and t.xaxis == "x"]
    assert [t.name for t in curves] == [f"batch_size={b}" for b in BATCHES]
    escapes = [t for t in fig.data if t.mode == "markers" and t.xaxis == "x"]
    assert escapes and all(len(t.x) for t in escapes)
    fit = [t for t in fig.data if t.mode == "lines" and t.xaxis == "x2"]
    assert len(fit) == 1 and "fit: length" in fit[0].name
    exponent = float(fit[0].name.split("^")[1].split()[0])
    assert exponent == pytest.approx(-0.7, abs=0.1), "the planted plateau exponent comes back"
    assert fig.layout.xaxis2.type == "log" and fig.layout.yaxis2.type == "log"
    assert set(built.data["part"]) == {"curve", "escape", "fit"}


def test_plateau_over_a_non_numeric_or_single_axis_has_no_fit(source):
    fig = plateau.build(source, {"over": "d_model", "batch_size": "128"}).figure
    assert [t.name for t in fig.data if t.mode == "lines" and t.xaxis == "x"] == [f"d_model={d}" for d in D_MODELS]


def test_improvement_one_line_per_stream_with_phase_bands(source):
    built = improvement.build(source, {})
    fig = built.figure
    streams = [str(s) for s in source.ds["stream"].values]
    assert [t.name for t in fig.data] == streams
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert {a.text for a in fig.layout.annotations} >= {"memorizing", "identifying", "generalizing"}
    assert len(bands) >= 3
    unseen = built.data[(built.data["part"] == "line") & (built.data["stream"] == "unseen")]
    assert unseen["mean"].iloc[-1] > 0.3 > unseen["mean"].iloc[0], "unseen improvement appears with many tasks"


def test_phase_bands_merge_runs_and_meet_half_way():
    import pandas as pd

    bands = improvement.phase_bands(pd.DataFrame({"x": [0, 2, 4, 6], "phase": ["m", "m", "g", "g"]}))
    assert bands.to_dict("records") == [{"phase": "m", "x0": -0.5, "x1": 3.0}, {"phase": "g", "x0": 3.0, "x1": 6.5}]


def test_statesize_two_log_panels_one_point_per_cell(source):
    built = statesize.build(source, {})
    fig = built.figure
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    assert len(fig.data) == 2  # one architecture, drawn in both panels
    assert set(built.data["num_tasks"] if "num_tasks" in built.data else [TASKS[-1]]) == {TASKS[-1]}
    assert len(built.data) <= len(D_MODELS) * len(BATCHES)
    assert "Spearman" in fig.layout.title.text


def test_detail_curves_for_every_stream_and_seed(source):
    built = detail.build(source, {"d_model": "64", "num_tasks": str(TASKS[-1]), "batch_size": "32"})
    streams = [str(s) for s in source.ds["stream"].values]
    assert [t.name for t in built.figure.data if t.name] == streams
    assert set(built.data["position"]) == set(range(30))
    loss = detail.build_loss(source, {"d_model": "64", "num_tasks": "1", "batch_size": "32"})
    assert len([t for t in loss.figure.data if t.name.startswith("seed")]) >= 1
    runs = detail.runs_table(source.data, {"d_model": 64, "num_tasks": 1, "batch_size": 32})
    assert list(runs["seed"]) == [0, 1] and {"param_count", "state_size", "status"} <= set(runs.columns)


def test_detail_of_a_store_without_a_seed_axis_draws_its_one_run():
    ds = synthetic_store(d_models=(16,), num_tasks=(1, 4, 64), seeds=(0,), seq_len=10, steps=400, log_every=20,
                         eval_every=200).isel(seed=0, drop=True)
    source = Source(ds=ds, name="noseed")
    loss = detail.build_loss(source, {"d_model": "16", "num_tasks": "64"})
    (run,) = [t for t in loss.figure.data if t.type == "scatter"]
    assert run.name == "run" and len(run.x) == 20
    runs = detail.runs_table(source.data, {"d_model": 16, "num_tasks": 64})
    assert "seed" not in runs.columns and len(runs) == 1


def test_plateau_opens_on_a_slice_where_runs_leave_the_plateau():
    # Every run at the most tasks fails (never leaves the plateau): the default slice must not be that one.
    ds = synthetic_store(d_models=(16, 32), num_tasks=(4, 64), batch_sizes=(32, 128), seq_len=10, steps=2000,
                         log_every=20, eval_every=500, plateau_steps=300)
    ds["train_loss"].loc[{"num_tasks": 64}] = np.log(10)
    source = Source(ds=ds, name="stuck")
    sel = plateau.resolve(source, {})
    assert sel["over"] == "batch_size" and sel["fixed"]["num_tasks"] == 4
    assert plateau.resolve(source, {"num_tasks": "64"})["fixed"]["num_tasks"] == 64, "the URL's choice is kept"
    fig = plateau.build(source, {"num_tasks": "64"}).figure
    assert any("no run in this slice left the plateau" in (a.text or "") for a in fig.layout.annotations)
    assert any((a.text or "").startswith("ln 10") for a in fig.layout.annotations), "the ln K line is labelled"


def test_phase_rows_can_be_labelled_by_parameter_count_and_the_title_follows_the_colouring(source):
    fig = phase.build(source, {"ylabel": "params"}).figure
    (first, *_) = [y for y in fig.select_yaxes() if y.ticktext]
    counts = [int(source.ds["param_count"].sel(d_model=d).max()) for d in D_MODELS]
    assert list(first.ticktext) == [phase._count_text(c) for c in counts] and first.title.text == "parameters"
    assert fig.layout.title.text.startswith("Phases of")
    metric = phase.build(source, {"color": "acc:unseen"}).figure
    assert metric.layout.title.text.startswith("Unseen accuracy") and "Phases" not in metric.layout.title.text


def test_the_boundary_is_in_the_legend_even_when_the_first_panel_has_none(source):
    ds = source.ds.copy()
    ds["train_loss"] = ds["train_loss"].where(ds["batch_size"] != BATCHES[0], np.log(10))  # first panel: plateau
    ds["eval_acc"] = ds["eval_acc"].where(ds["batch_size"] != BATCHES[0], 0.1)
    fig = phase.build(Source(ds=ds, name="x"), {}).figure
    lines = [t for t in fig.data if t.name == "transition boundary"]
    assert lines and [t.showlegend for t in lines].count(True) == 1


def test_log_ticks_give_a_narrow_range_three_ticks():
    from gpicl_phase.figures.style import log_ticks

    one = log_ticks([2000, 2000])
    assert one["tickvals"] == [1000, 2000, 5000] and 10 ** one["range"][0] <= 1000 and 10 ** one["range"][1] >= 5000
    assert "range" not in log_ticks([100, 5000])


def test_detail_default_cell_is_the_best_generalizing_one(source):
    cell = detail.resolve(source, {})["cell"]
    assert cell["num_tasks"] >= 2**14


def test_progress_of_a_big_sweep_opens_on_counts_and_shows_the_grid_on_demand(source):
    assert progress.pick_view(10_000, {}) == "summary" and progress.pick_view(100, {}) == "grid"
    assert progress.pick_view(10_000, {"view": "grid"}) == "grid"
    built = progress.build(source, {"view": "summary"})
    assert {t.type for t in built.figure.data} == {"bar"} and built.figure.layout.barmode == "stack"
    assert built.data["runs"].sum() == source.ds["status"].size
    done = built.data[built.data["status"] == "done"]["runs"].sum()
    assert done == int((source.ds["status"] == 2).sum())
    grid = progress.build(source, {"view": "grid"})
    assert [t.type for t in grid.figure.data] == ["heatmap"]
    assert grid.figure.data[0].colorbar.lenmode == "pixels", "the colour bar does not stretch over a tall grid"


def test_progress_counts_every_run(source):
    built = progress.build(source, {"view": "grid"})
    assert len(built.data) == source.ds["status"].size
    c = progress.counts(built.data)
    assert c["done"] == int((source.ds["status"] == 2).sum()) and sum(c.values()) == source.ds["status"].size
    (m,) = heatmaps(built.figure)
    assert np.asarray(m.z).shape == (source.ds["status"].size // len(TASKS), len(TASKS))


def test_empty_store_says_so_and_progress_still_draws(empty):
    for name in catalog.PAPER_FIGURES:
        with pytest.raises(StoreProblem, match="no finished runs yet"):
            catalog.build(name, empty, {})
    assert progress.counts(catalog.build("progress", empty, {}).data)["pending"] == empty.ds["status"].size


def test_paper_style_is_sized_and_plain(source):
    fig = catalog.build("phase", source, {}, style="paper").figure
    assert fig.layout.width and fig.layout.height and fig.layout.font.size == 10
    # No baked-in title and no band where it was: a caption says what the figure is.
    assert fig.layout.title.text is None and fig.layout.margin.t <= 60
    assert catalog.build("phase", source, {}, style="screen").figure.layout.title.text.startswith("Phases of")
    with pytest.raises(ValueError, match="unknown style"):
        catalog.build("phase", source, {}, style="poster")


def test_axis_values_round_trip_through_text():
    ds = synthetic_store(d_models=(16,), num_tasks=(1, 4), seq_len=5, steps=100, log_every=10, eval_every=50)
    assert ax.coerce(ds, "num_tasks", "4") == 4
    with pytest.raises(ValueError, match="not in the store"):
        ax.coerce(ds, "num_tasks", "5")


# --- static export (needs Chromium) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "sweep.zarr"
    synthetic_store(path, d_models=(16, 64), batch_sizes=(32, 128), seq_len=20, steps=2000, log_every=40,
                    eval_every=500)
    return str(path)


def test_export_svg_and_pdf_are_valid_with_their_csv(store_path, tmp_path):
    from conftest_browser import require_chromium

    from gpicl_phase.figures.export import export

    require_chromium()
    svgs = export([store_path], "all", "svg", tmp_path / "svg")
    assert sorted(p.name for p in svgs if p.suffix == ".svg") == sorted(
        f"sweep_{n}.svg" for n in catalog.PAPER_FIGURES)
    for p in svgs:
        if p.suffix == ".svg":
            assert ET.parse(p).getroot().tag.endswith("svg")
        else:
            assert p.read_text().splitlines()[0]  # a header row
    (pdf, csv) = export([store_path], "phase", "pdf", tmp_path / "pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)) == 1, "one figure, one page"
    assert csv.suffix == ".csv"


def test_export_without_chromium_says_how_to_install(store_path, tmp_path, monkeypatch, capsys):
    from gpicl_phase.commands.read import export_figures

    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    assert export_figures([store_path], "phase", "svg", str(tmp_path), "paper") == 2
    err = capsys.readouterr().err
    assert "apt-get install chromium" in err and "scripts/install_chromium.sh" in err


def test_export_command_reports_bad_input(tmp_path, capsys):
    from gpicl_phase.commands.read import export_figures

    assert export_figures([str(tmp_path / "missing.zarr")], "phase", "svg", str(tmp_path), "paper") == 2
    assert "no results store" in capsys.readouterr().err
    assert export_figures([str(tmp_path)], "nope", "svg", str(tmp_path), "paper") == 2
