"""Figures of results stores: pure functions, Source (a store plus its analysis) in, plotly figure and CSV out.

Never imports JAX. `query` below is a dict of the selections the app keeps in its URL (str values), e.g.
`{"color": "acc:unseen", "facet": "none", "batch_size": "128"}`; missing or stale entries take defaults.

    load_source(path, *, name=None, token="", th=None, status=None) -> Source   (raises StoreProblem)
    Source(ds, name=...)                         a Dataset (store or synthetic) with memoized analysis
    build(name, source, query=None, style="screen") -> Built(figure, data, title)
        name in BUILDERS: phase, plateau, incontext (Fig. 3), improvement (Fig. 4), statesize, progress
        raises StoreProblem (an exception class of its own) with a readable reason when the store cannot make the figure
    export(paths, figure="all", fmt="svg", out_dir=".", style="paper", *, query=None, thresholds=None)
        -> [Path]   writes <store>_<figure>.<fmt> and .csv; raises ExportError without Chromium
    export_paper(paths, out, fmt="svg", style="paper", *, query=None) -> ([Path], report lines)
        the paper's set (Fig. 2, 3, 4, Table 1, plateaus, state size) from whichever stores can make each
        item, saying why for the rest; `export --paper`. Builders in figures/paper.py, paper_set in figures/paper_export.py

Styles: "screen" (the app) and "paper" (sized for a two-column page, Okabe-Ito colours); style.py holds them.
"""

from gpicl_phase.figures.catalog import BUILDERS, PAPER_FIGURES, build
from gpicl_phase.figures.export import FIGURES, FORMATS, ExportError, export
from gpicl_phase.figures.paper_export import export_paper
from gpicl_phase.figures.source import Source, StoreProblem, load_source
from gpicl_phase.figures.style import STYLES
from gpicl_phase.figures.views import Built

__all__ = [
    "BUILDERS", "FIGURES", "FORMATS", "PAPER_FIGURES", "STYLES", "Built", "ExportError", "Source", "StoreProblem",
    "build", "export", "export_paper", "load_source",
]
