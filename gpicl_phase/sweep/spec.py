"""Sweep files: TOML in, a validated frozen ``SweepSpec`` out; the grid of run configs it spans.

A sweep file::

    name = "smoke"
    [base]                      # any RunConfig field; the rest keep their defaults
    d_model = 32
    [axes]                      # one dim each, in this order
    num_tasks = "2^0..2^8"      # a log2 range (step 1, or "2^0..2^8:2"), or a list
    seed = [0, 1]
    [axes.arch]                 # a preset axis: labels bundling several fields
    transformer = { model = "transformer" }
    lstm = { model = "lstm", d_model = 64 }
    [smoke]                     # what --smoke changes, to run in seconds
    base = { steps = 20 }
    axes = { num_tasks = [1, 16] }

Nothing is written anywhere until the whole file, and every cell of its grid, has validated.
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from gpicl_phase.config import FIELD_NAMES, ConfigError, RunConfig, coerce, fields

TOP_KEYS = ("name", "description", "base", "axes", "smoke")
RANGE = re.compile(r"^\s*2\^(-?\d+)\s*\.\.\s*2\^(-?\d+)\s*(?::\s*(\d+))?\s*$")


class SpecError(ValueError):
    """A sweep file is invalid; the message names the file, the key and what was expected."""


@dataclass(frozen=True)
class Axis:
    """One swept dim: a config field with its values, or a preset axis of labelled field bundles."""

    name: str
    values: tuple  # field values, or preset labels
    presets: tuple[tuple[tuple[str, Any], ...], ...] | None = None  # per label: (field, value) pairs

    def overrides(self, i: int) -> dict[str, Any]:
        """The config fields set by this axis's i-th value."""
        return dict(self.presets[i]) if self.presets is not None else {self.name: self.values[i]}

    def fields(self) -> tuple[str, ...]:
        """Config fields this axis sets."""
        if self.presets is None:
            return (self.name,)
        return tuple(sorted({f for p in self.presets for f, _ in p}))


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base config, axes in dim order, and where it came from."""

    name: str
    base: RunConfig
    axes: tuple[Axis, ...]
    description: str = ""
    source: str = ""
    smoke: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values along each axis."""
        return tuple(len(a.values) for a in self.axes)

    @property
    def size(self) -> int:
        """Number of cells (runs)."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    def config_at(self, index: tuple[int, ...]) -> RunConfig:
        """The config of the cell at ``index`` (one position per axis)."""
        over = {}
        for axis, i in zip(self.axes, index):
            over.update(axis.overrides(i))
        return self.base.replace(**over)

    def cells(self) -> Iterator[tuple[tuple[int, ...], RunConfig]]:
        """Every (index, config) of the grid, in C order."""
        for index in itertools.product(*(range(s) for s in self.shape)):
            yield index, self.config_at(index)

    def to_json(self) -> str:
        """Canonical JSON of everything that determines the results (not the file's path or comments)."""
        return json.dumps({
            "name": self.name, "smoke": self.smoke, "base": json.loads(self.base.to_json()),
            "axes": [{"name": a.name, "values": list(a.values),
                      "presets": None if a.presets is None else [dict(p) for p in a.presets]}
                     for a in self.axes]}, sort_keys=True)


def parse_range(text: str) -> list[int]:
    """``"2^0..2^4"`` -> [1, 2, 4, 8, 16]; ``"2^0..2^8:2"`` takes every second power."""
    m = RANGE.match(text)
    if not m:
        raise ValueError(f"expected a list or a log2 range like '2^0..2^16' (optionally ':step'), got {text!r}")
    lo, hi, step = int(m[1]), int(m[2]), int(m[3] or 1)
    if lo < 0 or hi < lo or step < 1:
        raise ValueError(f"log2 range {text!r} must go up from 2^0 or more with a positive step")
    return [2 ** k for k in range(lo, hi + 1, step)]


def load(path: str | Path, *, smoke: bool = False, overrides: dict[str, str] | None = None) -> SweepSpec:
    """Reads and validates a sweep file (``smoke`` applies its [smoke] table, then ``overrides`` the base)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such sweep file") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}") from None
    return from_dict(raw, source=str(path), smoke=smoke, overrides=overrides)


def from_dict(raw: dict[str, Any], *, source: str = "<dict>", smoke: bool = False,
              overrides: dict[str, str] | None = None) -> SweepSpec:
    """Validates a parsed sweep file; every error names ``source`` and the offending key."""
    def fail(key: str, msg: str) -> SpecError:
        return SpecError(f"{source}: {key}: {msg}")

    unknown = set(raw) - set(TOP_KEYS)
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown top-level key; allowed: {', '.join(TOP_KEYS)}")
    base_raw = dict(_table(raw, "base", fail))
    axes_raw = dict(_table(raw, "axes", fail))
    if smoke:
        sm = _table(raw, "smoke", fail)
        if not sm:
            raise fail("smoke", "--smoke asked for, but the file has no [smoke] table")
        bad = set(sm) - {"base", "axes"}
        if bad:
            raise fail(f"smoke.{sorted(bad)[0]}", "unknown key; [smoke] may hold 'base' and 'axes'")
        base_raw.update(_table(sm, "base", fail))
        for name, value in _table(sm, "axes", fail).items():
            if name not in axes_raw:
                raise fail(f"smoke.axes.{name}", "not an axis of the sweep; smoke may only shrink axes")
            axes_raw[name] = value
    for name, value in (overrides or {}).items():
        if name in axes_raw:
            raise fail(f"--set {name}", "is an axis of the sweep; edit the file to change an axis")
        base_raw[name] = value
    try:
        base = RunConfig(**coerce(base_raw))
    except ConfigError as err:
        raise fail("base", str(err)) from None
    axes = tuple(_axis(name, value, fail) for name, value in axes_raw.items())
    if not axes:
        axes = (Axis("seed", (base.seed,)),)
    owner: dict[str, str] = {}
    for a in axes:
        for f in a.fields():
            if f in owner:
                raise fail(f"axes.{a.name}", f"sets {f!r}, which axis {owner[f]!r} already sets")
            owner[f] = a.name
    name = raw.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise fail("name", f"expected a non-empty string, got {name!r}")
    spec = SweepSpec(name=name, base=base, axes=axes, description=str(raw.get("description", "")),
                     source=source, smoke=smoke)
    for _ in _checked_cells(spec, fail):
        pass
    return spec


def _table(raw: dict, key: str, fail) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise fail(key, f"expected a table, got {type(value).__name__}")
    return value


def _axis(name: str, value: Any, fail) -> Axis:
    key = f"axes.{name}"
    if isinstance(value, dict):  # a preset axis
        if name in FIELD_NAMES:
            raise fail(key, "a preset axis (a table of labels) must not be named like a config field")
        if not value:
            raise fail(key, "empty axis: give at least one label")
        labels, presets = [], []
        for label, over in value.items():
            if not isinstance(over, dict):
                raise fail(f"{key}.{label}", f"expected a table of config fields, got {over!r}")
            try:
                presets.append(tuple(sorted(coerce(over).items())))
            except ConfigError as err:
                raise fail(f"{key}.{label}", str(err)) from None
            labels.append(label)
        return Axis(name, tuple(labels), tuple(presets))
    if name not in FIELD_NAMES:
        raise fail(key, f"unknown config field; known: {', '.join(FIELD_NAMES)} "
                        "(or give a table of labels for a preset axis)")
    if isinstance(value, str):
        try:
            value = parse_range(value)
        except ValueError as err:
            raise fail(key, str(err)) from None
    if not isinstance(value, list):
        raise fail(key, f"expected a list of values or a log2 range string, got {value!r}")
    if not value:
        raise fail(key, "empty axis: give at least one value")
    field = next(f for f in fields() if f.name == name)
    try:
        values = tuple(coerce({name: v})[name] for v in value)
    except ConfigError as err:
        raise fail(key, str(err)) from None
    if isinstance(values[0], tuple):
        raise fail(key, f"{field.name} cannot be swept (it is a list-valued field)")
    if len(set(values)) != len(values):
        dup = next(v for v in values if values.count(v) > 1)
        raise fail(key, f"duplicate value {dup!r}")
    return Axis(name, values)


def _checked_cells(spec: SweepSpec, fail):
    """Builds every cell's config so that a bad combination is reported before anything runs."""
    for index in itertools.product(*(range(s) for s in spec.shape)):
        try:
            yield index, spec.config_at(index)
        except ConfigError as err:
            where = ", ".join(f"{a.name}={a.values[i]!r}" for a, i in zip(spec.axes, index))
            raise fail("axes", f"the cell {where} is invalid: {err}") from None
