"""Phase diagram page: heatmap per facet, colour by phase or a metric; clicking a cell opens its detail."""

from __future__ import annotations

from dash import Input, Output, State, html, no_update

from app import ids, layout, urls
from app.data import Stores
from app.pages.common import axis_dropdowns, guarded, source_for, store_picker
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import catalog, views
from gpicl_phase.figures import phase as fig_phase
from gpicl_phase.figures import style as st

PATH = "/phase"
FIGURE = "phase"
GRAPH = "phase-graph"


def body(stores: Stores, search: str) -> list:
    """Controls (from the URL) and the graph."""
    source, query = source_for(stores, search)
    sel = fig_phase.resolve(source, query)
    axes = [a for a in ax.cell_axes(source.ds) if a != ax.TASKS]
    colors = [("phase", "phase"), *views.metric_choices(source).items()]
    return [
        layout.controls(
            store_picker(stores, query["store"]),
            layout.dropdown("color", "colour by", colors, sel["color"], width="260px"),
            layout.dropdown("y", "rows (model size)", axes, sel["y"]) if axes else None,
            layout.dropdown("ylabel", "label rows by", [("value", sel["y"]), ("params", "parameter count")],
                            sel["y_label"]) if sel["y"] in ax.SIZE_AXES else None,
            layout.dropdown("facet", "panels", [*[a for a in axes if a != sel["y"]], "none"], sel["facet"]),
            *axis_dropdowns(source, sel["fixed"]),
        ),
        html.Div("Hover a cell for its seeds' spread; click it to open the cell's runs.",
                 style={"fontSize": "13px", "color": "#555"}),
        layout.graph(GRAPH),
        phase_help(),
    ]


def phase_help() -> html.Details:
    """What each phase colour means, with the colour itself (docs/analysis.md has the rules)."""
    def item(phase: str):
        swatch = html.Span(style={"display": "inline-block", "width": "12px", "height": "12px", "marginRight": "6px",
                                  "background": st.PHASE_COLORS[phase], "border": "1px solid #999"})
        return html.Li([swatch, html.B(phase), f": {st.PHASE_NOTES[phase]}"])

    return html.Details([html.Summary("What the phases mean"),
                         html.Ul([item(p) for p in st.PHASES if p in st.PHASE_NOTES], style={"fontSize": "13px"})],
                        id="phase-help", open=False)


def layout_key(source, query: dict) -> list:
    """The selections that decide which controls the page shows: rows and panels."""
    sel = fig_phase.resolve(source, query)
    return [sel["y"], sel["facet"]]  # the row-label control exists only for size axes: it follows y


def figure(stores: Stores, search: str):
    """The phase diagram for the URL's selections (a message figure for bad input)."""
    def make():
        source, query = source_for(stores, search)
        return catalog.build(FIGURE, source, query).figure

    return guarded(make, empty_outputs=("figure",))


def click_target(click: dict | None, search: str) -> tuple:
    """(pathname, search) of the clicked cell's detail page, keeping the store; no_update without a cell."""
    try:
        key = click["points"][0]["customdata"]
    except (TypeError, KeyError, IndexError):
        return no_update, no_update
    if not key:
        return no_update, no_update
    query = urls.parse(search)
    cell = urls.parse(key)
    keep = {k: v for k, v in query.items() if k == "store"}
    return "/detail", urls.build({**keep, **cell})


def register(app, stores: Stores) -> None:
    """Wire this page's callbacks (thin: each calls a function above)."""
    @app.callback(Output(GRAPH, "figure"), Input(ids.URL, "search"), Input(ids.READY, "data"))
    def _draw(search, _ready):
        return figure(stores, search)

    app.callback(
        Output(ids.URL, "pathname", allow_duplicate=True), Output(ids.URL, "search", allow_duplicate=True),
        Input(GRAPH, "clickData"), State(ids.URL, "search"), prevent_initial_call=True,
    )(click_target)
