"""The app's dead ends, in headless Chromium: every way a reader could get stuck or be shown the wrong thing.

A store a page cannot draw, stores that do not combine, a store without a seed axis, a link to values the
store lacks: each must leave a message and a way on, never a blank panel or a silent substitute.
"""

from __future__ import annotations

import pytest
from conftest_browser import LiveServer
from test_browser import assert_clean_console, plot, wait_for

from app.main import create_app
from gpicl_phase import store
from gpicl_phase.testing import synthetic_store

pytestmark = pytest.mark.browser
PICKER = '{"key":"store","type":"q"}'  # the id Dash gives the store dropdown


def write(path, ds) -> None:
    """Write a synthetic Dataset (possibly with axes dropped) as a store."""
    axes = {d: ds[d].values.tolist() for d in ds["status"].dims}
    store.create(path, axes=axes, log_steps=ds["log_step"].values.tolist(), eval_steps=ds["eval_step"].values.tolist(),
                 streams=[str(s) for s in ds["stream"].values], seq_len=ds.sizes["position"], attrs=dict(ds.attrs))
    store.write_all(path, ds)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """First a store the phase page cannot draw (no num_tasks axis), then one without seeds, then a sweep."""
    root = tmp_path_factory.mktemp("paths")
    small = dict(seq_len=20, steps=2000, log_every=40, eval_every=500)
    batch = synthetic_store(d_models=(16, 32), num_tasks=(1024,), batch_sizes=(32, 128, 512), **small)
    write(root / "batchonly.zarr", batch.isel(num_tasks=0, drop=True))
    noseed = synthetic_store(d_models=(16, 32), num_tasks=(1, 64, 4096), seeds=(0,), **small)
    write(root / "noseed.zarr", noseed.isel(seed=0, drop=True))
    synthetic_store(root / "sweep.zarr", d_models=(16, 32), batch_sizes=(32, 128), **small)
    server = LiveServer(create_app([str(root / n) for n in ("batchonly.zarr", "noseed.zarr", "sweep.zarr")]))
    yield server
    server.stop()


def body_has(browser, text: str, what: str):
    wait_for(browser, f"return document.body.innerText.includes({text!r})", what)


def pick_store(browser, name: str):
    browser.execute_script(f"document.getElementById('{PICKER}').click()")
    option = f"document.querySelector('[role=option] input[value=\"{name}\"]')"
    wait_for(browser, f"return {option}", f"the store option {name}")
    browser.execute_script(f"{option}.closest('[role=option]').click()")


def test_the_landing_page_keeps_a_way_to_the_other_stores(live, browser):
    browser.get(live.url + "/")
    body_has(browser, "needs a swept 'num_tasks' axis", "the reason the first store has no phase diagram")
    wait_for(browser, f"return document.getElementById('{PICKER}')", "the store picker")
    pick_store(browser, "sweep")
    assert "Phases of sweep" in plot(browser, "phase-graph", "the sweep's phase diagram")["title"]
    assert_clean_console(browser)


def test_combined_stores_are_offered_only_when_they_combine(live, browser):
    browser.get(live.url + "/plateau?store=all")
    body_has(browser, "asked for all stores combined, which is not available", "why 'all' is not shown")
    wait_for(browser, "return !location.search.includes('store=all')", "the URL naming the store shown")
    hrefs = browser.execute_script("return [...document.querySelectorAll('#nav-bar a')].map(a => a.href)")
    assert hrefs and not any("store=all" in h for h in hrefs), hrefs
    browser.execute_script(f"document.getElementById('{PICKER}').click()")
    wait_for(browser, "return document.querySelector('[role=option]')", "the store options")
    labels = browser.execute_script("return [...document.querySelectorAll('[role=option]')].map(o => o.innerText)")
    assert not any("combined" in label for label in labels), labels
    assert_clean_console(browser)


def test_a_store_without_seeds_draws_its_training_loss(live, browser):
    browser.get(live.url + "/detail?store=noseed&d_model=32&num_tasks=4096")
    plot(browser, "detail-loss", "the training loss")
    n = wait_for(browser, """const gd = document.querySelector('#detail-loss .js-plotly-plot');
        const runs = gd._fullData.filter(t => t.name === 'run');  // decoded arrays (data may hold bdata)
        return runs.length && runs[0].x.length;""", "a drawn loss curve")
    assert n == 50  # 2000 steps logged every 40
    text = browser.find_element("tag name", "body").text
    assert "None" not in text
    assert_clean_console(browser)


def test_a_link_to_values_the_store_lacks_says_so(live, browser):
    browser.get(live.url + "/detail?store=sweep&d_model=999&num_tasks=3")
    body_has(browser, "asked for d_model=999, which is not in 'sweep' (d_model: 16, 32)", "the warning")
    body_has(browser, "asked for num_tasks=3", "the second warning")
    plot(browser, "detail-acc", "the cell shown instead")
    assert_clean_console(browser)


def test_the_plateau_page_opens_on_runs_that_leave_the_plateau(live, browser):
    browser.get(live.url + "/plateau?store=sweep")
    plot(browser, "plateau-graph", "the plateau figure")
    points = wait_for(browser, """const gd = document.querySelector('#plateau-graph .js-plotly-plot');
        return gd._fullData.filter(t => t.xaxis === 'x2' && t.mode === 'markers').map(t => t.x.length)[0] || 0;""",
                      "plateau lengths in the right panel")
    assert points > 0
    assert_clean_console(browser)
