"""Where to sample next: adjacent cells along an axis whose phases differ, split at their log2 midpoint.

A pure function of the cells' phases (``analysis.classify_cells``), so a resumed refinement makes the same
choices. Bisection is what active learning of phase diagrams reduces to along one ordered axis with sharp
boundaries (Zhu et al. 2024 sample where the label is uncertain; between two differing neighbours is exactly
where it is): each round halves every open bracket, so a boundary found at a coarse spacing of 2^k octaves
is located to ``resolution`` in log2(2^k / resolution) rounds, sampling only the series that have it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import xarray as xr

from gpicl_phase.rules import LEARNED
from gpicl_phase.sweep.rounds import Round

# Labels that say where a run is in the diagram; the others (unsampled, unfinished, diverged, error) do not.
# "unclassified" cells sit between phases, so they always mark a boundary's neighbourhood.
BETWEEN = ("unresolved", "unclassified")


@dataclass(frozen=True)
class Bracket:
    """Two neighbouring sampled cells of one series whose phases differ."""

    series: dict
    low: float
    high: float
    phases: tuple[str, str]

    @property
    def octaves(self) -> float:
        """Width of the bracket in log2 of the axis."""
        return float(np.log2(self.high) - np.log2(self.low))


def brackets(phase: xr.DataArray, axis: str, between: tuple[str, ...] = ()) -> list[Bracket]:
    """Every pair of neighbouring sampled cells along ``axis`` with different phases that both count, series by
    series. ``between``: the learned phases that count (empty: all); unresolved and unclassified cells always do.
    """
    informative = (*(between or LEARNED), *BETWEEN)
    if axis not in phase.dims:
        raise ValueError(f"no axis {axis!r} among the cell axes {list(phase.dims)}")
    others = [d for d in phase.dims if d != axis]
    ordered = phase.sortby(axis)
    values = ordered[axis].values
    out = []
    for combo in itertools.product(*(range(phase.sizes[d]) for d in others)):
        sel = dict(zip(others, combo))
        line = ordered.isel(sel).values
        # Neighbours among the sampled cells; a cell without a phase the refinement reads (a phase left out by
        # `between`, a crash) separates its neighbours rather than being stepped over.
        sampled = [i for i, p in enumerate(line) if str(p) != "unsampled"]
        series = {d: ordered[d].values[i].item() for d, i in sel.items()}
        for i, j in zip(sampled, sampled[1:]):
            if line[i] != line[j] and str(line[i]) in informative and str(line[j]) in informative:
                out.append(Bracket(series, float(values[i]), float(values[j]), (str(line[i]), str(line[j]))))
    return out


def located(b: Bracket, resolution: float, integer: bool) -> bool:
    """Whether a bracket is as narrow as asked. On an integer axis the midpoints are rounded, so a bracket
    may exceed ``resolution`` by the rounding of an endpoint (11..16 is 0.54 octaves, its ideal 2^3.5..2^4 is
    0.5): that much more is allowed, or the refinement would add a round for rounding alone."""
    slack = 0.0
    if integer:
        slack = max(np.log2((b.low + 0.5) / b.low), np.log2(b.high / (b.high - 0.5)))
    return b.octaves <= resolution + slack + 1e-9


def midpoint(low: float, high: float, integer: bool) -> float | int | None:
    """The log2 midpoint of a bracket (rounded for an integer axis); None when no value lies strictly inside."""
    mid = float(2 ** ((np.log2(low) + np.log2(high)) / 2))
    if integer:
        mid = int(round(mid))
    return mid if low < mid < high else None


def next_round(phase: xr.DataArray, axis: str, resolution: float, *, number: int, axes: list[str],
               seeds: tuple = (), seed_dim: str = "seed", integer: bool = True, known: tuple = (),
               between: tuple[str, ...] = ()) -> Round | None:
    """The round that splits every bracket wider than ``resolution`` octaves, or None when none is.

    ``axes``: the sweep's axis names in store order (a cell is named by one value per axis); ``seeds``: the
    values of ``seed_dim`` (every seed of a new cell runs); ``known``: values already on the axis;
    ``between``: as for ``brackets``.
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be > 0 octaves, got {resolution}")
    needs: dict[tuple, set] = {}
    on_axis = set(phase[axis].values.tolist())
    for b in brackets(phase, axis, between):
        if located(b, resolution, integer):
            continue
        mid = midpoint(b.low, b.high, integer)
        if mid is None:
            continue
        if mid in on_axis and str(phase.sel({**b.series, axis: mid}).item()) != "unsampled":
            continue  # sampled already, without a usable phase (it crashed or diverged): not again
        needs.setdefault(tuple(sorted(b.series.items())), set()).add(mid)
    if not needs:
        return None
    cells = []
    for series, mids in sorted(needs.items(), key=lambda kv: repr(kv[0])):
        named = dict(series)
        for mid in sorted(mids):
            for seed in (seeds or (None,)):
                cell = []
                for name in axes:
                    if name == axis:
                        cell.append(mid)
                    elif name == seed_dim and seed is not None:
                        cell.append(seed)
                    else:
                        cell.append(named[name])
                cells.append(tuple(cell))
    added = sorted({c[axes.index(axis)] for c in cells} - set(known))
    return Round(number, axis, tuple(added), tuple(cells))
