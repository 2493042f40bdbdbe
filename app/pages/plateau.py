"""Loss plateau page: curves across an intervention with escapes marked; plateau length with its power law."""

from __future__ import annotations

from app import layout
from app.data import Stores
from app.pages.common import axis_dropdowns, catalog_figure, register_figure, source_for, store_picker
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import plateau as fig_plateau

PATH = "/plateau"
FIGURE = "plateau"
GRAPH = "plateau-graph"


def body(stores: Stores, search: str) -> list:
    """The overlay axis, the fixed values of the others, and the graph."""
    source, query = source_for(stores, search)
    sel = fig_plateau.resolve(source, query)
    return [
        layout.controls(
            store_picker(stores, query["store"]),
            layout.dropdown("over", "compare across", ax.cell_axes(source.ds), sel["over"]),
            *axis_dropdowns(source, sel["fixed"]),
        ),
        layout.graph(GRAPH),
    ]


def layout_key(source, query: dict) -> str:
    """The overlay axis decides which axes get slice controls."""
    return fig_plateau.resolve(source, query)["over"]


def figure(stores: Stores, search: str):
    """The plateau figure for the URL's selections."""
    return catalog_figure(stores, search, FIGURE)


def register(app, stores: Stores) -> None:
    """Wire this page's callback (thin: it calls figure above)."""
    register_figure(app, stores, GRAPH, figure)
