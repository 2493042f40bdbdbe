"""The query string is the single source of truth for a view's selections, so views can be shared."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

PAGES = {
    "/phase": "Phase diagram",
    "/detail": "Cell detail",
    "/plateau": "Loss plateaus",
    "/improvement": "In-context improvement",
    "/statesize": "State size",
    "/progress": "Sweep progress",
    "/runs": "Runs explorer",
}
DEFAULT_PAGE = "/phase"


def page_of(pathname: str | None) -> str:
    """The page key for a pathname; unknown or root paths map to the phase diagram."""
    path = (pathname or "/").rstrip("/") or "/"
    return path if path in PAGES else DEFAULT_PAGE


def parse(search: str | None) -> dict[str, str]:
    """Query string (with or without '?') to a dict; the last value wins for repeated keys."""
    return dict(parse_qsl((search or "").lstrip("?"), keep_blank_values=False))


def build(params: dict) -> str:
    """Dict to a query string with '?', dropping empty values and keeping key order stable."""
    items = [(k, _text(v)) for k, v in params.items() if v is not None and v != ""]
    return "?" + urlencode(items) if items else ""


def _text(v) -> str:
    # Floats such as 1e-08 must round-trip exactly to match coordinate values after reload.
    return repr(v) if isinstance(v, float) else str(v)
