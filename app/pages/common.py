"""Helpers every page uses: the store picker, axis dropdowns, and turning bad input into messages."""

from __future__ import annotations

from collections.abc import Callable

from app import layout, urls
from app.data import ALL, Stores
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures.source import Source, StoreProblem


def source_for(stores: Stores, search: str | None) -> tuple[Source, dict]:
    """The Source the query names (or the first store) and the parsed query; raises StoreProblem."""
    query = urls.parse(search)
    name = stores.pick(query.get("store"))
    return stores.get(name), {**query, "store": name}


def notices(stores: Stores, search: str | None) -> list[str]:
    """What in the URL this app cannot show as asked (an unknown store, an axis value the store lacks), so a
    shared link that falls back to another view says so instead of silently showing something else."""
    query = urls.parse(search)
    asked, name = query.get("store"), stores.pick(query.get("store"))
    out = []
    if asked and asked != name:
        if asked == ALL:
            out.append(f"The link asked for all stores combined, which is not available: {stores.why_not_combined()}. "
                       f"Showing '{name}'.")
        else:
            out.append(f"The link asked for store '{asked}', which is not open here (open: {', '.join(stores.paths)}). "
                       f"Showing '{name}'.")
    try:
        ds = stores.get(name).ds
    except StoreProblem:
        return out  # the page says what is wrong with the store
    for a in ax.sweep_axes(ds):
        if a in query:
            try:
                ax.coerce(ds, a, query[a])
            except ValueError:
                values = ax.sorted_values(ds, a)
                shown = ", ".join(ax.fmt(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
                out.append(f"The link asked for {a}={query[a]}, which is not in '{name}' ({a}: {shown}); "
                           f"showing another {a}.")
    return out


def store_picker(stores: Stores, name: str):
    """The store dropdown; omitted when the app serves one store."""
    if len(stores.names) < 2:
        return None
    options = [(n, "all stores (combined)" if n == ALL else n) for n in stores.names]
    return layout.dropdown("store", "store", options, name, width="220px")


def axis_dropdowns(source: Source, fixed: dict) -> list:
    """One dropdown per fixed axis (a view's slice of the sweep), values as the URL spells them."""
    return [layout.dropdown(a, a, [ax.fmt(v) for v in ax.sorted_values(source.ds, a)], ax.fmt(v), width="130px")
            for a, v in fixed.items()]


def guarded(fn: Callable, *args, empty_outputs: tuple, **kwargs):
    """fn(*args) or, for bad input (unreadable store, missing axis, no finished runs), messages in empty outputs."""
    try:
        return fn(*args, **kwargs)
    except StoreProblem as err:
        out = tuple(layout.empty_figure(_wrap(str(err))) if o == "figure" else layout.message(str(err), "warn")
                    for o in empty_outputs)
        return out[0] if len(out) == 1 else out


def _wrap(text: str, width: int = 90) -> str:
    """Break a long message into lines for a figure annotation (plotly does not wrap)."""
    import textwrap

    return "<br>".join(textwrap.wrap(text, width))


def catalog_figure(stores: Stores, search: str, name: str):
    """The catalog figure ``name`` for the URL's selections, or a message figure when the store cannot make it."""
    from gpicl_phase.figures import catalog

    def make():
        source, query = source_for(stores, search)
        return catalog.build(name, source, query).figure

    return guarded(make, empty_outputs=("figure",))


def register_figure(app, stores: Stores, graph_id: str, figure_fn: Callable) -> None:
    """Wire a one-graph page: redraw ``graph_id`` from the URL whenever it or the store changes."""
    from dash import Input, Output

    from app import ids

    @app.callback(Output(graph_id, "figure"), Input(ids.URL, "search"), Input(ids.READY, "data"))
    def _draw(search, _ready):
        return figure_fn(stores, search)
