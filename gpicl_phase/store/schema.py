"""What a results store holds: variables, status codes and value checks (docs/DESIGN.md, "Store schema")."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SCHEMA_VERSION = 2
# Schema 1 (before adaptive runs) is read, with steps_trained, max_steps, stop_reason and round derived.
READABLE_VERSIONS = (1, 2)
# "damaged" is never written: readers mark a run whose files fail their checksum, are missing or hold an
# unknown status byte, so it is excluded from every analysis and a sweep on the store runs it again.
STATUS = {"pending": 0, "running": 1, "done": 2, "diverged": 3, "failed": 4, "skipped": 5, "damaged": 6}
FINISHED = (STATUS["done"], STATUS["diverged"])
# Stop reasons of gpicl_phase.rules.STOP_REASONS, by code (the store only names them).
STOP_REASONS = ("", "budget", "settled", "stalled", "diverged")
MESSAGE_CHARS = 256
TRAILING_DIMS = ("log_step", "eval_step", "stream", "position")

STR = np.dtypes.StringDType()
# name -> (trailing dims, dtype, fill value, meaning); the order is the order of write_cell's keywords.
VARIABLES: dict[str, tuple[tuple[str, ...], Any, Any, str]] = {
    "train_loss": (("log_step",), np.float32, np.nan, "mean training loss over the window ending at log_step"),
    "grad_norm": (("log_step",), np.float32, np.nan, "mean global gradient norm over the window"),
    "eval_acc": (("eval_step", "stream", "position"), np.float32, np.nan, "meta-test accuracy per position"),
    "eval_loss": (("eval_step", "stream", "position"), np.float32, np.nan, "meta-test cross-entropy per position"),
    "param_count": ((), np.int64, -1, "trainable parameters (-1: unknown)"),
    "state_size": ((), np.int64, -1, "state size, docs/models.md formula (-1: unknown)"),
    "wall_time": ((), np.float64, np.nan, "seconds for the run (its share of a packed chunk)"),
    "steps_trained": ((), np.int64, -1, "steps the run trained (adaptive runs stop once their phase is decided)"),
    "max_steps": ((), np.int64, -1, "the run's maximum budget in steps: 'failed' needs a run to have used it"),
    "stop_reason": ((), np.int8, 0, "why the run stopped (flag meanings)"),
    "round": ((), np.int16, 0, "refinement round that scheduled the cell (0: the sweep's own grid)"),
    "diverged_step": ((), np.int64, -1, "first step with a non-finite loss, -1 if none"),
    "message": ((), STR, "", f"error or divergence message (at most {MESSAGE_CHARS} characters)"),
    "status": ((), np.int8, 0, "run status"),
}
FLAGS = {"status": STATUS, "stop_reason": {name or "none": code for code, name in enumerate(STOP_REASONS)}}
# Variables schema 1 lacked; readers derive them for such stores.
ADDED_IN_2 = ("steps_trained", "max_steps", "stop_reason", "round")


class StoreError(ValueError):
    """A results store is missing, malformed, of another schema version, or misused."""


def axis_values(name: str, values) -> np.ndarray:
    """Swept values as int64, float64 or a string array; unique, so they can index the dim."""
    arr = np.asarray(list(values))
    if arr.ndim != 1:
        raise StoreError(f"values of {name!r} must be a flat list, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "U":
        arr = arr.astype(STR)
    else:
        raise StoreError(f"values of {name!r} must be all ints, all floats or all strings, got {arr.dtype}")
    if len(set(arr.tolist())) != arr.size:
        raise StoreError(f"values of {name!r} must be unique, got {arr.tolist()}")
    return arr


def int_steps(name: str, steps) -> np.ndarray:
    """Step coordinates: unique non-negative increasing ints."""
    arr = np.asarray(list(steps), dtype=np.int64)
    if arr.ndim != 1 or (arr.size and (arr[0] < 0 or np.any(np.diff(arr) <= 0))):
        raise StoreError(f"{name} must be increasing non-negative ints, got {list(steps)}")
    return arr


def json_exact(value: Any) -> bool:
    """True when JSON round-trips `value` to an equal object of the same types (no tuples, NaN or numpy)."""
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(json_exact(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and json_exact(v) for k, v in value.items())
    return False


def status_code(status: str | int) -> int:
    """A status name or code, checked."""
    code = STATUS.get(status) if isinstance(status, str) else status
    if code not in STATUS.values():
        raise StoreError(f"status must be one of {list(STATUS)}, got {status!r}")
    return int(code)


def message_text(message: str) -> str:
    """Messages are capped so a run's error text cannot bloat the store."""
    return str(message)[:MESSAGE_CHARS]


def fit(name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Check one variable's value against the store's per-cell shape, padding short trailing dims with NaN."""
    arr = np.asarray(value)
    if arr.ndim != len(shape):
        raise StoreError(f"{name}: expected {len(shape)} dims {shape}, got shape {arr.shape}")
    if not shape:
        return arr.astype(dtype)
    dims = VARIABLES[name][0]
    for dim, have, want in zip(dims, arr.shape, shape, strict=True):
        if have > want or (dim == "stream" and have != want):
            raise StoreError(f"{name}: {dim} has {have} entries, the store has {want}")
    out = np.full(shape, np.nan, dtype=dtype)
    out[tuple(slice(0, n) for n in arr.shape)] = arr
    return out


def note_damage(damaged: dict | None, cell: tuple, problem: str) -> None:
    """Record a problem of a run (its disk cell index) in ``damaged`` when the caller collects them."""
    if damaged is not None:
        damaged.setdefault(tuple(int(i) for i in cell), []).append(problem)
