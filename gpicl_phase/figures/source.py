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
from gpicl_phase.store import STATUS, StoreError, load_results, open_results



class StoreProblem(ValueError):
    """A store or selection a view cannot show, raised on purpose with a reason for the reader: the app shows it
    as a message and `export` prints it. Anything else raised while drawing is a bug and is not caught as this."""


# What the figures read, loaded by store.load_results (one file read per run and variable: ~0.1 s per variable
# for 10,000 runs, where Zarr takes ~2 s): eval_loss, grad_norm and message stay lazy, and status comes from
# store.read_status when the caller has it.
LOAD_VARS = ("train_loss", "eval_acc", "param_count", "state_size", "wall_time", "diverged_step", "steps_trained",
             "max_steps", "stop_reason", "round")
REFRESH_FRACTION = 0.25  # above this share of changed runs, a full reload is as cheap as patching


@dataclass(eq=False)
class Source:
    """A results Dataset plus lazily computed, memoized analysis; `token` names the store version it shows."""

    ds: xr.Dataset
    name: str = "store"
    path: str = ""
    token: str = ""
    th: Thresholds = field(default_factory=Thresholds)
    status: np.ndarray | None = None  # from store.read_status, so progress views need not load the Dataset
    preloaded: xr.Dataset | None = field(default=None, repr=False)  # `data`, when patched from an older Source
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def data(self) -> xr.Dataset:
        """LOAD_VARS and status in memory: every figure reads them, and lazy reads per figure would repeat I/O."""
        with self._lock:
            if "data" in self.__dict__:  # another thread loaded it while this one waited for the lock
                return self.__dict__["data"]
            if self.preloaded is not None:
                return self.preloaded
            if not self.path:
                return self.ds.load()
            if self.status is None:
                return load_results(self.path, [*LOAD_VARS, "status"])
            data = load_results(self.path, [*LOAD_VARS, "status"])
            damaged = data["status"].values == STATUS["damaged"]  # marked on read: keep them out of every figure
            data["status"] = self.ds["status"].copy(data=np.where(damaged, STATUS["damaged"], self.status))
            return data

    def refreshed(self, ds: xr.Dataset, status: np.ndarray, token: str) -> Source:
        """This store at a newer version, re-reading only runs whose status changed (a sweep finishing runs).

        Runs are written data first and status last, so an unchanged status means unchanged data.
        """
        new = Source(ds=ds, name=self.name, path=self.path, token=token, th=self.th, status=status)
        old = self.__dict__.get("data")  # only patch what was loaded already
        if old is None or self.status is None or self.status.shape != status.shape:
            return new
        changed = np.flatnonzero(self.status.ravel() != status.ravel())
        if len(changed) > REFRESH_FRACTION * status.size:
            return new
        data = old.copy(deep=True)
        dims = ds["status"].dims
        for i in changed:
            at = dict(zip(dims, np.unravel_index(i, status.shape), strict=True))
            for name in LOAD_VARS:
                data[name][at] = ds[name][at].values
        data["status"] = ds["status"].copy(data=status)
        new.preloaded = data
        return new

    @cached_property
    def metrics(self) -> xr.Dataset:
        """`run_metrics` per run."""
        return self._analysed(run_metrics, self.data, self.th)

    @cached_property
    def cells(self) -> xr.Dataset:
        """`classify_cells`: phase, agreement, n_usable, n_runs per cell."""
        return self._analysed(classify_cells, self.metrics, self.th)

    @cached_property
    def agg(self) -> xr.Dataset:
        """`aggregate_seeds` of the run metrics: <metric>_mean/_std/_ci/_n per cell."""
        return self._analysed(aggregate_seeds, self.metrics, self.th)

    @cached_property
    def boundaries(self) -> xr.Dataset | None:
        """`transition_boundaries` along num_tasks, or None when the store does not sweep it."""
        if "num_tasks" not in self.ds["status"].dims:
            return None
        return self._analysed(transition_boundaries, self.metrics, self.th)

    @cached_property
    def plateaus(self) -> xr.Dataset:
        """`plateaus` per run: leave_step, plateau_steps, censored, usable."""
        return self._analysed(plateaus, self.data, self.th)

    def _analysed(self, fn, *args):
        """``fn(*args)``; the analysis layer's ValueError (a store it cannot use: no such stream or axis) becomes
        a StoreProblem naming the store."""
        try:
            return fn(*args)
        except StoreProblem:
            raise
        except ValueError as err:
            raise StoreProblem(f"'{self.name}': {err}") from err

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
    """Open a store through the store module; an unreadable store raises StoreProblem with the store's reason."""
    try:
        ds = open_results(path)
    except StoreError as err:
        raise StoreProblem(str(err)) from err
    name = name or Path(str(path).rstrip("/")).name.removesuffix(".zarr")
    return Source(ds=ds, name=name, path=str(path), token=token, th=th or Thresholds(), status=status)


__all__ = ["Source", "StoreError", "StoreProblem", "load_source"]
