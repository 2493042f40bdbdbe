"""The paper's figure set (`export --paper`) on synthetic stores: traces, axes, Table 1 and its LaTeX, which store
makes which item, the reasons given for items that cannot be made, and one real SVG export."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gpicl_phase import cli
from gpicl_phase.figures import paper, paper_export, paper_numbers
from gpicl_phase.figures.source import Source, StoreProblem
from gpicl_phase.testing import synthetic_store

TASKS = tuple(int(t) for t in 2 ** np.arange(0, 17, 2))
SMALL = dict(seq_len=20, steps=2000, log_every=50, eval_every=500)  # a valid RunConfig: log_every divides eval_every


def with_labels(ds, axis: str, labels, models):
    """A synthetic store whose d_model axis becomes a preset axis of labels, as a sweep file's [axes.<axis>]."""
    d = ds["d_model"].values
    ds = ds.assign_coords(d_model=list(labels)).rename(d_model=axis)
    return ds.assign_coords(cfg_model=(axis, list(models)), cfg_d_model=(axis, d))


@pytest.fixture(scope="module")
def fig2_source():
    """paper_fig2.toml's shape: model_size (one MLP, two Transformers) x num_tasks x seeds."""
    ds = synthetic_store(d_models=(16, 32, 64), num_tasks=TASKS, **SMALL)
    return Source(with_labels(ds, "model_size", ["mlp_16", "tf_32", "tf_64"], ["mlp", "transformer", "transformer"]),
                  name="paper_fig2")


@pytest.fixture(scope="module")
def table_source():
    """paper_table1.toml's shape: learner x seed at one task count, two unseen datasets."""
    ds = synthetic_store(d_models=(16, 32, 64), num_tasks=(65536,), eval_datasets=("random", "fashion_mnist"),
                         **SMALL).isel(num_tasks=0, drop=True)
    return Source(with_labels(ds, "learner", ["sgd", "lstm", "gpicl_transformer"], ["sgd", "lstm", "transformer"]),
                  name="paper_table1")


@pytest.fixture(scope="module")
def plateau_source():
    """plateau_batch.toml's shape: batch_size x seed, nothing else swept."""
    ds = synthetic_store(d_models=(64,), num_tasks=(65536,), batch_sizes=(32, 64, 128, 256), seq_len=20,
                         steps=2000, log_every=20, eval_every=500, num_classes=5)
    return Source(ds.isel(num_tasks=0, d_model=0, drop=True), name="plateau_batch")


def test_fig2_two_panels_one_line_per_model_size(fig2_source):
    built = paper.fig2(fig2_source)
    fig = built.figure
    assert len(fig.data) == 2 * 3, "one trace per model size in each of the seen and unseen panels"
    assert [t.name for t in fig.data if t.showlegend] == ["mlp_16", "tf_32", "tf_64"]
    assert {t.xaxis for t in fig.data} == {"x", "x2"}
    assert [a.text for a in fig.layout.annotations][:2] == ["seen tasks", "unseen tasks"]
    assert fig.layout.xaxis.ticktext[0] == "2<sup>0</sup>" and list(fig.layout.yaxis.range) == [0, 1.02]
    mlp, tf = fig.data[0].line.dash, fig.data[2].line.dash
    assert mlp != tf and fig.data[2].line.dash == fig.data[4].line.dash, "dash marks the model kind"
    seen = built.data[(built.data["series"] == "mlp_16") & (built.data["stream"] == "seen")]
    assert list(seen["num_tasks"]) == list(TASKS)
    unseen = built.data[(built.data["series"] == "tf_64") & (built.data["stream"] == "unseen")]
    assert unseen["mean"].iloc[-1] > 0.5 > unseen["mean"].iloc[0], "the planted transition shows"


def test_fig2_numeric_size_axis_names_lines_by_value():
    src = Source(synthetic_store(d_models=(16, 64), num_tasks=(1, 16, 256), seq_len=10, steps=200, log_every=20,
                                 eval_every=100), name="sizes")
    fig = paper.fig2(src).figure
    assert [t.name for t in fig.data if t.showlegend] == ["d_model=16", "d_model=64"]


def test_fig3_unseen_streams_at_the_cell_with_most_tasks(fig2_source, table_source):
    built = paper.fig3(fig2_source)
    assert [t.name for t in built.figure.data if t.name] == ["unseen", "unseen:fashion_mnist"]
    assert set(built.data["num_tasks"]) == {TASKS[-1]}
    assert set(built.data["model_size"]) == {"tf_64"}, "the best unseen-task cell among the sizes"
    chosen = paper.fig3(fig2_source, {"num_tasks": "256", "model_size": "tf_32"}).data
    assert set(chosen["num_tasks"]) == {256} and set(chosen["model_size"]) == {"tf_32"}
    names = [t.name for t in paper.fig3(table_source).figure.data if t.name]
    assert names == ["unseen", "unseen:random", "unseen:fashion_mnist"]


