"""Static export: figures as SVG/PDF/PNG through kaleido and the system Chromium, each with a CSV of its data."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go

from gpicl_phase.analysis import Thresholds, combine
from gpicl_phase.choices import FIGURES, FORMATS, PAPER_FIGURES
from gpicl_phase.figures.catalog import build
from gpicl_phase.figures.source import Source, StoreProblem, load_source
from gpicl_phase.figures.style import check_style
from gpicl_phase.figures.views import Built

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SCREEN_WIDTH = 1100  # screen-style figures fill their container in the app; a file needs a fixed width
PNG_SCALE = 3  # ~300 dpi at the paper style's pixel sizes


class ExportError(RuntimeError):
    """Export cannot run (no Chromium) or was asked for something unknown."""


def find_chromium() -> str:
    """Path of the Chromium kaleido should drive: $BROWSER_PATH, else the usual names; ExportError if none."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise ExportError(f"BROWSER_PATH={env} is not an executable file. " + _INSTALL_HINT)
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise ExportError("static export needs Chromium, and none was found. " + _INSTALL_HINT)


_INSTALL_HINT = (
    "Install it with `apt-get install chromium` (Debian/Ubuntu) or run scripts/install_chromium.sh, "
    "or point BROWSER_PATH at a Chromium or Chrome binary."
)


def render(figures: Sequence[go.Figure], fmt: str) -> list[bytes]:
    """Render figures to `fmt` bytes in one Chromium session (its start costs seconds; each figure ~0.2 s)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    chromium = find_chromium()

    async def run() -> list[bytes]:
        import kaleido

        # mathjax=False: no network (MathJax would load from a CDN) and no LaTeX in our labels anyway.
        async with kaleido.Kaleido(n=1, mathjax=False, path=chromium) as k:
            out = []
            for fig in figures:
                opts = {"format": fmt, "width": fig.layout.width or SCREEN_WIDTH, "height": fig.layout.height or 500}
                if fmt == "png":
                    opts["scale"] = PNG_SCALE
                out.append(await k.calc_fig(fig, opts=opts))
            return out

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    # Called from inside an event loop (a notebook): run the export on its own loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def csv_bytes(built: Built) -> bytes:
    """The plotted data as CSV."""
    return built.data.to_csv(index=False).encode()


def zip_bytes(built: Built, fmt: str, stem: str) -> bytes:
    """One figure and its CSV in a zip, for the app's download button."""
    (image,) = render([built.figure], fmt)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{stem}.{fmt}", image)
        z.writestr(f"{stem}.csv", csv_bytes(built))
    return buf.getvalue()


def open_sources(paths: Sequence[str], th: Thresholds | None = None) -> list[Source]:
    """One Source per store, or one combined Source when several stores combine (as `analyze` does)."""
    sources = [load_source(p, th=th) for p in paths]
    if len(sources) < 2:
        return sources
    try:
        ds = combine([s.ds for s in sources], labels=[s.name for s in sources])
    except ValueError as err:
        print(f"note: exporting each store on its own; they do not combine: {err}", file=sys.stderr)
        return sources
    return [Source(ds=ds, name="combined", th=th or Thresholds())]


def export(paths: Sequence[str], figure: str = "all", fmt: str = "svg", out_dir: str | os.PathLike = ".",
           style: str = "paper", *, query: dict | None = None, thresholds: Thresholds | None = None) -> list[Path]:
    """Write figure(s) for the stores as `<store>_<figure>.<fmt>` plus `.csv` into out_dir; returns the paths.

    `figure` is one of FIGURES ("all" skips figures a store cannot make, saying why on stderr); `query` holds
    the same selections as the app's URL (e.g. {"color": "acc:unseen", "batch_size": "128"}).
    """
    if figure not in FIGURES:
        raise ExportError(f"unknown figure {figure!r}; choose one of {', '.join(FIGURES)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    check_style(style)
    find_chromium()  # fail before the analysis work, not after it
    names = PAPER_FIGURES if figure == "all" else (figure,)
    built: list[tuple[str, Built]] = []
    for source in open_sources(paths, thresholds):
        for name in names:
            try:
                built.append((f"{source.name}_{name}", build(name, source, query, style)))
            except StoreProblem as err:
                if figure != "all":
                    raise
                print(f"note: skipped {source.name} {name}: {err}", file=sys.stderr)
    if not built:
        raise StoreProblem("nothing to export: no figure could be made from these stores")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (stem, b), image in zip(built, render([b.figure for _, b in built], fmt), strict=True):
        for path, data in ((out / f"{stem}.{fmt}", image), (out / f"{stem}.csv", csv_bytes(b))):
            path.write_bytes(data)
            written.append(path)
    return written
