"""The app in headless Chromium: pages render, a click opens a cell, the URL round-trips, the console is clean.

Screenshots of every page go to docs/screenshots/ (the README shows them; look at them after UI changes).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest_browser import LiveServer

from app.main import create_app
from gpicl_phase import store
from gpicl_phase.testing import synthetic_store

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
TIMEOUT = 20


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The app on a finished sweep, a sweep still being written, and a store of an older schema."""
    root = tmp_path_factory.mktemp("browser")
    small = dict(d_models=(16, 32, 64), batch_sizes=(32, 128), seq_len=50, steps=4000, log_every=40, eval_every=1000)
    synthetic_store(root / "sweep.zarr", nan_runs=0.03, seed=2, **small)
    synthetic_store(root / "running.zarr", missing=0.4, nan_runs=0.05, seed=5, **small)
    store.set_status(root / "running.zarr", [{"d_model": 0, "num_tasks": 8, "batch_size": 0, "seed": 0}], "running")
    synthetic_store(root / "old.zarr", d_models=(16,), num_tasks=(1, 4), seq_len=5, steps=100, log_every=10)
    meta = json.loads((root / "old.zarr" / "zarr.json").read_text())
    meta["attributes"]["schema_version"] = 0
    (root / "old.zarr" / "zarr.json").write_text(json.dumps(meta))
    server = LiveServer(create_app([str(root / n) for n in ("sweep.zarr", "running.zarr", "old.zarr")], poll_ms=500))
    server.root = root
    yield server
    server.stop()


def wait_for(browser, script: str, what: str):
    """Wait until a JS expression is truthy; fail naming what did not appear."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, TIMEOUT, poll_frequency=0.1).until(lambda d: d.execute_script(script))
    except TimeoutException:
        pytest.fail(f"timed out waiting for {what}; page text: {browser.find_element('tag name', 'body').text[:500]}")


def plot(browser, graph_id: str, what: str = "a drawn figure") -> dict:
    """Trace types, layout title and colorbar title of a graph once its figure (not the placeholder) is drawn."""
    js = f"""const gd = document.querySelector('#{graph_id} .js-plotly-plot');
        if (!gd || !gd.data || !gd.data.length) return null;
        return {{types: gd.data.map(t => t.type), title: (gd.layout.title || {{}}).text || '',
                colorbar: (((gd.layout.coloraxis || {{}}).colorbar || {{}}).title || {{}}).text || ''}};"""
    return wait_for(browser, js, f"{what} in #{graph_id}")


def query(browser) -> dict:
    return dict(parse_qsl(urlsplit(browser.current_url).query))


def assert_clean_console(browser):
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"browser console errors: {errors}"


def shoot(browser, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def test_phase_diagram_renders_and_a_click_opens_the_cell(live, browser):
    browser.get(live.url + "/phase?store=sweep")
    fig = plot(browser, "phase-graph", "the phase heatmaps")
    assert fig["types"].count("heatmap") == 6 and "Phases of sweep" in fig["title"]  # 2 panels x 3 model sizes
    assert {"color": "phase", "y": "d_model", "facet": "batch_size"}.items() <= query(browser).items()
    shoot(browser, "phase")
    # Click the top-right cell of the first panel: the biggest model on the most tasks.
    from selenium.webdriver.common.action_chains import ActionChains

    drag = browser.find_element("css selector", "#phase-graph .nsewdrag")
    w, h = drag.size["width"], drag.size["height"]
    ActionChains(browser).move_to_element_with_offset(drag, int(w * 0.45), int(-h * 0.4)).pause(0.3).click().perform()
    wait_for(browser, "return location.pathname === '/detail'", "the detail page after clicking a cell")
    q = query(browser)
    assert q["store"] == "sweep" and q["d_model"] == "64" and q["num_tasks"] == "65536" and q["batch_size"] == "32"
    acc = plot(browser, "detail-acc", "the per-position accuracy curves")
    assert "In-context learning" in acc["title"]
    plot(browser, "detail-loss", "the training loss")
    wait_for(browser, "return document.body.innerText.includes('param_count')", "the runs table")
    shoot(browser, "detail")
    assert_clean_console(browser)


def test_url_round_trips_through_reload_and_navigation(live, browser):
    browser.get(live.url + "/phase?store=sweep&color=acc%3Aunseen&facet=none&batch_size=128")
    fig = plot(browser, "phase-graph")
    assert fig["types"].count("heatmap") == 3 and fig["colorbar"].startswith("unseen accuracy")  # a row per size
    assert "(batch_size=128)" in fig["title"]
    browser.refresh()
    fig = plot(browser, "phase-graph")
    assert fig["colorbar"].startswith("unseen accuracy")
    assert {"color": "acc:unseen", "facet": "none", "batch_size": "128"}.items() <= query(browser).items()
    # Choosing a value in a dropdown writes it into the URL.
    browser.execute_script("""document.getElementById('{"key":"color","type":"q"}').click()""")
    option = "document.querySelector('[role=option] input[value=\"phase\"]')"
    wait_for(browser, f"return {option}", "the colour options")
    browser.execute_script(f"{option}.closest('[role=option]').click()")
    wait_for(browser, "return location.search.includes('color=phase')", "color=phase in the URL")
    # The navigation keeps the selections.
    browser.find_element("link text", "Loss plateaus").click()
    wait_for(browser, "return location.pathname === '/plateau'", "the plateau page")
    assert query(browser)["batch_size"] == "128"
    assert "Loss plateaus in sweep" in plot(browser, "plateau-graph")["title"]
    assert_clean_console(browser)


@pytest.mark.parametrize("path, graph, title", [
    ("/plateau?store=sweep&num_tasks=65536", "plateau-graph", "Loss plateaus"),
    ("/improvement?store=sweep", "improvement-graph", "In-context improvement"),
    ("/statesize?store=sweep", "statesize-graph", "State size"),
    ("/progress?store=running", "progress-graph", "Sweep progress"),
])
def test_every_page_renders(live, browser, path, graph, title):
    browser.get(live.url + path)
    assert title in plot(browser, graph)["title"]
    if "running" in path:
        wait_for(browser, "return document.body.innerText.includes('Sweep in progress')", "the in-progress banner")
    shoot(browser, path.split("?")[0].strip("/"))
    assert_clean_console(browser)


def test_export_button_writes_the_figure_shown(live, browser):
    browser.get(live.url + "/improvement?store=sweep&d_model=32")
    plot(browser, "improvement-graph")
    browser.find_element("id", "export-btn").click()
    wait_for(browser, "return document.body.innerText.includes('exported sweep_improvement_d_model-32')",
             "the export, named by its selection")
    assert_clean_console(browser)


def test_a_page_updates_by_itself_while_the_sweep_writes(live, browser):
    browser.get(live.url + "/progress?store=running")
    assert "0 failed" in plot(browser, "progress-graph")["title"]
    cell = {"d_model": 1, "num_tasks": 0, "batch_size": 1, "seed": 1}
    store.set_status(live.root / "running.zarr", [cell], "failed", "out of memory (planted by the test)")
    wait_for(browser, "return document.body.innerText.includes('out of memory (planted by the test)')",
             "the failed run, without reloading the page")
    assert "1 failed" in plot(browser, "progress-graph")["title"]
    assert_clean_console(browser)


def test_an_older_store_gets_a_message_not_a_traceback(live, browser):
    browser.get(live.url + "/phase?store=old")
    wait_for(browser, "return document.body.innerText.includes('schema_version 0')", "the schema message")
    assert "Traceback" not in browser.find_element("tag name", "body").text
    assert_clean_console(browser)
