"""Refinement rounds as the sweep engine sees them: which cells each round added to a store, and where.

A round appends values to one axis (possibly none) and schedules a list of cells, each named by its axis
values. Rounds are recorded in the store's ``refinement`` attribute *before* the store changes, and applying
one is idempotent (extend the axis, mark the round's cells pending, every other new cell "skipped"), so a
sweep killed anywhere in a round finishes it on resume. Round 0 is the sweep file's own grid.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from gpicl_phase import store
from gpicl_phase.sweep.spec import SweepSpec

ATTR = "refinement"


@dataclass(frozen=True)
class Round:
    """Round ``number`` (>= 1): ``values`` appended to ``axis``, ``cells`` (axis values in spec axis order) to run."""

    number: int
    axis: str
    values: tuple
    cells: tuple[tuple, ...]

    def to_dict(self) -> dict:
        """JSON-ready (lists, not tuples)."""
        return {"round": self.number, "axis": self.axis, "values": list(self.values),
                "cells": [list(c) for c in self.cells]}

    @classmethod
    def from_dict(cls, d: dict) -> Round:
        """Inverse of ``to_dict``."""
        return cls(int(d["round"]), str(d["axis"]), tuple(d["values"]), tuple(tuple(c) for c in d["cells"]))


def read_rounds(attrs: dict) -> list[Round]:
    """The rounds recorded in a store's attributes, in order."""
    return [Round.from_dict(d) for d in attrs.get(ATTR, {}).get("rounds", [])]


def extended(spec: SweepSpec, rounds: list[Round]) -> SweepSpec:
    """``spec`` with every round's values appended to its axis, in round order (the store's disk order)."""
    axes = list(spec.axes)
    for rnd in rounds:
        i = next(i for i, a in enumerate(axes) if a.name == rnd.axis)
        have = axes[i].values
        axes[i] = dataclasses.replace(axes[i], values=have + tuple(v for v in rnd.values if v not in have))
    return dataclasses.replace(spec, axes=tuple(axes))


def index_of(spec: SweepSpec, cell: tuple) -> tuple[int, ...]:
    """Disk position of a cell named by its axis values."""
    return tuple(axis.values.index(v) for axis, v in zip(spec.axes, cell, strict=True))


def record(path: str, settings: dict, rnd: Round) -> None:
    """Commit a round to the store's attributes (before it changes anything else)."""
    attrs = store.store_attrs(path)
    rounds = [r.to_dict() for r in read_rounds(attrs) if r.number != rnd.number]
    store.update_attrs(path, {ATTR: {"settings": settings, "rounds": [*rounds, rnd.to_dict()]}})


def apply(path: str, spec: SweepSpec, rounds: list[Round]) -> None:
    """Bring the store in line with its recorded rounds (idempotent; ``spec`` is the sweep file's own).

    Cells a round scheduled become pending (unless finished) with their round number; cells that exist only
    because an axis grew, and that no round scheduled, are "skipped".
    """
    if not rounds:
        return
    for rnd in rounds:
        if rnd.values:
            store.extend_axis(path, rnd.axis, list(rnd.values))
    full = extended(spec, rounds)
    status = store.read_status(path, order="disk")
    names = [a.name for a in full.axes]
    scheduled = {}
    for rnd in rounds:
        for cell in rnd.cells:
            scheduled.setdefault(index_of(full, cell), rnd.number)
    original = tuple(len(a.values) for a in spec.axes)
    skip, marks = [], {}
    for index in _indices(full):
        if all(i < n for i, n in zip(index, original)):
            continue  # round 0: the sweep file's grid
        code = int(status[index])
        if index in scheduled:
            if code in (store.STATUS["pending"], store.STATUS["skipped"]):
                marks.setdefault(scheduled[index], []).append(dict(zip(names, index)))
        elif code == store.STATUS["pending"]:
            skip.append(dict(zip(names, index)))
    if skip:
        store.set_status(path, skip, "skipped")
    for number, where in marks.items():
        store.set_status(path, where, "pending", round=number)


def cells_by_round(spec: SweepSpec, rounds: list[Round]) -> list[list[tuple[int, ...]]]:
    """Disk positions of the cells of round 0 (the sweep file's grid), then of each recorded round."""
    full = extended(spec, rounds)
    original = tuple(len(a.values) for a in spec.axes)
    out = [[index for index in _indices(full) if all(i < n for i, n in zip(index, original))]]
    seen = set(out[0])
    for rnd in rounds:
        part = [index_of(full, c) for c in rnd.cells]
        out.append([i for i in part if i not in seen])
        seen.update(part)
    return out


def _indices(spec: SweepSpec):
    """Every cell position of a grid, in C order (no configs built)."""
    return itertools.product(*(range(len(a.values)) for a in spec.axes))
