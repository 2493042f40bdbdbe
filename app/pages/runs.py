"""Runs explorer: every run in a sortable, filterable, paginated grid; parallel coordinates whose brushing
filters the grid; a metric against a parameter; and the curves of the runs ticked in the grid.

The grid's rows travel once per store version, column-wise, and a clientside callback turns them into rows;
brushing sends only the positions of the runs inside the brush. So a brush or a ticked box never re-sends
10,000 rows. Page callbacks listen to their own controls rather than to the whole URL, for the same reason.
"""

from __future__ import annotations

from functools import lru_cache

import dash_ag_grid as dag
from dash import Input, Output, State, callback_context, dcc, html, no_update

from app import ids, layout, urls
from app.data import ALL, CACHE_SIZE, Stores
from app.pages.common import guarded, store_picker
from gpicl_phase.figures import runs as fig_runs
from gpicl_phase.figures import run_curves as fig_curves
from gpicl_phase.figures import runs_by_parameter as fig_by
from gpicl_phase.figures.source import Source, StoreProblem
from gpicl_phase.figures.views import Built

PATH = "/runs"
FIGURE = None  # no catalog figure: `export` below writes the runs table and the scatter
GRID = "runs-grid"
TABLE = "runs-table"  # dcc.Store: every run, column-wise
BRUSH = "runs-brush"  # dcc.Store: {"constraints": {column: [[lo, hi], ...]}, "keep": row positions or None}
COUNT = "runs-count"
PARCOORDS = "runs-parcoords"
SCATTER = "runs-scatter"
LOSS = "runs-loss"
ACC = "runs-acc"
SCOPE = "runs_of"  # URL key: "all" puts every open store's runs in the table (the stores need not combine)
SMOOTHING = (0.0, 0.99)
PARCOORDS_LINES = 1000  # software WebGL (no GPU) draws 1,000 lines in ~2 s and 10,000 in ~5 s: BENCHMARKS.md
NUMBER_FILTER = {"filter": "agNumberColumnFilter", "filterParams": {"inRangeInclusive": True}}


# --- data: one frame per Source version, shared by every callback -------------------------------------------


@lru_cache(maxsize=CACHE_SIZE)
def _frame_of(source: Source):
    return fig_runs.runs_frame(source)


def sources(stores: Stores, query: dict) -> tuple[dict[str, Source], list[str]]:
    """(store name -> Source, problems): the URL's store, or with `runs_of=all` every open store, whether or not
    they combine into one Dataset (unreadable ones are skipped and named); raises StoreProblem when none reads."""
    if query.get(SCOPE) != ALL or len(stores.paths) < 2:
        name = stores.pick(query.get("store"))
        return {name: stores.get(name)}, []
    out, problems = {}, []
    for n in stores.paths:
        try:
            out[n] = stores.get(n)
        except StoreProblem as err:
            problems.append(f"{n}: {err}")
    if not out:
        raise StoreProblem("no store could be read: " + "; ".join(problems))
    return out, problems


def frame(stores: Stores, search: str | None):
    """The runs table the URL asks for; raises StoreProblem."""
    found, _ = sources(stores, urls.parse(search))
    return fig_runs.combine_frames([_frame_of(s) for s in found.values()])


def layout_key(_source: Source, query: dict) -> list:
    """Rebuild the page when the table switches between one store and every store (its data changes)."""
    return [query.get(SCOPE) == ALL]


def _pick(query: dict, key: str, choices: list, default):
    return query.get(key) if query.get(key) in choices else default


def selections(frame_, query: dict) -> dict:
    """The page's controls from the URL, stale or missing values replaced by defaults."""
    params = fig_runs.parameter_axes(frame_) or frame_.attrs["axes"]
    x_default = "num_tasks" if "num_tasks" in params else params[0]
    try:
        smooth = min(max(float(query.get("smooth", 0)), SMOOTHING[0]), SMOOTHING[1])
    except ValueError:
        smooth = 0.0
    return {"metric": _pick(query, "metric", fig_runs.metric_options(frame_), fig_runs.default_metric(frame_)),
            "x": _pick(query, "x", params, x_default), "smooth": smooth,
            "logy": _pick(query, "logy", ["linear", "log"], "linear"),
            "xby": _pick(query, "xby", list(fig_curves.X_BY), "step"), "params": params}


# --- layout ------------------------------------------------------------------------------------------------


