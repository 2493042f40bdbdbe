"""Every exportable figure by name, so the app's pages and `export` build exactly the same figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gpicl_phase.choices import PAPER_FIGURES  # noqa: F401 - part of the catalog's surface
from gpicl_phase.figures import detail, improvement, phase, plateau, progress, statesize
from gpicl_phase.figures.source import Source
from gpicl_phase.figures.style import check_style, for_print
from gpicl_phase.figures.views import Built

# name -> builder(source, query, style) -> Built. "incontext" is Fig. 3 (accuracy vs examples seen, one cell),
# "improvement" is Fig. 4 (last minus first accuracy vs number of tasks).
BUILDERS: dict[str, Callable[[Source, dict, str], Built]] = {
    "phase": phase.build,
    "plateau": plateau.build,
    "incontext": detail.build,
    "improvement": improvement.build,
    "statesize": statesize.build,
    "progress": progress.build,
}


def build(name: str, source: Source, query: dict | None = None, style: str = "screen") -> Built:
    """Build figure `name` for a source and URL-style query (selections); ValueError for unknown names.
    In the paper style the figure has no title (see `style.for_print`)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown figure {name!r}; choose one of {', '.join(BUILDERS)}")
    built = BUILDERS[name](source, dict(query or {}), check_style(style))
    return replace(built, figure=for_print(built.figure)) if style == "paper" else built
