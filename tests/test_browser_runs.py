"""The runs explorer in headless Chromium: the grid fills, sorts and filters; ticked rows draw their curves;
brushing the parallel coordinates narrows the grid; the console stays clean. Screenshot: docs/screenshots/runs.png.
"""

from __future__ import annotations

import pytest
from conftest_browser import LiveServer
from test_browser import assert_clean_console, plot, shoot, wait_for

from app.main import create_app
from app.pages import runs as page
from gpicl_phase.testing import synthetic_store

pytestmark = pytest.mark.browser
RUNS = 3 * 9 * 2 * 2  # d_model x num_tasks x batch size x seed
API = f"dash_ag_grid.getApi('{page.GRID}')"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs-browser")
    synthetic_store(root / "sweep.zarr", d_models=(16, 32, 64), batch_sizes=(32, 128), seq_len=50, steps=4000,
                    log_every=40, eval_every=1000, nan_runs=0.03, seed=2)
    server = LiveServer(create_app([str(root / "sweep.zarr")], poll_ms=60_000))
    yield server
    server.stop()


def first_run(browser) -> str:
    return browser.execute_script(f"return {API}.getDisplayedRowAtIndex(0).data.run;")


def open_page(live, browser):
    browser.get(live.url + "/runs?store=sweep")
    wait_for(browser, f"try {{ return {API}.getDisplayedRowCount() === {RUNS}; }} catch (e) {{ return false; }}",
             f"the grid with all {RUNS} runs")
    plot(browser, page.PARCOORDS, "the parallel coordinates")


def test_grid_sorts_and_filters(live, browser):
    open_page(live, browser)
    assert "of 108" in browser.find_element("css selector", ".ag-paging-panel").text  # paginated
    before = first_run(browser)
    header = ".ag-header-cell[col-id='final_loss'] .ag-header-cell-label"
    browser.find_element("css selector", header).click()  # ascending
    wait_for(browser, f"return {API}.getColumnState().some(c => c.colId === 'final_loss' && c.sort === 'asc');",
             "the grid sorted by final loss")
    losses = browser.execute_script(
        f"const a = {API}; return [0, 1, 2, 3].map(i => a.getDisplayedRowAtIndex(i).data.final_loss);")
    assert losses == sorted(losses) and first_run(browser) != before
    # A text filter on the phase column, typed into its filter box under the header.
    at = browser.find_element("css selector", ".ag-header-cell[col-id='phase']").get_attribute("aria-colindex")
    browser.find_element("css selector", f".ag-floating-filter[aria-colindex='{at}'] input").send_keys("generalizing")
    wait_for(browser, f"return {API}.getDisplayedRowCount() < {RUNS};", "fewer rows after the phase filter")
    phases = browser.execute_script(
        f"const a = {API}; const out = []; a.forEachNodeAfterFilter(n => out.push(n.data.phase)); return out;")
    assert phases and set(phases) == {"generalizing"}
    browser.execute_script(f"const a = {API}; a.setFilterModel(null);"
                           " a.applyColumnState({defaultState: {sort: null}});")
    wait_for(browser, f"return {API}.getDisplayedRowCount() === {RUNS};", "all rows back")
    assert_clean_console(browser)


def test_ticked_rows_overlay_their_curves(live, browser):
    open_page(live, browser)
    for i in (0, 1):
        box = browser.find_element("css selector", f".ag-row[row-index='{i}'] input.ag-checkbox-input")
        box.click()
    wait_for(browser, f"""const gd = document.querySelector('#{page.LOSS} .js-plotly-plot');
        return gd && gd.data && gd.data.filter(t => t.type === 'scatter').length === 2;""", "two loss curves")
    acc = plot(browser, page.ACC, "the accuracy overlay")
    assert acc["types"].count("scatter") == 2 * 4  # two runs x four streams
    assert_clean_console(browser)


def test_brushing_the_parallel_coordinates_narrows_the_grid(live, browser):
    open_page(live, browser)
    labels = browser.execute_script(
        f"return document.querySelector('#{page.PARCOORDS} .js-plotly-plot').data[0].dimensions.map(d => d.label);")
    i = labels.index("num tasks")
    # What a drag along the axis does: plotly restyles the dimension's constraint range and tells Dash.
    browser.execute_script(f"""const gd = document.querySelector('#{page.PARCOORDS} .js-plotly-plot');
        Plotly.restyle(gd, {{'dimensions[{i}].constraintrange': [[7, 13]]}}, [0]);""")
    # log2 task counts 8, 10, 12: 3 of 9 task counts
    wait_for(browser, f"return {API}.getDisplayedRowCount() === {RUNS // 3};", "the grid narrowed to the brush")
    tasks = browser.execute_script(
        f"const a = {API}; const out = new Set(); a.forEachNodeAfterFilter(n => out.add(n.data.num_tasks));"
        " return Array.from(out).sort((x, y) => x - y);")
    assert tasks == [256, 1024, 4096]
    wait_for(browser, f"return document.getElementById('{page.COUNT}').innerText.includes('inside the brush');",
             "the brush count")
    for row in (0, 3):
        browser.find_element("css selector", f".ag-row[row-index='{row}'] input.ag-checkbox-input").click()
    plot(browser, page.LOSS, "the loss overlay")
    browser.set_window_size(1400, 2150)  # the whole page: brush, grid and curves
    try:
        shoot(browser, "runs")
    finally:
        browser.set_window_size(1400, 1000)
    browser.execute_script(f"""const gd = document.querySelector('#{page.PARCOORDS} .js-plotly-plot');
        Plotly.restyle(gd, {{'dimensions[{i}].constraintrange': null}}, [0]);""")
    wait_for(browser, f"return {API}.getDisplayedRowCount() === {RUNS};", "all rows after clearing the brush")
    assert_clean_console(browser)
