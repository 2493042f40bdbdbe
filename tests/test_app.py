"""App callbacks called as plain functions: routing, URL state, polling, bad stores, export, serve."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import dash
import pytest
from dash_helpers import find_ids, texts

from app import callbacks, ids, urls
from app.data import Stores, store_names
from app.main import create_app, serve
from app.pages import detail, phase, progress
from gpicl_phase import store
from gpicl_phase.testing import synthetic_store


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """A finished sweep, a half-written one, an empty one, an older-schema one and a path that is no store."""
    root = tmp_path_factory.mktemp("stores")
    small = dict(d_models=(16, 64), batch_sizes=(32, 128), seq_len=20, steps=2000, log_every=40, eval_every=500)
    synthetic_store(root / "done.zarr", **small)
    synthetic_store(root / "half.zarr", missing=0.5, seed=3, **small)
    synthetic_store(root / "empty.zarr", missing=1.0, **small)
    synthetic_store(root / "old.zarr", **small)
    meta = json.loads((root / "old.zarr" / "zarr.json").read_text())
    meta["attributes"]["schema_version"] = 0  # what a store from an earlier release would say
    (root / "old.zarr" / "zarr.json").write_text(json.dumps(meta))
    (root / "notes").mkdir()
    paths = {name: str(root / f"{name}.zarr") for name in ("done", "half", "empty", "old")}
    return paths | {"notes": str(root / "notes")}


@pytest.fixture
def stores(paths):
    return Stores(list(paths.values()), token_ttl_s=0)  # tests change stores and look at once


def test_create_app_builds_a_dash_app_without_reading_stores(paths):
    app = create_app(list(paths.values()))
    assert isinstance(app, dash.Dash)
    assert app.stores.names == ["done", "half", "empty", "old", "notes"], "no 'all': old and notes do not open"
    assert ids.PAGE in str(app.layout)


def test_store_names_are_unique_and_url_friendly():
    assert store_names(["a/x.zarr", "b/x.zarr", "c/y"]) == {"x": "a/x.zarr", "x-2": "b/x.zarr", "y": "c/y"}


def test_urls_round_trip():
    query = {"store": "done", "color": "acc:unseen", "adam_eps": 1e-08, "empty": ""}
    assert urls.parse(urls.build(query)) == {"store": "done", "color": "acc:unseen", "adam_eps": "1e-08"}
    assert urls.page_of("/") == "/phase" and urls.page_of("/nope") == "/phase"


def test_version_changes_only_when_the_store_or_layout_does(stores, paths):
    v = callbacks.version(stores, "/phase", "?store=half", None)
    assert v["store"] == "half" and v["page"] == "/phase"
    assert callbacks.version(stores, "/phase", "?store=half&color=acc:unseen", v) is dash.no_update
    assert callbacks.version(stores, "/phase", "?store=half&facet=batch_size", v) is dash.no_update, "a default"
    assert callbacks.version(stores, "/phase", "?store=half&facet=none", v)["layout"] == ["d_model", "none"]
    store.set_status(paths["half"], [{"d_model": 0, "num_tasks": 0, "batch_size": 0, "seed": 0}], "running")
    assert callbacks.version(stores, "/phase", "?store=half", v)["token"] != v["token"]


def test_route_renders_controls_from_the_url(stores):
    v = callbacks.version(stores, "/phase", "?store=done&color=acc:unseen&facet=none", None)
    body = callbacks.route(stores, v, "?store=done&color=acc:unseen&facet=none")
    found = find_ids(body)
    assert ids.query("color") in found and phase.GRAPH in found
    assert ids.query("batch_size") in found, "with no facet, batch size becomes a slice control"
    values = {c.id["key"]: c.value for c in _dropdowns(body)}
    assert values["color"] == "acc:unseen" and values["facet"] == "none" and values["store"] == "done"


def _dropdowns(component) -> list:
    out = []
    if isinstance(component, (list, tuple)):
        for c in component:
            out += _dropdowns(c)
    elif hasattr(component, "to_plotly_json"):
        if isinstance(getattr(component, "id", None), dict) and component.id.get("type") == "q":
            out.append(component)
        out += _dropdowns(getattr(component, "children", None))
    return out


@pytest.mark.parametrize("name, says", [
    ("notes", "not a Zarr v3 results store"),
    ("old", "schema_version 0"),
])
def test_bad_stores_get_a_readable_page(stores, name, says):
    v = callbacks.version(stores, "/phase", f"?store={name}", None)
    page = texts(callbacks.route(stores, v, f"?store={name}"))
    assert says in page and "Traceback" not in page


def test_missing_path_gets_a_message(tmp_path):
    s = Stores([str(tmp_path / "nowhere.zarr")])
    v = callbacks.version(s, "/progress", "", None)
    assert "does not exist" in texts(callbacks.route(s, v, ""))


def test_empty_store_says_no_runs_yet_but_shows_progress(stores):
    fig = phase.figure(stores, "?store=empty")
    assert "no finished runs yet" in fig.layout.annotations[0].text
    fig, _ = progress.view(stores, "?store=empty")
    assert "pending" in fig.layout.title.text
    banner = callbacks.banner(stores, callbacks.version(stores, "/phase", "?store=empty", None))
    assert "Sweep in progress" in texts(banner)


def test_half_written_store_draws_what_is_done(stores):
    fig = phase.figure(stores, "?store=half")
    assert [t.type for t in fig.data].count("heatmap") == 4  # 2 panels (batch sizes) x 2 rows (d_model)
    assert callbacks.banner(stores, callbacks.version(stores, "/phase", "?store=done", None)) is None


def test_all_stores_combined_only_when_they_combine(stores, paths, tmp_path):
    # These stores do not combine: 'all' is not offered, a link asking for it says why and shows a store.
    assert "all" not in stores.names and "not a Zarr v3 results store" in stores.why_not_combined()
    v = callbacks.version(stores, "/plateau", "?store=all", None)
    assert v["store"] == "done"
    body = callbacks.route(stores, v, "?store=all")
    assert "all stores combined, which is not available" in texts(body) and "not a Zarr v3" in texts(body)
    assert ids.query("store") in find_ids(body), "the store picker stays"
    # Two stores with the same axes combine along arch.
    synthetic_store(tmp_path / "a.zarr", d_models=(16,), num_tasks=(1, 16), seq_len=10, steps=200, log_every=20)
    synthetic_store(tmp_path / "b.zarr", d_models=(16,), num_tasks=(1, 16), seq_len=10, steps=200, log_every=20,
                    seed=1)
    both = Stores([str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")])
    assert both.names == ["a", "b", "all"] and both.why_not_combined() == ""
    assert [t.type for t in phase.figure(both, "?store=all").data].count("heatmap") >= 2


def test_a_page_the_store_cannot_make_keeps_the_store_picker(stores):
    # Pages whose figure the first store cannot make still offer the other stores (no dead end).
    v = callbacks.version(stores, "/phase", "?store=notes", None)
    body = callbacks.route(stores, v, "?store=notes")
    assert "not a Zarr v3" in texts(body) and ids.query("store") in find_ids(body)
    v = callbacks.version(stores, "/detail", "?store=empty", None)
    assert ids.query("store") in find_ids(callbacks.route(stores, v, "?store=empty"))


def test_a_link_to_values_the_store_lacks_says_so(stores):
    search = "?store=done&d_model=999&num_tasks=3"
    body = callbacks.route(stores, callbacks.version(stores, "/detail", search, None), search)
    text = texts(body)
    assert "asked for d_model=999, which is not in 'done' (d_model: 16, 64)" in text
    assert "asked for num_tasks=3" in text
    search = "?store=nope"
    text = texts(callbacks.route(stores, callbacks.version(stores, "/phase", search, None), search))
    assert "asked for store 'nope', which is not open here" in text
    good = "?store=done&d_model=16"
    assert "asked for" not in texts(callbacks.route(stores, callbacks.version(stores, "/detail", good, None), good))


def test_downloads_name_the_selection_and_the_format():
    a = callbacks.download_stem("cpu_phase", "phase", {"store": "cpu_phase", "color": "acc:unseen"})
    b = callbacks.download_stem("cpu_phase", "phase", {"store": "cpu_phase", "color": "phase"})
    assert a == "cpu_phase_phase_color-acc-unseen" and a != b
    long = callbacks.download_stem("s", "phase", {f"axis{i}": "x" * 20 for i in range(10)})
    assert len(long) <= 120 and long != callbacks.download_stem("s", "phase", {f"axis{i}": "y" * 20 for i in range(10)})


def test_sync_url_merges_controls_into_the_query():
    cids = [ids.query("color"), ids.query("facet")]
    new = callbacks.sync_url(["acc:seen", "none"], cids, "?store=done&color=phase")
    assert urls.parse(new) == {"store": "done", "color": "acc:seen", "facet": "none"}
    assert callbacks.sync_url(["phase", None], cids, "?store=done&color=phase") is dash.no_update
    assert callbacks.sync_url([], [], "?x=1") is dash.no_update


def test_click_on_a_cell_opens_its_detail(stores):
    fig = phase.figure(stores, "?store=done")
    key = fig.data[1].customdata[0][-1]  # first panel, second row (d_model=64), last task count
    path, search = phase.click_target({"points": [{"customdata": key}]}, "?store=done&color=phase")
    assert path == "/detail"
    q = urls.parse(search)
    assert q["store"] == "done" and q["d_model"] == "64" and q["batch_size"] == "32"
    acc, loss, info = detail.view(stores, search)
    assert [t.name for t in acc.data if t.name][:2] == ["seen", "unseen"]
    assert "d_model=64" in texts(info)
    assert phase.click_target(None, "") == (dash.no_update, dash.no_update)


def test_nav_links_keep_the_selections():
    navs = [{"type": ids.NAV, "page": p} for p in urls.PAGES]
    assert callbacks.nav_hrefs("?store=a", navs)[0] == "/phase?store=a"


def test_export_button_zips_figure_and_csv(stores):
    from conftest_browser import require_chromium

    require_chromium()
    data, msg = callbacks.export_download(stores, "/plateau", "?store=done", "svg", "paper")
    assert "done_plateau.svg" in msg and data["filename"] == "done_plateau_svg.zip"
    import base64

    with zipfile.ZipFile(io.BytesIO(base64.b64decode(data["content"]))) as z:
        assert sorted(z.namelist()) == ["done_plateau.csv", "done_plateau.svg"]
        assert z.read("done_plateau.svg").startswith(b"<svg")


def test_export_of_a_bad_store_is_a_message(stores):
    data, msg = callbacks.export_download(stores, "/phase", "?store=old", "svg", "paper")
    assert data is dash.no_update and "schema_version" in texts(msg)


def test_serve_warns_beyond_localhost_and_uses_waitress_unless_debugging(monkeypatch, capsys, paths):
    import waitress

    ran, debugged = {}, {}
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: ran.update(kw, app=app))
    monkeypatch.setattr(dash.Dash, "run", lambda self, **kw: debugged.update(kw))
    serve([paths["done"]], host="0.0.0.0", port=8123)
    assert {k: ran[k] for k in ("host", "port")} == {"host": "0.0.0.0", "port": 8123} and not debugged
    assert ran["app"].__class__.__name__ == "Flask"
    assert "warning" in capsys.readouterr().err
    serve([paths["done"]], port=8124, debug=True)
    assert debugged == {"host": "127.0.0.1", "port": 8124, "debug": True}
    serve([paths["done"]], host="127.0.0.1", port=8123)
    assert "warning" not in capsys.readouterr().err
    assert Path(paths["done"]).exists()


def test_a_store_being_written_is_patched_not_reloaded(tmp_path):
    """After runs finish, the cached data equals a fresh read, though only the changed runs were re-read."""
    import numpy as np
    import xarray as xr

    from gpicl_phase.figures.source import LOAD_VARS, load_source

    path = tmp_path / "live.zarr"
    full = synthetic_store(path, d_models=(16,), num_tasks=(1, 16, 256), seq_len=10, steps=400, log_every=40,
                           eval_every=200, missing=1.0)
    done = synthetic_store(d_models=(16,), num_tasks=(1, 16, 256), seq_len=10, steps=400, log_every=40,
                           eval_every=200)
    s = Stores([str(path)], token_ttl_s=0)  # every call sees the store as it is now
    first = s.get("live")
    assert first.data["eval_acc"].isnull().all()
    cell = {"d_model": 0, "num_tasks": 1, "seed": 1}
    run = done.isel(cell)
    store.write_cell(path, cell, **{v: run[v].values for v in ("train_loss", "grad_norm", "eval_acc", "eval_loss")},
                     param_count=int(run.param_count), state_size=int(run.state_size), wall_time=1.0, status="done")
    second = s.get("live")
    assert second is not first and second.preloaded is not None, "patched from the first Source"
    fresh = load_source(path, status=store.read_status(path)).data
    xr.testing.assert_identical(second.data[list(LOAD_VARS) + ["status"]], fresh[list(LOAD_VARS) + ["status"]])
    assert np.isfinite(second.data["eval_acc"].isel(cell)).all() and full is not None
