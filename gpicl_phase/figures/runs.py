"""Every run of a store as a row of one table: the runs explorer's data (its figures are in
runs_by_parameter.py and run_curves.py).

A run's id is the URL query of its store and axis values (``store=sweep&d_model=16&num_tasks=4&seed=0``), so it
reads as text, survives reloads, and opens the run's cell on the detail page as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, quote

import numpy as np
import pandas as pd

from gpicl_phase.analysis import classify
from gpicl_phase.analysis.metrics import stream_names
from gpicl_phase.analysis.tables import metric_column
from gpicl_phase.figures import axes as ax
from gpicl_phase.figures.source import Source
from gpicl_phase.store import STATUS, STOP_REASONS

RUN = "run"
STORE = "store"
PHASE = "phase"
STREAM_METRICS = ("acc_first", "acc_last", "improvement")
RUN_NUMBERS = ("steps_trained", "max_steps", "wall_time", "param_count", "state_size")


# --- the table --------------------------------------------------------------------------------------------


def runs_frame(source: Source) -> pd.DataFrame:
    """One row per run of the store, in store order: run id, store, axis values, status, phase and metrics.

    Columns: `run`, `store`, the swept axes, `status`, `phase`, `final_loss`, `acc_first[s]`,
    `acc_last[s]`, `improvement[s]` per stream s, `steps_trained`, `max_steps`, `stop_reason`, `wall_time`,
    `param_count`, `state_size`. `frame.attrs["axes"]` lists the swept axes. Vectorized: no loop over runs.
    """
    m = source.metrics
    dims = list(m["status"].dims)
    shape = m["status"].shape
    at = np.unravel_index(np.arange(int(np.prod(shape))), shape)  # C order, as .ravel() below
    cols: dict[str, object] = {STORE: source.name}
    for d, i in zip(dims, at, strict=True):
        cols[d] = m[d].values[i]
    codes = m["status"].transpose(*dims).values.ravel().astype(int)
    names = np.array(list(STATUS))
    cols["status"] = names[np.clip(codes, 0, len(names) - 1)]
    cols[PHASE] = classify(m, source.th).transpose(*dims).values.ravel()
    cols["final_loss"] = m["final_loss"].transpose(*dims).values.ravel()
    for metric in STREAM_METRICS:
        by_stream = m[metric].transpose(*dims, "stream").values.reshape(-1, m.sizes["stream"])
        for k, stream in enumerate(stream_names(m)):
            cols[metric_column(metric, stream)] = by_stream[:, k]
    for name in RUN_NUMBERS:
        cols[name] = m[name].transpose(*dims).values.ravel()
    reasons = np.array(list(STOP_REASONS) + ["?"])
    cols["stop_reason"] = reasons[np.clip(m["stop_reason"].transpose(*dims).values.ravel().astype(int), 0,
                                          len(reasons) - 1)]
    frame = pd.DataFrame(cols)
    frame.insert(0, RUN, run_ids(source.name, frame, dims))
    frame.attrs["axes"] = dims
    return frame


def run_ids(store: str, frame: pd.DataFrame, dims: Sequence[str]) -> pd.Series:
    """`store=<name>&<axis>=<value>...` per row, values spelled as the app's URLs spell them."""
    ids = pd.Series(f"store={quote(store, safe='')}", index=frame.index, dtype=object)
    for d in dims:
        numbers = frame[d].dtype.kind in "iufb"
        ids = ids + f"&{d}=" + (frame[d].astype(str) if numbers else frame[d].map(lambda v: quote(str(v), safe="")))
    return ids


def combine_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Several stores' runs in one table (axes a store does not sweep are empty there); attrs keep every axis."""
    axes = list(dict.fromkeys(a for f in frames for a in f.attrs["axes"]))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    frame.attrs["axes"] = axes
    return frame


def metric_options(frame: pd.DataFrame) -> list[str]:
    """Columns a plot may show as the metric: per-stream metrics (unseen first), final loss, run numbers."""
    streams = [c for c in frame.columns if c.startswith(STREAM_METRICS)]
    streams.sort(key=lambda c: (STREAM_METRICS.index(c.split("[")[0]), "[unseen]" not in c))
    return [*streams, "final_loss", *[c for c in RUN_NUMBERS if c in frame]]


def default_metric(frame: pd.DataFrame) -> str:
    """In-context improvement on unseen tasks: the quantity the phases are about."""
    options = metric_options(frame)
    unseen = metric_column("improvement", "unseen")
    return unseen if unseen in options else options[0]


def parameter_axes(frame: pd.DataFrame) -> list[str]:
    """Swept axes worth a plot axis: not the seed (a repeat, not a parameter), more than one value."""
    return [a for a in frame.attrs["axes"] if a != ax.SEED and frame[a].nunique() > 1]


def grid_columns(frame: pd.DataFrame, digits: int = 4) -> dict[str, list]:
    """The table as {column: values}, JSON-ready: floats rounded to `digits` decimals (more is noise here and
    bytes on the wire), NaN as None. Column-wise: row dicts repeat every column name in every row, 3.3x the
    bytes at 10,000 runs (benchmarks/bench_runs_explorer.py)."""
    out = {}
    for c in frame.columns:
        s = frame[c]
        if s.dtype.kind == "f":
            s = s.round(digits)
        out[c] = s.astype(object).where(s.notna(), None).tolist()
    return out


def parse_run(run_id: str) -> tuple[str, dict[str, str]]:
    """(store name, {axis: value text}) of a run id."""
    parts = dict(parse_qsl(run_id, keep_blank_values=True))
    return parts.pop(STORE, ""), parts


def run_label(run_id: str, with_store: bool = False) -> str:
    """Short legend text: the axis values, the store too when runs of several stores are shown."""
    name, cell = parse_run(run_id)
    text = ", ".join(f"{a}={v}" for a, v in cell.items())
    return f"{name}: {text}" if with_store else text
