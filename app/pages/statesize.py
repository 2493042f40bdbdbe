"""State size page: meta-test accuracy vs state size and vs parameter count, coloured by architecture."""

from __future__ import annotations

from app import layout
from app.data import Stores
from app.pages.common import axis_dropdowns, catalog_figure, register_figure, source_for, store_picker
from gpicl_phase.figures import views
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
    return catalog_figure(stores, search, FIGURE)


def register(app, stores: Stores) -> None:
    """Wire this page's callback (thin: it calls figure above)."""
    register_figure(app, stores, GRAPH, figure)
