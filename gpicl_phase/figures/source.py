"""One store opened for plotting, with its analysis results computed once and kept (a Source is immutable)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import xarray as xr

from gpicl_phase.analysis import (
    Thresholds, aggregate_seeds, classify_cells, plateaus, run_metrics, transition_boundaries,
)
from gpicl_phase.store import STATUS, StoreError, open_results

# Problems a page shows as a message instead of a figure: unreadable stores (StoreError) and stores the
# analysis cannot use (ValueError from missing streams or axes). StoreError is a ValueError.
StoreProblem = ValueError


@dataclass(eq=False)
class Source:
    """A results Dataset plus lazily computed, memoized analysis; `token` names the store version it shows."""

    ds: xr.Dataset
    name: str = "store"
    path: str = ""
    token: str = ""
    th: Thresholds = field(default_factory=Thresholds)
    status: np.ndarray | None = None  # from store.read_status, so progress views need not load the Dataset
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def data(self) -> xr.Dataset:
        """The Dataset in memory: every figure reads it, and a lazy Zarr read per figure would repeat I/O."""
        with self._lock:
            return self.ds.load()

    @cached_property
    def metrics(self) -> xr.Dataset:
        """`run_metrics` per run."""
        return run_metrics(self.data, self.th)

    @cached_property
    def cells(self) -> xr.Dataset:
        """`classify_cells`: phase, agreement, n_usable, n_runs per cell."""
        return classify_cells(self.metrics, self.th)

    @cached_property
    def agg(self) -> xr.Dataset:
        """`aggregate_seeds` of the run metrics: <metric>_mean/_std/_ci/_n per cell."""
        return aggregate_seeds(self.metrics, self.th)

    @cached_property
    def boundaries(self) -> xr.Dataset | None:
        """`transition_boundaries` along num_tasks, or None when the store does not sweep it."""
        if "num_tasks" not in self.ds["status"].dims:
            return None
        return transition_boundaries(self.metrics, self.th)

    @cached_property
    def plateaus(self) -> xr.Dataset:
        """`plateaus` per run: leave_step, plateau_steps, censored, usable."""
        return plateaus(self.data, self.th)

    @cached_property
    def status_codes(self) -> np.ndarray:
        """Status code per run over the axis dims (int8), without reading anything else."""
        return np.asarray(self.status if self.status is not None else self.ds["status"].values)

    @property
    def status_counts(self) -> dict[str, int]:
        """Runs per status name."""
        codes = self.status_codes.ravel()
        return {name: int((codes == code).sum()) for name, code in STATUS.items()}

    def check_finished(self) -> None:
        """Raise StoreProblem when no run has finished, so pages say so instead of drawing empty axes."""
        c = self.status_counts
        if c["done"] == 0:
            total = sum(c.values())
            raise StoreProblem(
                f"no finished runs yet in '{self.name}' ({c['pending']} pending, {c['running']} running, "
                f"{c['failed']} failed, {c['diverged']} diverged of {total}); this page fills in as the sweep writes"
            )


def load_source(path: str | Path, *, name: str | None = None, token: str = "", th: Thresholds | None = None,
                status: np.ndarray | None = None) -> Source:
    """Open a store through the store module; raises StoreError with a readable message."""
    ds = open_results(path)
    name = name or Path(str(path).rstrip("/")).name.removesuffix(".zarr")
    return Source(ds=ds, name=name, path=str(path), token=token, th=th or Thresholds(), status=status)


__all__ = ["Source", "StoreError", "StoreProblem", "load_source"]
