"""State size page: meta-test accuracy vs state size and vs parameter count, coloured by architecture."""

from __future__ import annotations

from dash import Input, Output

from app import ids, layout
from app.data import Stores
from app.pages.common import axis_dropdowns, guarded, source_for, store_picker
from gpicl_phase.figures import catalog, views
from gpicl_phase.figures import statesize as fig_statesize

PATH = "/statesize"
FIGURE = "statesize"
GRAPH = "statesize-graph"


def body(stores: Stores, search: str) -> list:
    """The metric, the number of tasks to compare at, and the graph."""
    source, query = source_for(stores, search)
    sel = fig_statesize.resolve(source, query)
    metrics = [(k, v) for k, v in views.metric_choices(source).items() if ":" in k]
    return [
        layout.controls(store_picker(stores, query["store"]),
                        layout.dropdown("metric", "metric", metrics, sel["metric"], width="260px"),
                        *axis_dropdowns(source, sel["fixed"])),
        layout.graph(GRAPH),
    ]


def figure(stores: Stores, search: str):
    """The state-size figure for the URL's selections."""
    def make():
        source, query = source_for(stores, search)
        return catalog.build(FIGURE, source, query).figure

    return guarded(make, empty_outputs=("figure",))


def register(app, stores: Stores) -> None:
    """Wire this page's callback (thin: it calls figure above)."""
    @app.callback(Output(GRAPH, "figure"), Input(ids.URL, "search"), Input(ids.READY, "data"))
    def _draw(search, _ready):
        return figure(stores, search)