def test_fig4_streams_and_phase_bands(fig2_source):
    built = paper.fig4(fig2_source)
    assert [t.name for t in built.figure.data] == ["seen", "unseen", "unseen:fashion_mnist"], "no base stream"
    assert {a.text for a in built.figure.layout.annotations} >= {"memorizing", "identifying", "generalizing"}
    assert "model_size=tf_64" in built.figure.layout.title.text
    assert set(built.data["part"]) == {"line", "band"}


def test_table1_frame_is_last_position_accuracy_in_percent(table_source):
    df = paper.table1(table_source)
    assert list(df["method"]) == ["sgd", "lstm", "gpicl_transformer"]
    assert list(df["model"]) == ["sgd", "lstm", "transformer"]
    assert list(df.columns[3:]) == ["MNIST-10k", "MNIST-10k std", "Random", "Random std",
                                    "FashionMNIST", "FashionMNIST std"]
    acc = table_source.ds["eval_acc"].isel(eval_step=-1, position=-1)
    want = 100 * float(acc.sel(learner="lstm", stream="unseen:random").mean())
    assert df.loc[1, "Random"] == pytest.approx(want, rel=1e-6)
    assert (df["n"] == 2).all() and df.attrs["position"] == 19


def test_table1_latex_is_a_tabular_with_one_row_per_method(table_source):
    df = paper.table1(table_source)
    tex = paper.table1_latex(df, paper.table1_caption(df))
    m = re.search(r"\\begin\{tabular\}\{(lr*)\}\n(.*?)\\end\{tabular\}", tex, re.S)
    assert m, tex
    body = [line for line in m.group(2).splitlines() if line != r"\hline"]
    assert all(line.endswith(r" \\") for line in body)
    rows = [line.removesuffix(r" \\") for line in body]
    assert len(m.group(1)) == 4 and len(rows) == 1 + 3
    assert rows[0] == "Method & MNIST-10k & Random & FashionMNIST"
    assert [r.split(" & ")[0] for r in rows[1:]] == ["sgd", "lstm", r"gpicl\_transformer"]
    assert all(len(r.split(" & ")) == 4 for r in rows)
    assert r"$\pm$" in rows[1] and tex.startswith("% Table 1 from paper_table1")


def test_items_a_store_cannot_make_say_why(plateau_source):
    result = paper_export.paper_set([plateau_source])
    report = dict(line.split(": ", 1) for line in result.report())
    assert report["Fig. 2"] == "not made: plateau_batch sweeps batch_size, seed but no num_tasks axis"
    assert report["Fig. 4"].startswith("not made: plateau_batch sweeps batch_size, seed but no num_tasks")
    assert "no axis of models" in report["Table 1"]
    assert "state size" in report["State size"]
    assert report["Plateau"] == "plateau_plateau_batch"
    with pytest.raises(StoreProblem, match="one num_tasks value"):
        paper.fig2(Source(synthetic_store(d_models=(16,), num_tasks=(4,), seq_len=5, steps=100, log_every=10,
                                          eval_every=50), name="one"))


@pytest.mark.parametrize("which", ["fig2", "table", "plateau", "one_task_count"])
def test_export_all_and_export_paper_agree_on_what_a_store_can_make(which, fig2_source, table_source,
                                                                     plateau_source):
    from gpicl_phase.figures import catalog

    one = Source(synthetic_store(d_models=(16, 32), num_tasks=(4,), seq_len=5, steps=100, log_every=10,
                                 eval_every=50), name="one")
    source = {"fig2": fig2_source, "table": table_source, "plateau": plateau_source, "one_task_count": one}[which]
    pairs = {"phase": "fig2", "incontext": "fig3", "improvement": "fig4", "plateau": "plateau",
             "statesize": "statesize"}
    made = set()
    for name in catalog.PAPER_FIGURES:
        try:
            catalog.build(name, source, {}, "paper")
            made.add(pairs[name])
        except StoreProblem:
            pass
    paper_made = {m.item for m in paper_export.paper_set([source]).made} - {"table1"}
    assert made == paper_made


def test_plateau_figure_per_label_value_at_ln_k(plateau_source):
    ds = synthetic_store(d_models=(16, 32), num_tasks=(65536,), batch_sizes=(32, 128), seq_len=10, steps=1000,
                         log_every=20, eval_every=500, num_classes=5).isel(num_tasks=0, drop=True)
    src = Source(with_labels(ds, "scheme", ["task", "labels"], ["transformer"] * 2), name="bias")
    made = paper.plateau_figures(src)
    assert [s for s, _ in made] == ["_scheme-task", "_scheme-labels"]
    lines = [s for s in made[0][1].figure.layout.shapes if s.type == "line" and s.y0 == s.y1]
    assert [round(s.y0, 4) for s in lines] == [round(float(np.log(5)), 4)], "the plateau sits at ln K"
    with pytest.raises(StoreProblem, match="no axis of models"):
        paper.table1(src)  # its labels are schemes, not models


