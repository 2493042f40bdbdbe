"""``gpicl-phase refine``: run a store's grid, then add cells where the phase changes until every boundary
is bracketed to the resolution asked for.

Each round: classify the cells (``analysis.classify_cells`` with the sweep's thresholds), choose the cells
that split every open bracket (``refine.plan``), record the round in the store, run it (``sweep.run_sweep``,
which applies recorded rounds first). Every choice is a function of the stored numbers, so a refinement
killed at any point and started again takes the same path and writes the same bits.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from gpicl_phase import store
from gpicl_phase.analysis import classify_cells
from gpicl_phase.refine.plan import Bracket, brackets, located, next_round
from gpicl_phase.sweep import rounds
from gpicl_phase.sweep.runner import SweepError, SweepSummary, check_runnable, check_store_path, run_sweep
from gpicl_phase.sweep.spec import Refine, SweepSpec, from_json


@dataclass
class RefineSummary:
    """What a refinement did: its sweep invocations, rounds recorded, and the brackets left open."""

    sweeps: list[SweepSummary]
    rounds: int
    open: list[Bracket]
    located: list[Bracket]

    @property
    def ok(self) -> bool:
        """True when no chunk failed."""
        return all(s.ok for s in self.sweeps)


def store_spec(path: str) -> SweepSpec:
    """The sweep spec a store was made from (what ``gpicl-phase refine STORE`` refines)."""
    attrs = store.store_attrs(path)
    try:
        return from_json(attrs["spec"], source=str(path))
    except (KeyError, TypeError, ValueError):  # no spec, or not a sweep's (a synthetic or converted store)
        raise SweepError(f"{path} records no sweep spec (a synthetic or converted store): it cannot be "
                         "refined") from None


def check_refinable(spec: SweepSpec, settings: Refine) -> None:
    """Refuses axes that cannot be refined, before anything runs."""
    for axis in settings.axes:
        found = next((a for a in spec.axes if a.name == axis), None)
        if found is None:
            raise SweepError(f"refine: {axis!r} is not an axis of sweep {spec.name!r} "
                             f"(axes: {', '.join(a.name for a in spec.axes)})")
        if found.presets is not None or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                                for v in found.values):
            raise SweepError(f"refine: axis {axis!r} is not numeric with positive values "
                             f"(its values: {list(found.values)}); only such axes have log2 midpoints")
        if len(found.values) < 2:
            raise SweepError(f"refine: axis {axis!r} has a single value; nothing lies between neighbours")


def refine(spec: SweepSpec, path: str, settings: Refine, *, log=None, **sweep_kwargs) -> RefineSummary:
    """Runs the store's grid and its recorded rounds, then new rounds until every boundary along
    ``settings.axes`` is bracketed to ``settings.resolution`` octaves (or ``max_rounds`` rounds exist)."""
    log = log or (lambda text: print(text, file=sys.stderr))
    check_refinable(spec, settings)
    check_runnable(spec)  # before the lock file exists: a refused sweep writes nothing
    check_store_path(path)
    try:
        with store.writer_lock(path):
            return _refine(spec, path, settings, log, {**sweep_kwargs, "lock": False})
    except store.StoreError as err:
        raise SweepError(str(err)) from None


def _refine(spec: SweepSpec, path: str, settings: Refine, log, sweep_kwargs: dict) -> RefineSummary:
    sweeps = [run_sweep(spec, path, **sweep_kwargs)]
    while True:
        done = rounds.read_rounds(store.store_attrs(path))
        if len(done) >= settings.max_rounds:
            log(f"refine: stopping after {len(done)} rounds (max_rounds)")
            break
        cells = _cells(spec, path)
        new = None
        for axis in settings.axes:
            new = _round_for(spec, path, cells, axis, settings, len(done) + 1)
            if new is not None:
                break
        if new is None:
            break
        log(f"refine: round {new.number} adds {len(new.cells)} runs along {new.axis} "
            f"(new values {list(new.values) or 'none'})")
        rounds.record(path, settings.to_dict(), new)
        sweeps.append(run_sweep(spec, path, **sweep_kwargs))
        if not sweeps[-1].ok:
            break
    cells = _cells(spec, path)
    full = rounds.extended(spec, rounds.read_rounds(store.store_attrs(path)))
    still, found = [], []
    for axis in settings.axes:
        integer = _integer(full, axis)
        for b in brackets(cells, axis, settings.between):
            found.append(b)
            if not located(b, settings.resolution, integer):
                still.append(b)
    return RefineSummary(sweeps, len(rounds.read_rounds(store.store_attrs(path))), still,
                         [b for b in found if b not in still])


def _cells(spec: SweepSpec, path: str):
    ds = store.load_results(path)
    seed_dim = "seed" if "seed" in ds["status"].dims else "__none__"
    return classify_cells(ds, spec.thresholds, dim=seed_dim)["phase"]


def _integer(full: SweepSpec, axis: str) -> bool:
    """Whether ``axis`` holds integers (its midpoints are then rounded)."""
    return all(isinstance(v, (int, np.integer)) for v in next(a.values for a in full.axes if a.name == axis))


def _round_for(spec: SweepSpec, path: str, phase, axis: str, settings: Refine, number: int):
    recorded = rounds.read_rounds(store.store_attrs(path))
    full = rounds.extended(spec, recorded)
    axis_values = next(a.values for a in full.axes if a.name == axis)
    seeds = next((a.values for a in full.axes if a.name == "seed"), ())
    integer = _integer(full, axis)
    return next_round(phase, axis, settings.resolution, number=number, axes=[a.name for a in full.axes],
                      seeds=tuple(seeds), integer=integer, known=tuple(axis_values), between=settings.between)
