"""Benchmark: the runs explorer page (`app/pages/runs.py`) on the 10,000-run synthetic store of benchmark 6.

Each page callback is called as the app calls it and its output serialized as Dash sends it (`dash._utils.to_json`):
- the grid's data (`runs.table`: every run, column-wise), the parallel coordinates (`runs.parcoords`) and the
  scatter (`runs.scatter`): cold (a fresh `Stores`: open, load, classify, build the runs frame, then the
  callback) and warm (the same `Stores`, as every later callback of a page view);
- a brush on the parallel coordinates (`runs.brush`: row positions inside), the curves of 20 ticked runs
  (`runs.overlay`), and the page body (`runs.body`), warm;
- with `--browser` (needs Chromium): the page in headless Chromium, from navigation until the grid holds every
  run and both plots are drawn; from a brush event until the grid shows the runs inside it; from ticking two
  runs until their curves are drawn.

Targets (the issue): table and plots respond in under 1 s warm and under 2 s cold at 10,000 runs.

    python benchmarks/bench_runs_explorer.py [--quick] [--browser] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import common
from bench_store import big_store
from common import interleaved, row, timed_row

BENCH = "runs explorer"
WARM_S, COLD_S = 1.0, 2.0


def callback_rows(path, runs: int, repeats: int) -> list[dict]:
    """Cold and warm times of the page's callbacks, each with its JSON serialization."""
    from dash._utils import to_json

    from app.data import Stores
    from app.pages import runs as page

    case = f"synthetic {runs:,}-run store"
    search = "?store=" + path.name.removesuffix(".zarr")
    warm = Stores([str(path)])
    columns, count = page.table(warm, search)
    if columns is None or len(columns["run"]) != runs:
        raise RuntimeError(f"the table callback did not list every run: {count}")
    frame = page.frame(warm, search)
    metric = "improvement[unseen]"
    sent = {}

    def send(name, out):
        sent[name] = len(to_json(out))

    calls = {
        "table": lambda s: send("table", page.table(s, search)),
        "parcoords": lambda s: send("parcoords", page.parcoords(s, search, metric, None)),
        "scatter": lambda s: send("scatter", page.scatter(s, search, metric, "num_tasks")),
    }
    cold = interleaved({name: (lambda fn=fn: fn(Stores([str(path)]))) for name, fn in calls.items()}, repeats,
                       warmup=0)
    rows = [timed_row(BENCH, case, f"{name} callback cold", t, target=f"< {COLD_S:g}",
                      met=statistics.median(t) < COLD_S,
                      note="fresh Stores: status, open, load, metrics, phases, runs frame, callback, JSON "
                           f"({sent[name] / 1e6:.2f} MB)") for name, t in cold.items()]

    columns_drawn = page.fig_by.parcoords_columns(frame, metric)
    event = [{f"dimensions[{columns_drawn.index('num_tasks')}].constraintrange": [[7.5, 12.5]]}, [0]]
    ticked = [{"run": r} for r in frame["run"][:: max(1, len(frame) // 20)][:20]]
    calls_warm = {
        **{name: (lambda fn=fn: fn(warm)) for name, fn in calls.items()},
        "brush": lambda: send("brush", page.brush(warm, search, event, metric, None, True)),
        "overlay (20 runs)": lambda: send("overlay (20 runs)", page.overlay(warm, search, ticked, 0.6, "log", "step")),
        "body": lambda: send("body", page.body(warm, search)),
    }
    times = interleaved(calls_warm, repeats)
    inside = page.fig_by.brushed(frame, {"num_tasks": [[7.5, 12.5]]}).sum()
    notes = {"table": "every run, column-wise (rows are built in the browser)",
             "parcoords": f"{len(columns_drawn)} dimensions", "scatter": "one Scattergl per phase",
             "brush": f"num_tasks 2^8..2^12: positions of {inside:,} runs", "overlay (20 runs)": "loss + accuracy",
             "body": "controls, grid columns (no rows)"}
    rows += [timed_row(BENCH, case, f"{name} callback warm", t, target=f"< {WARM_S:g}",
                       met=statistics.median(t) < WARM_S, note=f"{notes[name]}; JSON {sent[name] / 1e6:.2f} MB")
             for name, t in times.items()]
    records = len(to_json(page.fig_runs.grid_columns(frame)))
    row_wise = len(to_json(frame.astype(object).where(frame.notna(), None).to_dict("records")))
    rows.append(row(BENCH, case, "grid data sent, column-wise / row-wise", records / row_wise, "x",
                    note=f"{records / 1e6:.2f} MB against {row_wise / 1e6:.2f} MB as row dicts"))
    return rows


def browser_rows(path, runs: int, repeats: int) -> list[dict]:
    """The page in headless Chromium: load until the grid holds every run and both plots are drawn; a brush
    until the grid shows the runs inside it; ticking a run until its curves are drawn."""
    import sys

    sys.path.insert(0, str(common.ROOT / "tests"))
    from conftest_browser import LiveServer, make_driver

    from app.main import create_app
    from app.pages import runs as page

    server = LiveServer(create_app([str(path)], poll_ms=3_600_000))
    driver = make_driver()
    driver.set_script_timeout(120)
    api = f"dash_ag_grid.getApi('{page.GRID}')"
    wait = """const done = arguments[arguments.length - 1], t0 = performance.now();
        (function tick() { let ok = false; try { ok = (%s); } catch (e) {}
            if (ok) { done(performance.now() - t0); } else { setTimeout(tick, 5); } })();"""
    drawn = ("(id => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');"
             " return gd && gd.data && gd.data.length > 0; })")
    loaded = f"{api}.getDisplayedRowCount() === {runs} && {drawn}('{page.PARCOORDS}') && {drawn}('{page.SCATTER}')"
    loads, brushes, ticks = [], [], []
    try:
        for k in range(repeats + 1):
            start = time.perf_counter()
            driver.get(server.url + "/runs")
            driver.execute_async_script(wait % loaded)
            loads.append(time.perf_counter() - start)
            dims = driver.execute_script(
                f"return document.querySelector('#{page.PARCOORDS} .js-plotly-plot').data[0].dimensions"
                ".map(d => d.label);")
            # The event a drag on the axis sends, given to Dash directly: the parallel coordinates' own redraw is
            # software WebGL in headless Chromium (seconds) and is the browser's, while the user drags.
            event = [{f"dimensions[{dims.index('num tasks')}].constraintrange": [[7.5, 12.5]]}, [0]]
            brushes.append(driver.execute_async_script(
                f"dash_clientside.set_props('{page.PARCOORDS}', {{restyleData: {json.dumps(event)}}});"
                + wait % f"{api}.getDisplayedRowCount() < {runs}") / 1000)
            ticks.append(driver.execute_async_script(
                f"{api}.getDisplayedRowAtIndex(0).setSelected(true); {api}.getDisplayedRowAtIndex(1).setSelected(true);"
                + wait % f"document.querySelector('#{page.LOSS} .js-plotly-plot').data.length === 2") / 1000)
    finally:
        driver.quit()
        server.stop()
    case = f"synthetic {runs:,}-run store, headless Chromium"
    first, later = loads[0], loads[1:]
    webgl = ("the parallel coordinates are WebGL, software-rendered here (no GPU): ~2 s at 1,000 lines and ~5 s "
             "at 10,000 when drawn alone")
    return [
        row(BENCH, case, "page load, first (store cold)", first, "s", target=f"< {COLD_S:g}", met=first < COLD_S,
            note="navigation until the grid holds every run and both plots are drawn; loads the store; " + webgl),
        timed_row(BENCH, case, "page load, warm", later, target=f"< {WARM_S:g}",
                  met=statistics.median(later) < WARM_S, note="same, the store analysed already (a reload); " + webgl),
        timed_row(BENCH, case, "brush to narrowed grid", brushes, target=f"< {WARM_S:g}",
                  met=statistics.median(brushes) < WARM_S,
                  note="a brush's restyleData event until the grid shows the runs inside it"),
        timed_row(BENCH, case, "two runs ticked to curves drawn", ticks, target=f"< {WARM_S:g}",
                  met=statistics.median(ticks) < WARM_S, note="rows selected until the loss overlay has both"),
    ]


def run(quick: bool, gpu: bool, browser: bool = False) -> list[dict]:
    """The callbacks on the 10,000-run store (--quick: 1,000 runs), then optionally the page in Chromium.
    `gpu` changes nothing: the app runs on the host."""
    path, made = big_store(quick)
    runs = 1_000 if quick else 10_000
    rows = []
    if made is not None:
        rows.append(row(BENCH, f"synthetic {runs:,}-run store", "synthetic_store write (setup)", made, "s",
                        note=f"kept at {path} for later runs"))
    rows += callback_rows(path, runs, repeats=3 if quick else 5)
    if browser:
        rows += browser_rows(path, runs, repeats=3)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 runs, fewer rounds")
    p.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    common.report(run(a.quick, False, a.browser), a.out)


if __name__ == "__main__":
    main()