def body(stores: Stores, search: str) -> list:
    """Controls, the brushable parallel coordinates and the scatter, the grid, curve controls and the curves."""
    query = urls.parse(search)
    name = stores.pick(query.get("store"))
    _, problems = sources(stores, query)
    runs = frame(stores, search)
    sel = selections(runs, query)
    metrics = [(m, fig_by.label(m)) for m in fig_runs.metric_options(runs)]
    side = {"flex": "1 1 560px", "minWidth": "0"}
    return [
        layout.controls(store_picker(stores, name), scope_picker(stores, query),
                        layout.dropdown("metric", "metric", metrics, sel["metric"], width="260px"),
                        layout.dropdown("x", "scatter x", sel["params"], sel["x"], width="150px")),
        *[layout.message(f"skipped {p}", "warn") for p in problems],
        html.Div([html.Div(layout.graph(PARCOORDS), style=side), html.Div(layout.graph(SCATTER), style=side)],
                 style={"display": "flex", "flexWrap": "wrap", "gap": "8px"}),
        html.Div(id=COUNT, style={"fontSize": "13px", "color": "#555", "margin": "4px 0"}),
        grid(runs),
        layout.controls(
            layout.control_box("loss smoothing (EMA weight)", html.Div(dcc.Slider(
                id=ids.query("smooth"), min=SMOOTHING[0], max=SMOOTHING[1], step=0.01, value=sel["smooth"],
                marks={0: "0", 0.5: "0.5", 0.8: "0.8", 0.99: "0.99"}, tooltip={"placement": "bottom"}),
                style={"width": "260px"})),
            layout.dropdown("logy", "loss axis", [("linear", "linear"), ("log", "log")], sel["logy"], width="110px"),
            layout.dropdown("xby", "loss x axis", list(fig_curves.X_BY), sel["xby"], width="130px"),
        ),
        html.Div([html.Div(layout.graph(LOSS), style={"flex": "1 1 460px", "minWidth": "0"}),
                  html.Div(layout.graph(ACC), style={"flex": "1 1 640px", "minWidth": "0"})],
                 style={"display": "flex", "flexWrap": "wrap", "gap": "8px"}),
        dcc.Store(id=TABLE), dcc.Store(id=BRUSH, data={"constraints": {}, "keep": None}),
    ]


def scope_picker(stores: Stores, query: dict):
    """'runs of': the picked store, or every open store in one table; omitted with one store."""
    if len(stores.paths) < 2:
        return None
    value = ALL if query.get(SCOPE) == ALL else "store"
    return layout.dropdown(SCOPE, "runs of", [("store", "the chosen store"), (ALL, "every open store")], value,
                           width="170px")


def grid(runs) -> dag.AgGrid:
    """The runs grid: sortable, filterable columns, pagination, a tick box per row (no rows until they arrive)."""
    axes = [fig_runs.STORE, *runs.attrs["axes"]]
    columns = [{"field": fig_runs.RUN, "hide": True}]
    for c in runs.columns:
        if c == fig_runs.RUN:
            continue
        number = runs[c].dtype.kind in "iuf"
        # Widths by kind: the grid sizes columns before its rows arrive, so it cannot fit them to the text.
        col = {"field": c, "headerName": c, **(NUMBER_FILTER if number else {"minWidth": 130})}
        if c in axes:
            col["pinned"] = "left"
        if c == fig_runs.STORE and runs[c].nunique() < 2:
            col["hide"] = True  # one store: the page's store picker already says which
        columns.append(col)
    return dag.AgGrid(
        id=GRID, columnDefs=columns, rowData=[], getRowId="params.data.run",
        defaultColDef={"sortable": True, "filter": True, "floatingFilter": True, "resizable": True,
                       "minWidth": 90},
        dashGridOptions={"pagination": True, "paginationPageSize": 20, "paginationPageSizeSelector": [20, 50, 100],
                         "rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": False,
                                          "enableClickSelection": False},
                         "selectionColumnDef": {"pinned": "left"},
                         "animateRows": False, "tooltipShowDelay": 300},
        columnSize="autoSize", style={"height": "600px", "width": "100%"})


# --- callbacks as plain functions --------------------------------------------------------------------------


def table(stores: Stores, search: str | None):
    """(column-wise runs for the grid, count text); no rows and the reason for a store that cannot show."""
    try:
        runs = frame(stores, search)
    except StoreProblem as err:
        return None, layout.message(str(err), "warn")
    return fig_runs.grid_columns(runs), f"{len(runs):,} runs"


def parcoords(stores: Stores, search: str | None, metric: str | None, brush: dict | None):
    """The parallel coordinates for `metric`, with the brush kept (e.g. after the metric changed)."""
    def make():
        runs = frame(stores, search)
        sel = selections(runs, {"metric": metric})
        return fig_by.parcoords_figure(runs, sel["metric"], constraints=(brush or {}).get("constraints"),
                                         max_lines=PARCOORDS_LINES)

    return guarded(make, empty_outputs=("figure",))


