"""``gpicl-phase``: its flags, sub-commands and help (what each command does is in ``commands.py``).

JAX is imported only by the commands that train, so ``status``, ``analyze``, ``app`` and ``export`` start
without it.
"""

from __future__ import annotations

import argparse
import os
import sys

from gpicl_phase import __version__, commands
from gpicl_phase.choices import EXECUTORS, FIGURES, FORMATS, TASK_SOURCES
from gpicl_phase.config import ConfigError, fields
from gpicl_phase.sweep.spec import DEFAULT_MAX_CELLS

EPILOG = """examples:
  gpicl-phase demo                                        small sweep on the embedded digits, then the app
  gpicl-phase train --d-model 32 --num-tasks 16 --steps 500 --out run.nc
  gpicl-phase sweep sweeps/smoke.toml --store runs/smoke.zarr
  gpicl-phase refine runs/cpu_phase.zarr --resolution 0.5   add cells where the phase changes
  gpicl-phase status runs/smoke.zarr
  gpicl-phase analyze runs/smoke.zarr --out runs/smoke
  gpicl-phase app runs/smoke.zarr
  gpicl-phase export runs/smoke.zarr --figure all --format svg --out figures/
"""


def _checked(convert, what: str, ok, rule: str):
    """An argparse type: ``convert(text)``, refused unless ``ok`` (argparse names the flag in its error)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return parse


_positive_int = _checked(int, "an integer", lambda v: v >= 1, "must be at least 1")
_octaves = _checked(float, "octaves (a number)", lambda v: 0 < v <= 16, "resolution must be octaves in (0, 16]")
_port = _checked(int, "a port number", lambda v: 1 <= v <= 65535, "a port is 1..65535")


def dataclass_flags(p: argparse.ArgumentParser, title: str, fields_, *, typed: bool):
    """One ``--<field>`` flag per field of a frozen dataclass, its help from the field's metadata; a flag not
    given stays None, so the dataclass's default (or a file's value) applies. ``typed``: argparse converts to
    the field's type; else values stay text for the dataclass's own checks (RunConfig's name the field)."""
    group = p.add_argument_group(title)
    for f in fields_:
        kind, kw = str(f.type), {"dest": f.name, "default": None}
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        elif typed and kind.startswith("tuple[int"):
            kw |= {"type": int, "nargs": "*"}
        elif typed:
            kw["type"] = float if kind.startswith("float") else int
        else:
            kw["metavar"] = kind.split("[")[0].upper()
        default = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        packable = f.metadata.get("dynamic")
        note = "" if packable is None else "; dynamic: packable in sweeps" if packable else "; static"
        text = f.metadata["help"]
        text += f" (default {default}{note})" if "default" not in text else f" ({note[2:]})" if note else ""
        group.add_argument("--" + f.name.replace("_", "-"), help=text, **kw)
    return group


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    dataclass_flags(p, "run config (every field of RunConfig)", fields(), typed=False)


def _thresholds_flags(p: argparse.ArgumentParser) -> None:
    # Imported here so that `gpicl-phase --help` stays fast; the rules are numpy only.
    import dataclasses

    from gpicl_phase.rules import Thresholds

    group = dataclass_flags(p, "phase thresholds (docs/analysis.md)", dataclasses.fields(Thresholds), typed=True)
    group.add_argument("--thresholds", metavar="TOML", help="TOML file of thresholds; the flags above override it")


def _engine_flags(p: argparse.ArgumentParser) -> None:
    from gpicl_phase.engine import Engine  # no JAX: a plain dataclass

    dataclass_flags(p, "engine (how models are lowered; fixed in the store when it is created, so a resume "
                       "computes the same numbers)", Engine.flags(), typed=True)


def parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    p = argparse.ArgumentParser(
        prog="gpicl-phase", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Meta-train sequence models on many projected tasks, sweep grids of runs into Zarr "
                    "stores, classify phases (failed, memorizing, identifying, generalizing) and browse them.")
    p.add_argument("--version", action="version", version=f"gpicl-phase {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train one run and print its meta-test accuracies",
                       description="Train one run on CPU or an accelerator. Prints seen/unseen/dataset accuracy "
                                   "at the 1st, 10th, 50th and last position of the sequence.")
    _add_config_flags(t)
    t.add_argument("--out", help="write the run's metrics to this netCDF file (.nc)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=commands.cmd_train)

    s = sub.add_parser("sweep", help="run or resume a sweep file into a Zarr store",
                       description="Expand a sweep file into runs, pack runs that share shapes into one "
                                   "compiled program, write results to a Zarr store. Re-running the same "
                                   "command resumes: finished runs are skipped.")
    s.add_argument("spec", help="sweep file (sweeps/*.toml)")
    s.add_argument("--store", help="Zarr store path (created if missing); required unless --dry-run")
    s.add_argument("--dry-run", action="store_true",
                   help="check the file without training: print the plan (packs, steps, task source, memory) "
                        "and trace every compiled program, in seconds; nothing is written")
    s.add_argument("--smoke", action="store_true", help="apply the file's [smoke] table: seconds, for CI")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="override a base config field (repeatable), e.g. --set steps=5000; recorded in the store")
    s.add_argument("--executor", choices=EXECUTORS, default="local", help="where chunks run")
    s.add_argument("--workers", type=_positive_int, help="with --executor dask and no --scheduler: local worker processes")
    s.add_argument("--scheduler", help="with --executor dask: address of an existing scheduler (tcp://HOST:PORT)")
    s.add_argument("--max-pack", type=_positive_int, help="at most this many runs per compiled program "
                                                "(default: what fits in device memory)")
    s.add_argument("--task-source", choices=TASK_SOURCES, default="auto",
                   help="training tasks from a precomputed on-device bank of every task's matrices, or drawn "
                        "fresh per sequence; both give the same batches. auto: a bank when it fits a quarter "
                        "of the device memory and costs fewer draws than it saves (default)")
    s.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                   help="checkpoint runs in training into the store this often, so a killed sweep resumes "
                        "mid-run (default 300; 0: after every meta-test; inf: never)")
    s.add_argument("--max-cells", type=_positive_int, default=DEFAULT_MAX_CELLS, metavar="N",
                   help=f"refuse a grid of more than N cells, which is almost always a typo "
                        f"(default {DEFAULT_MAX_CELLS:,})")
    _engine_flags(s)
    s.add_argument("--probe-pack", action="store_true",
                   help="when creating the store, time each program group at pack sizes 1, 2, 4, ... and pack "
                        "no more runs than still pay (10%% more run-steps per second per doubling); the sizes "
                        "are recorded, so resumes plan the same chunks. Default: as many as fit in memory")
    s.add_argument("--no-refine", action="store_true",
                   help="run the grid only, even when the file has a [refine] table")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=commands.cmd_sweep)

    r = sub.add_parser("refine", help="add cells where the phase changes, run them, until boundaries are located",
                       description="Classify the store's cells, find neighbours along a numeric axis whose phases "
                                   "differ, add cells at their log2 midpoint (all seeds), run them into the same "
                                   "store, and repeat until every boundary is bracketed to --resolution octaves. "
                                   "Settings default to the sweep file's [refine] table. Killed, it resumes "
                                   "where it was and takes the same path.")
    r.add_argument("store", help="a store made by gpicl-phase sweep")
    r.add_argument("--axis", action="append", metavar="AXIS",
                   help="numeric axis to refine (repeatable; default num_tasks or the file's [refine] axes)")
    r.add_argument("--resolution", type=_octaves, metavar="OCTAVES",
                   help="bracket every boundary to this many octaves (default 0.5, or the file's)")
    r.add_argument("--max-rounds", type=_positive_int, help="at most this many rounds in all (default 8, or the file's)")
    r.add_argument("--max-pack", type=_positive_int, help="at most this many runs per compiled program")
    r.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                   help="checkpoint runs in training this often (default 300)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=commands.cmd_refine)

    st = sub.add_parser("status", help="completion table of a store, with failed and diverged runs")
    st.add_argument("store")
    st.add_argument("--verify", action="store_true",
                    help="read every run's files and check them (checksums, missing files, status bytes); "
                         "exit 1 naming each damaged run (a sweep on the store runs them again)")
    st.set_defaults(func=commands.cmd_status)

    a = sub.add_parser("analyze", help="classify phases, find transitions and plateaus; write tidy tables")
    a.add_argument("stores", nargs="+")
    a.add_argument("--out", help="prefix for the CSV and Parquet tables (default: beside the first store)")
    _thresholds_flags(a)
    a.set_defaults(func=commands.cmd_analyze)

    ap = sub.add_parser("app", help="serve the interactive phase-diagram app")
    ap.add_argument("stores", nargs="+")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=_port, default=8050)
    ap.add_argument("--debug", action="store_true",
                    help="Flask's development server with reloading and in-page errors (default: waitress)")
    ap.set_defaults(func=commands.cmd_app)

    e = sub.add_parser("export", help="write publication figures (SVG, PDF, PNG) and the data plotted (CSV)")
    e.add_argument("stores", nargs="+")
    e.add_argument("--figure", default="all",
                   choices=FIGURES)
    e.add_argument("--format", default="svg", choices=FORMATS)
    e.add_argument("--out", default="figures", help="output directory")
    e.add_argument("--style", default="paper", help="figure style (paper or screen)")
    e.add_argument("--paper", action="store_true",
                   help="write the paper's set from whichever stores can make each item: Fig. 2, 3, 4, Table 1 "
                        "(CSV + LaTeX), plateau and state-size figures; says why an item could not be made "
                        "(--figure is ignored; docs/paper_figures.md)")
    e.set_defaults(func=commands.cmd_export)

    d = sub.add_parser("data", help="fetch or list datasets")
    dsub = d.add_subparsers(dest="data_cmd", required=True, metavar="ACTION")
    df = dsub.add_parser("fetch", help="download datasets into $GPICL_PHASE_DATA (checksums verified)")
    df.add_argument("names", nargs="+", help="mnist, fashion_mnist, kmnist, cifar10, svhn")
    dsub.add_parser("list", help="show which datasets are available locally")
    d.set_defaults(func=commands.cmd_data)

    dm = sub.add_parser("demo", help="the main job: a small sweep on the embedded digits, analysis, app")
    dm.add_argument("--store", default=os.path.join("runs", "demo.zarr"))
    dm.add_argument("--no-app", action="store_true", help="stop after the analysis")
    dm.add_argument("--port", type=_port, default=8050)
    dm.set_defaults(func=commands.cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept in the store, re-run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

