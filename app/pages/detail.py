"""Cell detail page: config, status, parameter count and state size; loss per seed; accuracy per position."""

from __future__ import annotations

import json

from dash import Input, Output, html

from app import ids, layout
from app.data import Stores
from app.pages.common import axis_dropdowns, guarded, source_for, store_picker
from gpicl_phase.figures import catalog
from gpicl_phase.figures import detail as fig_detail

PATH = "/detail"
FIGURE = "incontext"
LOSS = "detail-loss"
ACC = "detail-acc"
INFO = "detail-info"


def body(stores: Stores, search: str) -> list:
    """One dropdown per cell axis (the cell), the runs table, and the two graphs."""
    source, query = source_for(stores, search)
    cell = fig_detail.resolve(source, query)["cell"]
    return [
        layout.controls(store_picker(stores, query["store"]), *axis_dropdowns(source, cell)),
        html.Div(id=INFO),
        html.Div([html.Div(layout.graph(ACC), style={"flex": "1 1 560px"}),
                  html.Div(layout.graph(LOSS), style={"flex": "1 1 460px"})],
                 style={"display": "flex", "flexWrap": "wrap", "gap": "8px"}),
    ]


def view(stores: Stores, search: str) -> tuple:
    """(accuracy figure, loss figure, info block) for the URL's cell."""
    def make():
        source, query = source_for(stores, search)
        cell = fig_detail.resolve(source, query)["cell"]
        info = _info(source, cell)
        source.check_finished()
        return (catalog.build(FIGURE, source, query).figure, fig_detail.build_loss(source, query).figure, info)

    return guarded(make, empty_outputs=("figure", "figure", "message"))


def _info(source, cell: dict) -> html.Div:
    runs = fig_detail.runs_table(source.ds, cell)  # the lazy Dataset: messages are not kept in memory
    header = html.Tr([html.Th(c) for c in runs.columns])
    rows = [html.Tr([html.Td(str(v)) for v in r]) for r in runs.itertuples(index=False)]
    config = fig_detail.cell_config(source.ds, cell)
    return html.Div([
        html.H4(fig_detail.cell_title(source, cell), style={"margin": "6px 0"}),
        html.Table([header, *rows], className="runs", style={"borderCollapse": "collapse", "fontSize": "13px"}),
        html.Details([html.Summary("config"), html.Pre(json.dumps(config, indent=1, default=str),
                                                       style={"fontSize": "12px"})]),
    ])


def register(app, stores: Stores) -> None:
    """Wire this page's callback (thin: it calls view above)."""
    @app.callback(Output(ACC, "figure"), Output(LOSS, "figure"), Output(INFO, "children"),
                  Input(ids.URL, "search"), Input(ids.READY, "data"))
    def _draw(search, _ready):
        return view(stores, search)
