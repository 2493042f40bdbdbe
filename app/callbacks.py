"""Callbacks shared by every page: store version polling, routing, URL sync, navigation, banner and export."""

from __future__ import annotations

import hashlib
import re
import time

from dash import ALL, Input, Output, State, dcc, no_update

from app import ids, layout, urls
from app.data import Stores
from app.pages import PAGES
from app.pages.common import guarded, notices, store_picker
from gpicl_phase.figures import catalog
from gpicl_phase.figures.export import ExportError, zip_bytes
from gpicl_phase.figures.source import StoreProblem

def version(stores: Stores, pathname: str | None, search: str | None, current: dict | None):
    """What the page body depends on: page, store, store token and the page's layout; no_update when unchanged.

    The layout is the page's *resolved* choice of controls (e.g. which axis is faceted), so filling defaults
    into the URL does not rebuild the page. Polled every few seconds, so it stays cheap: one status read at
    most (Stores caches it for a second) and no data read (Sources are cached per token).
    """
    query = urls.parse(search)
    name = stores.pick(query.get("store"))
    page = urls.page_of(pathname)
    token = stores.token(name)
    new = {"page": page, "store": name, "token": token, "layout": None}
    key = getattr(PAGES[page], "layout_key", None)
    if key is not None and not token.startswith("error: "):
        try:
            new["layout"] = key(stores.get(name), {**query, "store": name})
        except StoreProblem:
            pass  # the page body will show the problem
    return no_update if new == current else new


def route(stores: Stores, current: dict | None, search: str | None):
    """The page body for a version: the page's controls and graphs, or a message for a bad store."""
    if not current:
        return no_update
    token = current["token"]
    if token.startswith("error: "):
        picker = store_picker(stores, current["store"])
        return [layout.controls(picker) if picker else None, layout.message(token.removeprefix("error: "), "error")]
    page = PAGES[current["page"]]
    body = guarded(page.body, stores, search or "", empty_outputs=("message",))
    if not isinstance(body, list):  # the page cannot show this store: keep the way to another one
        picker = store_picker(stores, current["store"])
        body = [layout.controls(picker) if picker else None, body]
    # Said once, as the page is built from the link: the controls then rewrite the URL to what is shown.
    warned = [layout.message(text, "warn") for text in notices(stores, search)]
    return [dcc.Store(id=ids.READY, data=current["token"]), *warned, *body]


def banner(stores: Stores, current: dict | None):
    """A notice while the store is still being written (pages refresh themselves until it is complete)."""
    if not current or current["token"].startswith("error: "):
        return None
    try:
        counts = stores.get(current["store"]).status_counts
    except StoreProblem:
        return None
    total = sum(counts.values())
    if counts["pending"] + counts["running"] == 0:
        return None
    return layout.message(
        f"Sweep in progress: {counts['done']} of {total} runs done, {counts['running']} running, "
        f"{counts['pending']} pending. Pages update by themselves as runs finish.", "info")


def sync_url(values: list, control_ids: list, search: str | None):
    """The query string after a control changed: other keys are kept; no_update when nothing changed."""
    if not control_ids:
        return no_update
    query = urls.parse(search)
    for cid, value in zip(control_ids, values, strict=True):
        if value is None or value == "":
            query.pop(cid["key"], None)
        else:
            query[cid["key"]] = str(value)
    new = urls.build(query)
    return no_update if new == (search or "") else new


def nav_hrefs(search: str | None, nav_ids: list[dict]) -> list[str]:
    """Navigation links that keep the current selections."""
    return [nid["page"] + (search or "") for nid in nav_ids]


def export_download(stores: Stores, pathname: str | None, search: str | None, fmt: str, style: str):
    """(dcc.Download data, message): the page's figure in `fmt` and `style` plus its CSV, zipped."""
    page = PAGES[urls.page_of(pathname)]
    query = urls.parse(search)
    name = stores.pick(query.get("store"))
    try:
        source = stores.get(name)
        if page.FIGURE is None:  # the runs explorer exports its scatter and the whole runs table
            built = page.export(stores, search, style)
        else:
            built = catalog.build(page.FIGURE, source, {**query, "store": name}, style)
        stem = download_stem(name, page.FIGURE or built.name, query)
        t = time.perf_counter()
        data = zip_bytes(built, fmt, stem)
    except (StoreProblem, ExportError) as err:
        return no_update, layout.message(f"export failed: {err}", "error")
    return (dcc.send_bytes(data, f"{stem}_{fmt}.zip"),
            f"exported {stem}.{fmt} + {stem}.csv ({time.perf_counter() - t:.1f} s)")


def download_stem(store: str, figure: str, query: dict) -> str:
    """File stem of an in-app export: store, figure and the URL's selections, so two exports of one page with
    different selections never overwrite each other (e.g. cpu_phase_phase_color-acc-unseen_batch_size-64)."""
    picks = [f"{k}-{v}" for k, v in query.items() if k != "store"]
    stem = "_".join([store, figure, *picks])
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem)
    if len(stem) > 120:  # file systems cap names; a hash keeps long selections distinct
        stem = stem[:100] + "-" + hashlib.blake2b(stem.encode(), digest_size=4).hexdigest()
    return stem


def register(app, stores: Stores) -> None:
    """Wire the shared callbacks; each is a thin call into a function above."""
    app.callback(Output(ids.VERSION, "data"), Input(ids.URL, "pathname"), Input(ids.URL, "search"),
                 Input(ids.POLL, "n_intervals"), State(ids.VERSION, "data"),
                 )(lambda pathname, search, _n, current: version(stores, pathname, search, current))
    app.callback(Output(ids.PAGE, "children"), Input(ids.VERSION, "data"), State(ids.URL, "search"),
                 prevent_initial_call=True)(lambda current, search: route(stores, current, search))
    app.callback(Output(ids.BANNER, "children"), Input(ids.VERSION, "data"))(lambda current: banner(stores, current))
    app.callback(Output(ids.URL, "search"), Input(ids.query(ALL), "value"),
                 State(ids.query(ALL), "id"), State(ids.URL, "search"))(sync_url)
    app.callback(Output({"type": ids.NAV, "page": ALL}, "href"), Input(ids.URL, "search"),
                 State({"type": ids.NAV, "page": ALL}, "id"))(nav_hrefs)
    app.callback(Output(ids.EXPORT_DL, "data"), Output(ids.EXPORT_MSG, "children"), Input(ids.EXPORT_BTN, "n_clicks"),
                 State(ids.URL, "pathname"), State(ids.URL, "search"), State(ids.EXPORT_FMT, "value"),
                 State(ids.EXPORT_STYLE, "value"), prevent_initial_call=True,
                 )(lambda _n, pathname, search, fmt, style: export_download(stores, pathname, search, fmt, style))
