"""In-context improvement page (paper Fig. 4): last minus first accuracy vs number of tasks, phase bands."""

from __future__ import annotations

from app import layout
from app.data import Stores
from app.pages.common import axis_dropdowns, catalog_figure, register_figure, source_for, store_picker
from gpicl_phase.figures import improvement as fig_improvement

PATH = "/improvement"
FIGURE = "improvement"
GRAPH = "improvement-graph"


def body(stores: Stores, search: str) -> list:
    """The fixed values of every axis but num_tasks, and the graph."""
    source, query = source_for(stores, search)
    sel = fig_improvement.resolve(source, query)
    return [layout.controls(store_picker(stores, query["store"]), *axis_dropdowns(source, sel["fixed"])),
            layout.graph(GRAPH)]


def figure(stores: Stores, search: str):
    """The improvement figure for the URL's selections."""
    return catalog_figure(stores, search, FIGURE)


def register(app, stores: Stores) -> None:
    """Wire this page's callback (thin: it calls figure above)."""
    register_figure(app, stores, GRAPH, figure)
