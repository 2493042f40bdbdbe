"""Phase analysis of results stores: pure functions, xarray in, xarray or pandas out; never imports JAX.

`ds` below is a Dataset from `gpicl_phase.store.open_results` (or `gpicl_phase.testing.synthetic_store`, or
`combine`). Axis dims are the dims of `ds.status`; "cells" are the axis dims minus `seed`. Functions that
take `ds` also accept `run_metrics(ds, th)` output, so an app computes the metrics once and reuses them.
Load a store that you will analyse repeatedly (`ds = ds.load()`): every run is its own chunk on disk.

    Thresholds(plateau_band=0.1, improvement=0.1, memorization_acc=0.5, n_first=5, n_last=5,
               positions=(10, 20, 40), eval_step=None, unseen_datasets="any", ci_level=0.95)
        .to_json() / .from_json(s) / .from_toml(path)   (command-line flags: gpicl_phase/cli.py)
    run_metrics(ds, th) -> Dataset                   acc_first, acc_last, improvement, auc [axes, stream],
                                                     acc_at [axes, stream, at_position], final_loss [axes],
                                                     usable [axes] (+ status, param_count, state_size, ...)
    classify(ds, th) -> DataArray[str] [axes]        one of PHASES per run
    classify_cells(ds, th, dim="seed") -> Dataset    phase, agreement, n_usable, n_runs [cells]
    aggregate_seeds(ds, th, dim="seed") -> Dataset   <metric>_mean/_std/_ci/_n [cells(, stream)], n_usable
    transition_boundaries(ds, th, *, stream="unseen", metric="improvement", axis="num_tasks", dim="seed",
                          threshold=None) -> Dataset boundary_log2, boundary_flag [other axes incl. seed],
                                                     boundary_log2_mean/_std/_ci/_n, boundary_log2_of_mean
    plateaus(ds, th) -> Dataset                      leave_step, plateau_steps, censored, usable [axes]
    onsets(ds, th) -> Dataset                        memorized_step, learning_step [axes, stream], usable [axes]
    plateau_power_law(ds, th, *, x="batch_size", by=()) -> DataFrame   exponent (+ se, CI), prefactor, r2, ...
    state_size_trend(ds, th, *, stream="unseen", metric="acc_last") -> DataFrame   rho, p, r2 per predictor
    combine(datasets, *, dim="arch", labels=None) -> Dataset
    check_combinable(datasets, *, dim="arch", labels=None) -> labels   (combine's ValueError, no data read)
    tidy_table(ds, th, dim="seed") -> DataFrame      rows "run" and "seeds"; write_tables(df, prefix) -> [Path]
    summary_text(ds, th) -> str   (the `analyze` command prints it: gpicl_phase/commands/read.py)

PHASES: memorizing, identifying, generalizing, failed (never left the loss plateau), unclassified (finished
but no rule fits), diverged, unfinished (pending or running), error (status "failed": the run crashed).
Definitions and their mapping to the paper's words: docs/analysis.md.
"""

from gpicl_phase.analysis.boundaries import FLAGS, first_crossing, transition_boundaries
from gpicl_phase.analysis.combine import check_combinable, combine
from gpicl_phase.analysis.metrics import axis_dims, run_metrics, usable
from gpicl_phase.analysis.onsets import onsets
from gpicl_phase.analysis.phases import PHASES, classify, classify_cells
from gpicl_phase.analysis.plateau import plateau_power_law, plateaus
from gpicl_phase.analysis.report import summary_text
from gpicl_phase.analysis.seeds import aggregate_seeds
from gpicl_phase.analysis.state_size import state_size_trend
from gpicl_phase.analysis.tables import metric_column, tidy_table, write_tables
from gpicl_phase.rules import Thresholds

__all__ = [
    "FLAGS",
    "PHASES",
    "Thresholds",
    "aggregate_seeds",
    "axis_dims",
    "classify",
    "classify_cells",
    "check_combinable",
    "combine",
    "first_crossing",
    "onsets",
    "metric_column",
    "plateau_power_law",
    "plateaus",
    "run_metrics",
    "state_size_trend",
    "summary_text",
    "tidy_table",
    "transition_boundaries",
    "usable",
    "write_tables",
]
