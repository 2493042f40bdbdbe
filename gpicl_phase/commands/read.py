"""The commands that read stores: ``status``, ``analyze``, ``app``, ``export``, ``data``. None imports JAX.

Each turns the library's values and typed errors into printed text, one line on stderr and an exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def cmd_status(args) -> int:
    """Completion table of a store."""
    from gpicl_phase import status
    from gpicl_phase.store import StoreError

    try:
        print(status.status_text(args.store))
        if args.verify:
            text, damaged = status.verify_text(args.store)
            print(text, file=sys.stderr if damaged else sys.stdout)
            return 1 if damaged else 0
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_analyze(args) -> int:
    """Phase table, boundaries, plateaus; tidy CSV/Parquet."""

    try:
        th = thresholds_from_args(args, base=_store_thresholds(args.stores[0]))
    except (OSError, ValueError) as err:
        print(f"error: thresholds: {err}", file=sys.stderr)
        return 2
    return analyze(args.stores, args.out, th)


def thresholds_from_args(args, base=None):
    """Thresholds from the command line: defaults (or ``base``, e.g. a store's) < a ``--thresholds`` TOML file <
    the flags given. Raises ValueError (OSError for an unreadable file) naming the problem."""
    import dataclasses

    from gpicl_phase.rules import Thresholds

    base = Thresholds.from_toml(args.thresholds) if getattr(args, "thresholds", None) else (base or Thresholds())
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Thresholds)
             if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base, **given)  # validated again by Thresholds.__post_init__


def _store_thresholds(path):
    """The thresholds a store's sweep stopped and refined with (None when it records none, or is unreadable)."""
    from gpicl_phase.rules import Thresholds
    from gpicl_phase.store import StoreError, store_attrs

    try:
        text = store_attrs(path).get("thresholds")
        return Thresholds.from_json(text) if text else None
    except (StoreError, ValueError):
        return None  # analyze reports an unreadable store itself


def cmd_app(args) -> int:
    """Serves the Dash app."""
    from gpicl_phase.store import StoreError, store_attrs

    try:
        for path in args.stores:
            store_attrs(path)  # a path that is not a store is refused here, not as an error page later
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from app.main import serve

    try:
        serve(args.stores, host=args.host, port=args.port, debug=args.debug)  # warns itself when binding beyond localhost
    except OSError as err:  # the port is taken, or the host cannot be bound
        print(f"error: cannot serve on {args.host}:{args.port}: {err.strerror or err}; try another --port",
              file=sys.stderr)
        return 2
    return 0


def cmd_export(args) -> int:
    """Static figures and the CSV of the data plotted; with --paper, the paper's whole figure set."""
    if args.paper:
        return export_paper_set(args.stores, args.out, args.format, args.style)
    return export_figures(args.stores, args.figure, args.format, args.out, args.style)


def cmd_data(args) -> int:
    """Datasets: fetch into the cache, or list what is available."""
    from gpicl_phase import data

    if args.data_cmd == "list":
        print(f"cache directory: {data.cache_dir()}  (set GPICL_PHASE_DATA to move it)")
        for name, ok in data.available().items():
            print(f"  {name:15s} {'available' if ok else 'missing: gpicl-phase data fetch ' + name}")
        return 0
    try:
        got = data.fetch(args.names)
    except data.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, paths in got.items():
        print(f"{name}: {', '.join(map(str, paths)) or 'embedded, nothing to fetch'}")
    return 0


def analyze(paths: Sequence[str], out: str | None, thresholds) -> int:
    """Open (and combine) stores, print the summary, write tables to `out` (a prefix, or a directory ending in /).

    Returns 0 on success, 2 when a store cannot be read or the stores cannot be combined.
    """
    from gpicl_phase.analysis import combine, summary_text, tidy_table, write_tables
    from gpicl_phase.store import StoreError, load_results

    try:
        datasets = [load_results(p) for p in paths]  # in memory: every function below reads the same arrays
        ds = datasets[0] if len(datasets) == 1 else combine(datasets, labels=store_labels(paths))
    except (StoreError, ValueError) as err:
        print(f"gpicl-phase analyze: {err}", file=sys.stderr)
        return 2
    try:
        text = summary_text(ds, thresholds)
    except ValueError as err:  # thresholds the store cannot answer (an eval step it lacks, windows too long)
        print(f"gpicl-phase analyze: {err}", file=sys.stderr)
        return 2
    print(text, end="")
    if out:
        prefix = Path(out) / "runs" if out.endswith(("/", "\\")) or Path(out).is_dir() else Path(out)
        try:
            prefix.parent.mkdir(parents=True, exist_ok=True)
            written = write_tables(tidy_table(ds, thresholds), prefix)
            summary = prefix.with_name(prefix.name + ".summary.txt")
            summary.write_text(text)
        except OSError as err:
            print(f"gpicl-phase analyze: --out {out}: cannot write the tables there: {err.strerror or err}"
                  " (the summary above is complete)", file=sys.stderr)
            return 2
        print("wrote " + ", ".join(str(p) for p in [*written, summary]))
    return 0


def store_labels(paths: Sequence[str]) -> list[str]:
    """Store names for combining: the file names without .zarr."""
    return [Path(p.rstrip("/\\")).name.removesuffix(".zarr") for p in paths]


def _exported(command: str, out: str, make):
    """``make()``, or None after one line on stderr when the stores cannot make it, Chromium is missing or
    ``out`` cannot be written."""
    from gpicl_phase.figures import ExportError, StoreProblem

    try:
        return make()
    except (ExportError, StoreProblem) as err:
        print(f"{command}: {err}", file=sys.stderr)
    except OSError as err:  # --out under a regular file, a read-only or full disk
        print(f"{command}: --out {out}: cannot write there: {err.strerror or err}", file=sys.stderr)
    return None


def export_figures(paths: Sequence[str], figure: str, fmt: str, out: str, style: str = "paper") -> int:
    """CLI entry: export and list the files; 0 on success, 2 with a one-line reason on bad input or no Chromium."""
    from gpicl_phase.figures import export

    written = _exported("gpicl-phase export", out, lambda: export(paths, figure, fmt, out, style))
    if written is None:
        return 2
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def export_paper_set(paths: Sequence[str], out: str, fmt: str = "svg", style: str = "paper") -> int:
    """CLI entry of `export --paper`: 0 when anything was made, 2 with a reason otherwise (or without Chromium)."""
    from gpicl_phase.figures import export_paper

    made = _exported("gpicl-phase export --paper", out, lambda: export_paper(paths, out, fmt, style))
    if made is None:
        return 2
    written, lines = made
    print("\n".join(lines))
    if not written:
        print("gpicl-phase export --paper: nothing could be made from these stores", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files into {out} (list: {Path(out) / 'paper_export.txt'})")
    return 0
