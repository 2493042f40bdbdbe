"""Ids of the shell's components, shared by layouts, callbacks and tests (page graphs live in their pages)."""

URL = "url"
PAGE = "page"
NAV = "nav"
VERSION = "store-version"  # dcc.Store: the change token of the selected store
POLL = "poll"  # dcc.Interval that re-checks the store while a sweep is writing it
BANNER = "banner"  # store-level messages: still running, schema problems
EXPORT_FMT = "export-fmt"
EXPORT_STYLE = "export-style"
EXPORT_BTN = "export-btn"
EXPORT_DL = "export-download"
EXPORT_MSG = "export-msg"
# dcc.Store in every page body: Dash fires a callback for new components only through its inputs, and the
# page callbacks' other input (the URL) lives outside the body, so this input makes them draw on arrival.
READY = "page-ready"


def query(key: str) -> dict:
    """Id of a control whose value lives in the URL query string under key."""
    return {"type": "q", "key": key}