def test_preferred_stores_for_fig3_and_table1(fig2_source, table_source, plateau_source):
    result = paper_export.paper_set([plateau_source, table_source, fig2_source])
    stems = {m.item: [] for m in result.made}
    for m in result.made:
        stems[m.item].append(m.stem)
    assert stems["fig2"] == ["fig2_paper_fig2"] and stems["fig4"] == ["fig4_paper_fig2"]
    assert stems["fig3"] == ["fig3_paper_fig2"], "a store that sweeps num_tasks is preferred for Fig. 3"
    assert stems["table1"] == ["table1_paper_table1"], "a store at one task count is preferred for Table 1"
    assert stems["plateau"] == ["plateau_plateau_batch"]
    assert sorted(stems["statesize"]) == ["statesize_paper_fig2", "statesize_paper_table1"]
    assert not result.missing


def test_export_paper_writes_svgs_csvs_and_latex(tmp_path, fig2_source, table_source, plateau_source):
    from conftest_browser import require_chromium

    require_chromium()
    paths = []
    for src, name in ((fig2_source, "paper_fig2"), (table_source, "paper_table1"), (plateau_source, "plateau_batch")):
        path = tmp_path / f"{name}.zarr"
        _write(src.ds, path)
        paths.append(str(path))
    written, lines = paper_export.export_paper(paths, tmp_path / "out", "svg")
    names = {p.name for p in written}
    assert {"fig2_paper_fig2.svg", "fig3_paper_fig2.svg", "fig4_paper_fig2.svg", "plateau_plateau_batch.svg",
            "table1_paper_table1.csv", "table1_paper_table1.tex"} <= names
    for p in written:
        if p.suffix == ".svg":
            assert ET.parse(p).getroot().tag.endswith("svg")
            assert (p.with_suffix(".csv")).is_file()
    assert not any(n.startswith("table1") and n.endswith(".svg") for n in names)
    assert (tmp_path / "out" / "paper_export.txt").read_text().splitlines() == lines


def _write(ds, path):
    """Write a (relabelled) synthetic Dataset as a store, the way the sweep runner lays one out."""
    from gpicl_phase import store

    axes = {d: ds[d].values.tolist() for d in ds["status"].dims}
    coords = {n: {"dims": list(c.dims), "values": c.values.tolist()} for n, c in ds.coords.items()
              if n.startswith("cfg_")}
    store.create(path, axes=axes, log_steps=ds["log_step"].values.tolist(), eval_steps=ds["eval_step"].values.tolist(),
                 streams=[str(s) for s in ds["stream"].values], seq_len=ds.sizes["position"], attrs=dict(ds.attrs),
                 cell_coords=coords)
    store.write_all(path, ds)


def test_cli_paper_without_chromium_still_writes_tables(tmp_path, table_source, monkeypatch, capsys):
    path = tmp_path / "paper_table1.zarr"
    _write(table_source.ds, path)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    assert cli.main(["export", "--paper", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "tables and CSVs were written" in capsys.readouterr().err
    assert (tmp_path / "out" / "table1_paper_table1.tex").read_text().count(r"\\") == 4
    assert cli.main(["export", "--paper", str(tmp_path / "missing.zarr"), "--out", str(tmp_path)]) == 2
    assert "no results store" in capsys.readouterr().err


def test_table1_sits_beside_the_papers_numbers(table_source):
    df = paper_numbers.beside_paper(paper.table1(table_source))
    assert list(df.columns[3:]) == ["MNIST-10k", "MNIST-10k std", "paper MNIST-10k", "Random", "Random std",
                                    "paper Random", "FashionMNIST", "FashionMNIST std", "paper FashionMNIST"]
    # sgd, lstm, transformer rows: the paper's MNIST / Random / FashionMNIST columns of its Table 1
    assert list(df["paper MNIST-10k"]) == [70.31, 25.39, 73.70]
    assert list(df["paper Random"]) == [100.00, 58.72, 100.00]
    assert list(df["paper FashionMNIST"]) == [50.78, 28.12, 62.24]
    assert np.isnan(paper_numbers.paper_value("mlp", "MNIST")) and np.isnan(paper_numbers.paper_value("sgd", "EMNIST"))
    tex = paper.table1_latex(df, paper.table1_caption(df))
    lstm_row = next(line for line in tex.splitlines() if line.startswith("lstm & "))
    assert lstm_row.count("(") == 3 and "(25.39)" in lstm_row and "(58.72)" in lstm_row
    assert "in parentheses the paper's Table 1" in tex and "Setting vs the paper" in tex


def test_setting_differences_name_what_differs():
    from gpicl_phase.config import RunConfig

    text = paper_numbers.setting_differences(RunConfig(num_classes=3, image_size=4, seq_len=20, steps=3000,
                                                       batch_size=64, num_tasks=16384, eval_every=250))
    assert "K = 3 classes (paper 10" in text and "4x4 images (paper 14x14)" in text
    assert "after 19 examples (paper 99)" in text and "mnist10k" in text and "16,384 tasks" in text
    same = paper_numbers.setting_differences(RunConfig(num_classes=10, image_size=14, seq_len=100, dataset="mnist"))
    assert "classes" not in same and "images" not in same and "examples" not in same