def brush(stores: Stores, search: str | None, event, metric: str | None, current: dict | None, from_plot: bool):
    """(brush store, count text) after a brush on the parallel coordinates or a change of metric.

    `from_plot`: the event is new (the metric changing re-sends the last one, which names old positions).
    """
    try:
        runs = frame(stores, search)
    except StoreProblem:
        return no_update, no_update
    sel = selections(runs, {"metric": metric})
    columns = fig_by.parcoords_columns(runs, sel["metric"])
    old = (current or {}).get("constraints") or {}
    constraints = fig_by.brush_update(old, event if from_plot else None, columns)
    if constraints == old and current is not None and "keep" in current:
        return no_update, no_update
    if not constraints:
        return {"constraints": {}, "keep": None}, f"{len(runs):,} runs"
    mask = fig_by.brushed(runs, constraints)
    keep = mask.nonzero()[0].tolist()
    names = ", ".join(fig_by.label(c) for c in constraints)
    return ({"constraints": constraints, "keep": keep},
            f"{len(keep):,} of {len(runs):,} runs inside the brush on {names}")


def scatter(stores: Stores, search: str | None, metric: str | None, x: str | None):
    """The metric-against-parameter scatter."""
    def make():
        runs = frame(stores, search)
        sel = selections(runs, {"metric": metric, "x": x})
        return fig_by.scatter_figure(runs, sel["x"], sel["metric"])

    return guarded(make, empty_outputs=("figure",))


def overlay(stores: Stores, search: str | None, rows: list | None, smooth, logy: str | None, xby: str | None):
    """(loss figure, accuracy figure) of the ticked runs."""
    def make():
        query = urls.parse(search)
        found, _ = sources(stores, query)
        run_ids = [r[fig_runs.RUN] for r in rows or [] if r and fig_runs.RUN in r]
        return fig_curves.overlay_figures(found, run_ids, smoothing=float(smooth or 0), log_y=logy == "log",
                                        x_by=xby if xby in fig_curves.X_BY else "step")

    return guarded(make, empty_outputs=("figure", "figure"))


def export(stores: Stores, search: str | None, style: str = "paper") -> Built:
    """What the export bar writes on this page: the scatter as the figure and every run as the CSV (raises
    StoreProblem)."""
    runs = frame(stores, search)
    query = urls.parse(search)
    sel = selections(runs, query)
    return Built(fig_by.scatter_figure(runs, sel["x"], sel["metric"], style=style, gl=False), runs, "runs")


def register(app, stores: Stores) -> None:
    """Wire this page's callbacks (thin: each calls a function above)."""
    app.callback(Output(TABLE, "data"), Output(COUNT, "children"), Input(ids.READY, "data"),
                 State(ids.URL, "search"))(lambda _ready, search: table(stores, search))
    app.callback(Output(PARCOORDS, "figure"), Input(ids.READY, "data"), Input(ids.query("metric"), "value"),
                 State(BRUSH, "data"), State(ids.URL, "search"),
                 )(lambda _ready, metric, current, search: parcoords(stores, search, metric, current))

    @app.callback(Output(BRUSH, "data"), Output(COUNT, "children", allow_duplicate=True),
                  Input(PARCOORDS, "restyleData"), Input(ids.query("metric"), "value"), State(BRUSH, "data"),
                  State(ids.URL, "search"), prevent_initial_call=True)
    def _brush(event, metric, current, search):
        from_plot = callback_context.triggered_id == PARCOORDS
        return brush(stores, search, event, metric, current, from_plot)

    app.callback(Output(SCATTER, "figure"), Input(ids.READY, "data"), Input(ids.query("metric"), "value"),
                 Input(ids.query("x"), "value"), State(ids.URL, "search"),
                 )(lambda _ready, metric, x, search: scatter(stores, search, metric, x))
    app.callback(Output(LOSS, "figure"), Output(ACC, "figure"), Input(GRID, "selectedRows"),
                 Input(ids.query("smooth"), "value"), Input(ids.query("logy"), "value"),
                 Input(ids.query("xby"), "value"), State(ids.URL, "search"),
                 )(lambda rows, smooth, logy, xby, search: overlay(stores, search, rows, smooth, logy, xby))
    # Rows are built in the browser from the columns and the brush: nothing large crosses the wire per brush.
    app.clientside_callback(
        """function(columns, brush) {
            if (!columns || !columns.run) { return []; }
            const names = Object.keys(columns);
            const keep = brush && brush.keep ? brush.keep : null;
            const n = keep ? keep.length : columns.run.length;
            const rows = new Array(n);
            for (let i = 0; i < n; i++) {
                const at = keep ? keep[i] : i;
                const row = {};
                for (const k of names) { row[k] = columns[k][at]; }
                rows[i] = row;
            }
            return rows;
        }""",
        Output(GRID, "rowData"), Input(TABLE, "data"), Input(BRUSH, "data"))
