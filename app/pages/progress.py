"""Sweep progress page: which runs are done, running, pending, failed or diverged, and why."""

from __future__ import annotations

from dash import Input, Output, html

from app import ids, layout
from app.data import Stores
from app.pages.common import guarded, source_for, store_picker
from gpicl_phase.figures import progress as fig_progress

PATH = "/progress"
FIGURE = "progress"
GRAPH = "progress-graph"
PROBLEMS = "progress-problems"
MAX_PROBLEMS = 50


def body(stores: Stores, search: str) -> list:
    """The store picker, the view (counts per status, or the run grid) and the list of failed/diverged runs."""
    source, query = source_for(stores, search)
    view = fig_progress.pick_view(source.status_codes.size, query)
    return [layout.controls(store_picker(stores, query["store"]),
                            layout.dropdown("view", "show", [("summary", "runs per status"), ("grid", "every run")],
                                            view)),
            layout.graph(GRAPH), html.Div(id=PROBLEMS)]


def view(stores: Stores, search: str) -> tuple:
    """(status figure, problem list) for the URL's store."""
    def make():
        source, query = source_for(stores, search)
        runs = fig_progress.status_frame(source)  # once: the figure and the problem list both read it
        built = fig_progress.from_runs(source, runs, query)
        bad = runs[runs["status"].isin(["failed", "diverged", "damaged"])]
        items = [html.Li(f"{r.row} {r.x}: {r.status}" + (f" - {r.message}" if r.message else ""))
                 for r in bad.head(MAX_PROBLEMS).itertuples(index=False)]
        more = [html.Li(f"... and {len(bad) - MAX_PROBLEMS} more")] if len(bad) > MAX_PROBLEMS else []
        heading = html.H4("Failed, diverged and damaged runs")
        problems = html.Div([heading, html.Ul(items + more)]) if items else html.Div()
        return built.figure, problems

    return guarded(make, empty_outputs=("figure", "message"))


def register(app, stores: Stores) -> None:
    """Wire this page's callback (thin: it calls view above)."""
    @app.callback(Output(GRAPH, "figure"), Output(PROBLEMS, "children"),
                  Input(ids.URL, "search"), Input(ids.READY, "data"))
    def _draw(search, _ready):
        return view(stores, search)
