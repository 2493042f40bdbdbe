"""The app factory and server: `create_app(paths)` builds the Dash app, `serve(...)` runs it."""

from __future__ import annotations

import sys
import threading

import dash

from app import callbacks, layout
from app.data import Stores
from app.pages import PAGES
from gpicl_phase.analysis import Thresholds

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(paths: list[str], thresholds: Thresholds | None = None, poll_ms: int = layout.POLL_MS) -> dash.Dash:
    """A Dash app over the given stores; nothing is read until a page asks (so bad paths become messages).

    `poll_ms`: how often pages re-check their store for runs a sweep has finished since.
    """
    stores = Stores([str(p) for p in paths], thresholds)
    app = dash.Dash(__name__, title="gpicl-phase", suppress_callback_exceptions=True, update_title=None)
    app.layout = layout.shell(poll_ms)
    callbacks.register(app, stores)
    for page in PAGES.values():
        page.register(app, stores)
    app.stores = stores  # for tests and benchmarks: the cache the callbacks read
    return app


def serve(paths: list[str], host: str = "127.0.0.1", port: int = 8050, debug: bool = False,
          thresholds: Thresholds | None = None) -> None:
    """Serve the app until interrupted; warns when the address is reachable beyond this machine."""
    if host not in LOCAL_HOSTS:
        print(f"warning: serving on {host}:{port} makes the app and the stores' contents reachable from other "
              "machines, with no authentication; use --host 127.0.0.1 unless you mean it", file=sys.stderr)
    app = create_app(paths, thresholds)
    # Big stores take seconds to load (each run is its own chunk): start while the browser is still opening.
    threading.Thread(target=app.stores.warm, name="warm-stores", daemon=True).start()
    print(f"gpicl-phase app on http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/", file=sys.stderr)
    if debug:  # Flask's reloader and in-page error pop-ups: for working on the app itself
        app.run(host=host, port=port, debug=True)
        return
    import waitress  # a production WSGI server (pure Python): threads for parallel callbacks, no dev warning

    waitress.serve(app.server, host=host, port=port, threads=8, ident="gpicl-phase")
