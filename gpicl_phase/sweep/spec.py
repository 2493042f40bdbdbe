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
    [adaptive]                  # optional: runs stop once their phase is decided (rules.StopRules)
    max_steps = 4000            # ... and go on past base.steps, up to this, while undecided
    patience = 3
    [refine]                    # optional: after the grid, add cells where the phase changes
    axes = ["num_tasks"]        # numeric axes to refine, at log2 midpoints
    resolution = 0.5            # until every boundary is bracketed this finely (octaves)
    [thresholds]                # optional: the phase rules the stop rules and refinement use
    improvement = 0.1
    [smoke]                     # what --smoke changes, to run in seconds
    base = { steps = 20 }
    axes = { num_tasks = [1, 16] }

Nothing is written anywhere until the whole file, and every cell of its grid, has validated.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from gpicl_phase.config import FIELD_NAMES, ConfigError, RunConfig, coerce, fields
from gpicl_phase.rules import StopRules, Thresholds

TOP_KEYS = ("name", "description", "base", "axes", "adaptive", "refine", "thresholds", "smoke")
AXIS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
DEFAULT_MAX_CELLS = 100_000  # a grid larger than this is almost always a typo; --max-cells raises it
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
class Refine:
    """Where a sweep refines itself: numeric ``axes``, bisected in log2 until boundaries are bracketed to
    ``resolution`` octaves, in at most ``max_rounds`` rounds; ``between``: the learned phases whose boundaries
    count (empty: all four)."""

    axes: tuple[str, ...] = ("num_tasks",)
    resolution: float = 0.5
    max_rounds: int = 8
    between: tuple[str, ...] = ()

    def __post_init__(self):
        """Validate once, at the edge."""
        if isinstance(self.axes, str):
            object.__setattr__(self, "axes", (self.axes,))
        if not self.axes or not all(isinstance(a, str) and a for a in self.axes):
            raise ValueError(f"axes must be a non-empty list of axis names, got {self.axes!r}")
        object.__setattr__(self, "axes", tuple(self.axes))
        r = self.resolution
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 16:
            raise ValueError(f"resolution must be octaves in (0, 16], got {r!r}")
        m = self.max_rounds
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"max_rounds must be an integer >= 1, got {m!r}")
        from gpicl_phase.rules import LEARNED

        object.__setattr__(self, "between", tuple(self.between))
        bad = [b for b in self.between if b not in LEARNED]
        if bad:
            raise ValueError(f"between: {bad} are not learned phases ({', '.join(LEARNED)})")

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"axes": list(self.axes), "resolution": float(self.resolution), "max_rounds": self.max_rounds,
                "between": list(self.between)}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base config, axes in dim order, how its runs stop and refine, where it came from.

    ``rules``: stop rules of adaptive runs (None: every run trains ``steps``); ``refine``: None, or where to
    add cells after the grid; ``thresholds``: the phase rules both use.
    """

    name: str
    base: RunConfig
    axes: tuple[Axis, ...]
    description: str = ""
    source: str = ""
    smoke: bool = False
    rules: StopRules | None = None
    refine: Refine | None = None
    thresholds: Thresholds = Thresholds()

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
        """Canonical JSON of everything that determines the results (not the file's path or comments).

        The adaptive, refine and thresholds entries appear only when set, so a spec without them reads as
        stores made before they existed recorded it.
        """
        out = {
            "name": self.name, "smoke": self.smoke, "base": json.loads(self.base.to_json()),
            "axes": [{"name": a.name, "values": list(a.values),
                      "presets": None if a.presets is None else [dict(p) for p in a.presets]}
                     for a in self.axes]}
        if self.rules is not None:
            out["adaptive"] = json.loads(self.rules.to_json())
        if self.refine is not None:
            out["refine"] = self.refine.to_dict()
        if self.thresholds != Thresholds():
            out["thresholds"] = json.loads(self.thresholds.to_json())
        return json.dumps(out, sort_keys=True)


def parse_range(text: str) -> list[int]:
    """``"2^0..2^4"`` -> [1, 2, 4, 8, 16]; ``"2^0..2^8:2"`` takes every second power."""
    m = RANGE.match(text)
    if not m:
        raise ValueError(f"expected a list or a log2 range like '2^0..2^16' (optionally ':step'), got {text!r}")
    lo, hi, step = int(m[1]), int(m[2]), int(m[3] or 1)
    if lo < 0 or hi < lo or step < 1:
        raise ValueError(f"log2 range {text!r} must go up from 2^0 or more with a positive step")
    if hi > 62:
        raise ValueError(f"log2 range {text!r} goes beyond 2^62, which no counter here can hold")
    return [2 ** k for k in range(lo, hi + 1, step)]


def load(path: str | Path, *, smoke: bool = False, overrides: dict[str, str] | None = None,
         max_cells: int | None = DEFAULT_MAX_CELLS) -> SweepSpec:
    """Reads and validates a sweep file (``smoke`` applies its [smoke] table, then ``overrides`` the base).
    A grid of more than ``max_cells`` cells is refused before any cell is built (None: no limit)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such sweep file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, not a sweep file (sweeps/*.toml)") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file; a sweep file is TOML") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot be read: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}") from None
    return from_dict(raw, source=str(path), smoke=smoke, overrides=overrides, max_cells=max_cells)


def from_dict(raw: dict[str, Any], *, source: str = "<dict>", smoke: bool = False,
              overrides: dict[str, str] | None = None, max_cells: int | None = DEFAULT_MAX_CELLS) -> SweepSpec:
    """Validates a parsed sweep file; every error names ``source`` and the offending key."""
    def fail(key: str, msg: str) -> SpecError:
        return SpecError(f"{source}: {key}: {msg}")

    unknown = set(raw) - set(TOP_KEYS)
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown top-level key; allowed: {', '.join(TOP_KEYS)}")
    base_raw = dict(_table(raw, "base", fail))
    axes_raw = dict(_table(raw, "axes", fail))
    adaptive_raw = dict(_table(raw, "adaptive", fail))
    if "max_steps" in adaptive_raw:  # a convenience: the maximum budget is a run config field
        if "max_steps" in base_raw:
            raise fail("adaptive.max_steps", "is also set in [base]; set it in one place")
        base_raw["max_steps"] = adaptive_raw.pop("max_steps")
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
    rules = _rules(adaptive_raw, "adaptive" in raw, fail)
    thresholds = _dataclass_table(Thresholds, _table(raw, "thresholds", fail), "thresholds", fail)
    refine = _dataclass_table(Refine, _table(raw, "refine", fail), "refine", fail) if "refine" in raw else None
    if refine is not None:
        for a in refine.axes:
            axis = next((x for x in axes if x.name == a), None)
            if axis is None or axis.presets is not None or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in axis.values):
                raise fail("refine.axes", f"{a!r} is not a numeric axis of the sweep with positive values "
                                          f"(axes: {', '.join(x.name for x in axes)})")
    name = raw.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise fail("name", f"expected a non-empty string, got {name!r}")
    spec = SweepSpec(name=name, base=base, axes=axes, description=str(raw.get("description", "")),
                     source=source, smoke=smoke, rules=rules, refine=refine, thresholds=thresholds)
    if max_cells is not None and spec.size > max_cells:
        raise fail("axes", f"the grid has {spec.size:,} cells ({' x '.join(map(str, spec.shape))}), more than "
                           f"the limit of {max_cells:,}; shrink an axis, or raise the limit (--max-cells)")
    extended = False
    for _, cfg in _checked_cells(spec, fail):
        extended = extended or cfg.max_steps > cfg.steps
    if extended and spec.rules is None:  # a maximum budget needs stop rules: the defaults
        spec = dataclasses.replace(spec, rules=StopRules())
    return spec


def _rules(table: dict, present: bool, fail) -> StopRules | None:
    """The [adaptive] table as StopRules (None when the file has none)."""
    if not present:
        return None
    return _dataclass_table(StopRules, table, "adaptive", fail)


def _dataclass_table(cls, table: dict, key: str, fail):
    """A frozen dataclass from a TOML table; errors name the table and the key."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise fail(f"{key}.{unknown[0]}", f"unknown key; known: {', '.join(sorted(known))}")
    try:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise fail(key, str(err)) from None


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
        if not AXIS_NAME.match(name):
            raise fail(key, "a preset axis name must be a letter followed by letters, digits or '_' "
                            "(it names a dimension of the store)")
        from gpicl_phase.store.schema import TRAILING_DIMS, VARIABLES

        if name in (*TRAILING_DIMS, *VARIABLES, "checkpoints"):
            raise fail(key, "is a name the store uses itself; choose another name for the preset axis")
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


def from_json(text: str, *, source: str = "<store>") -> SweepSpec:
    """The spec a store recorded (``SweepSpec.to_json``), validated again."""
    d = json.loads(text)
    axes = {}
    for a in d["axes"]:
        if a.get("presets") is None:
            axes[a["name"]] = list(a["values"])
        else:
            axes[a["name"]] = {label: dict(p) for label, p in zip(a["values"], a["presets"], strict=True)}
    raw = {"name": d["name"], "base": d["base"], "axes": axes}
    for key in ("adaptive", "refine", "thresholds"):
        if key in d:
            raw[key] = d[key]
    spec = from_dict(raw, source=source, max_cells=None)  # its grid was accepted when the store was made
    return dataclasses.replace(spec, smoke=bool(d.get("smoke", False)))
