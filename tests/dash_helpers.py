"""Reading Dash component trees in tests: what a page shows and which components it holds."""

from __future__ import annotations


def texts(component) -> str:
    """All strings inside a Dash component tree (what a reader of the page would see)."""
    if component is None or isinstance(component, (int, float)):
        return ""
    if isinstance(component, str):
        return component
    if isinstance(component, (list, tuple)):
        return " ".join(texts(c) for c in component)
    return texts(getattr(component, "children", None))


def find_ids(component) -> list:
    """Ids of every component in a tree."""
    out = []
    if isinstance(component, (list, tuple)):
        for c in component:
            out += find_ids(c)
    elif hasattr(component, "to_plotly_json"):
        if getattr(component, "id", None) is not None:
            out.append(component.id)
        out += find_ids(getattr(component, "children", None))
    return out
