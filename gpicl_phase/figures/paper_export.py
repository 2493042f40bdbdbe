"""The paper's set from several stores: which store makes which item, and writing them all to files.

    paper_set(sources, query=None, style="paper") -> PaperSet(made, missing)
    export_paper(paths, out, fmt="svg", style="paper", *, query=None, thresholds=None) -> (paths, lines)
    (the `export --paper` command prints the report: gpicl_phase/commands/read.py)

`query` in `paper_set`/`export_paper` maps an item name (ITEMS) to that item's selections, the same as the
app's URL keys, e.g. {"fig3": {"num_tasks": "65536"}, "plateau": {"over": "batch_size"}}.
The makers themselves live in gpicl_phase/figures/paper.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from gpicl_phase.analysis import Thresholds
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures import plateau as plateau_view
from gpicl_phase.figures import style as st
from gpicl_phase.figures.export import FORMATS, ExportError, render
from gpicl_phase.figures.paper import (fig2, fig3, fig4, plateau_figures, statesize, table1, table1_caption,
                                       table1_latex)
from gpicl_phase.figures.paper_numbers import beside_paper
from gpicl_phase.figures.source import Source, StoreProblem, load_source
from gpicl_phase.figures.views import Built

# --- the set: which store makes which item --------------------------------------------------------------


def _has_intervention(source: Source) -> bool:
    return any(a in plateau_view.OVER_AXES and source.ds.sizes[a] > 1 for a in ax.cell_axes(source.ds))


def _has_tasks(source: Source) -> bool:
    return ax.TASKS in ax.cell_axes(source.ds) and source.ds.sizes[ax.TASKS] > 1


@dataclass(frozen=True)
class Item:
    """One item of the paper's set: its title, its maker, and which stores it prefers (higher is better)."""

    title: str
    make: Callable[[Source, dict, str], list[tuple[str, Built]]]
    prefer: Callable[[Source], int] = lambda s: 0


ITEMS: dict[str, Item] = {
    "fig2": Item("Fig. 2", lambda s, q, style: [("", fig2(s, q, style))]),
    # The paper reads Fig. 3 off a run trained on many tasks; Table 1 compares methods at one task count.
    "fig3": Item("Fig. 3", lambda s, q, style: [("", fig3(s, q, style))], prefer=lambda s: int(_has_tasks(s))),
    "fig4": Item("Fig. 4", lambda s, q, style: [("", fig4(s, q, style))]),
    "table1": Item("Table 1", lambda s, q, style: [("", Built(go.Figure(), beside_paper(table1(s, q)), "table1"))],
                   prefer=lambda s: int(not _has_tasks(s))),
    # Over an intervention (batch size, Adam's epsilon, ...) when some store varies one; else over any axis.
    "plateau": Item("Plateau", plateau_figures, prefer=lambda s: int(_has_intervention(s))),
    "statesize": Item("State size", lambda s, q, style: [("", statesize(s, q, style))]),
}


@dataclass(frozen=True)
class Made:
    """One output: file stem, the figure (None for tables), the data written as CSV, LaTeX for tables."""

    item: str
    store: str
    stem: str
    figure: go.Figure | None
    data: pd.DataFrame
    latex: str = ""


@dataclass(frozen=True)
class PaperSet:
    """What `paper_set` made, and for each item it could not make, why (one reason per store)."""

    made: list[Made] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)

    def report(self) -> list[str]:
        """One line per item: the stems made, or 'not made' and the reasons."""
        lines = []
        for name, item in ITEMS.items():
            stems = [m.stem for m in self.made if m.item == name]
            if stems:
                lines.append(f"{item.title}: {', '.join(stems)}")
            else:
                lines.append(f"{item.title}: not made: " + "; ".join(self.missing.get(name, ["no stores"])))
        return lines


def paper_set(sources: Sequence[Source], query: dict | None = None, style: str = "paper") -> PaperSet:
    """Every item from every store that can make it (for Fig. 3 and Table 1, only the stores they prefer)."""
    query = query or {}
    made, missing = [], {}
    for name, item in ITEMS.items():
        got, reasons = [], []
        ranked = sorted(sources, key=item.prefer, reverse=True)
        for source in ranked:
            if got and item.prefer(source) < item.prefer(got[0][0]):
                break
            try:
                got += [(source, suffix, b) for suffix, b in item.make(source, dict(query.get(name, {})), style)]
            except StoreProblem as err:
                reasons.append(str(err))
        if not got:
            missing[name] = reasons
        for source, suffix, b in got:
            stem = re.sub(r"[^\w.=-]+", "-", f"{name}_{source.name}{suffix}")  # labels may hold any character
            if name == "table1":
                made.append(Made(name, source.name, stem, None, b.data, table1_latex(b.data, table1_caption(b.data))))
            else:
                figure = st.for_print(b.figure) if style == "paper" else b.figure
                made.append(Made(name, source.name, stem, figure, b.data))
    return PaperSet(made, missing)


def _unique_names(sources: list[Source]) -> list[Source]:
    seen: dict[str, int] = {}
    for s in sources:
        n = seen[s.name] = seen.get(s.name, 0) + 1
        if n > 1:
            s.name = f"{s.name}{n}"
    return sources


def export_paper(paths: Sequence[str], out: str | Path, fmt: str = "svg", style: str = "paper", *,
                 query: dict | None = None, thresholds: Thresholds | None = None) -> tuple[list[Path], list[str]]:
    """Write the paper's set for the stores into out: figures as fmt, each with its CSV; Table 1 as CSV and .tex.

    Returns (paths written, report lines). Tables and CSVs are written before the figures are rendered, so a
    missing Chromium (ExportError, raised after them) still leaves the tables.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    st.check_style(style)
    sources = _unique_names([load_source(p, th=thresholds) for p in paths])
    result = paper_set(sources, query, style)
    lines = result.report()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for m in result.made:
        csv = out / f"{m.stem}.csv"
        csv.write_text(m.data.to_csv(index=False))
        written.append(csv)
        if m.latex:
            (out / f"{m.stem}.tex").write_text(m.latex)
            written.append(out / f"{m.stem}.tex")
    (out / "paper_export.txt").write_text("\n".join(lines) + "\n")
    figures = [m for m in result.made if m.figure is not None]
    if figures:
        try:
            images = render([m.figure for m in figures], fmt)
        except ExportError as err:
            raise ExportError(f"{err} The tables and CSVs were written to {out}; the figures were not.") from None
        for m, image in zip(figures, images, strict=True):
            (out / f"{m.stem}.{fmt}").write_bytes(image)
            written.append(out / f"{m.stem}.{fmt}")
    return written, lines
