"""Writing runs into a store: one cell at a time, status last, so a cell that reads "done" has all its data.

Zarr's local store writes each chunk to a temporary file and renames it, so a reader sees a chunk either before
or after a write, never half of one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from gpicl_phase.store.create import store_attrs_for
from gpicl_phase.store.read import open_group
from gpicl_phase.store.schema import STR, VARIABLES, StoreError, fit, message_text, status_code

CHECKPOINTS = "checkpoints"


def write_cell(
    path: str | os.PathLike,
    index: Mapping[str, int],
    *,
    train_loss,
    grad_norm,
    eval_acc,
    eval_loss,
    param_count: int,
    state_size: int,
    wall_time: float,
    status: str | int,
    steps_trained: int = -1,
    max_steps: int = -1,
    stop_reason: int = 0,
    diverged_step: int = -1,
    message: str = "",
) -> None:
    """Write one run: `train_loss`/`grad_norm` shaped `(n_log,)`, `eval_acc`/`eval_loss` `(n_eval, stream, n_pos)`.

    `index`: axis name -> position on disk. Arrays shorter than the store along log_step, eval_step or
    position are padded with NaN at the end (an adaptive run that stopped early).
    """
    group = open_group(path, mode="r+")
    cell = _cell(group, index)
    values = {
        "train_loss": train_loss,
        "grad_norm": grad_norm,
        "eval_acc": eval_acc,
        "eval_loss": eval_loss,
        "param_count": param_count,
        "state_size": state_size,
        "wall_time": wall_time,
        "steps_trained": steps_trained,
        "max_steps": max_steps,
        "stop_reason": stop_reason,
        "diverged_step": diverged_step,
        "message": message_text(message),
        "status": status_code(status),  # last: "done" must mean every other variable is already there
    }
    checked = {name: fit(name, value, group[name].shape[len(cell):], group[name].dtype)
               for name, value in values.items()}  # validate every value before writing any
    for name, value in checked.items():
        group[name][cell] = value


def set_status(
    path: str | os.PathLike, indices: Sequence[Mapping[str, int]], status: str | int, message: str = "",
    *, round: int | None = None,
) -> None:
    """Set the status (and message, cleared by default) of several cells, e.g. to "running" before training.

    ``round``: also record the refinement round that scheduled them.
    """
    group = open_group(path, mode="r+")
    code, text = status_code(status), message_text(message)
    cells = [_cell(group, index) for index in indices]  # validate all before writing any
    for cell in cells:
        if round is not None:
            group["round"][cell] = round
        group["message"][cell] = text
        group["status"][cell] = code


def write_all(path: str | os.PathLike, ds: xr.Dataset) -> None:
    """Write every variable of a whole in-memory Dataset into a store made by `create` with the same coords.

    For tests, benchmarks and conversions; unlike `write_cell` it is not meant to run beside other writers.
    """
    group = open_group(path, mode="r+")
    for name in VARIABLES:
        array = group[name]
        dims = list(array.metadata.dimension_names)
        if name not in ds:
            continue  # keeps the fill value (a Dataset of an older schema)
        if list(ds[name].dims) != dims or ds[name].shape != array.shape:
            raise StoreError(f"{name}: {ds[name].dims} {ds[name].shape} differs from the store's {dims} {array.shape}")
        values = ds[name].values
        array[...] = values.astype(STR) if name == "message" else values


def update_attrs(path: str | os.PathLike, changes: Mapping[str, Any]) -> None:
    """Replace some of the store's attributes (JSON values only, as at creation)."""
    group = open_group(path, mode="r+")
    checked = store_attrs_for({**dict(group.attrs), **changes})
    group.attrs.update({k: checked[k] for k in changes})


def checkpoint_dir(path: str | os.PathLike) -> Path:
    """The store's `checkpoints` Zarr group as a directory, created if missing (gpicl_phase.checkpoints writes
    the files in it). A Zarr group, so Zarr and xarray see a known member and skip it."""
    group = open_group(path, mode="r+")
    if CHECKPOINTS not in group:
        group.create_group(CHECKPOINTS)
    return Path(path) / CHECKPOINTS


def _cell(group: zarr.Group, index: Mapping[str, int]) -> tuple[int, ...]:
    """Axis name -> position into a tuple of ints in axis order, with bounds checked."""
    array = group["status"]
    dims = list(array.metadata.dimension_names)
    if set(index) != set(dims):
        raise StoreError(f"cell index must name exactly the axes {dims}, got {sorted(index)}")
    cell = []
    for dim, size in zip(dims, array.shape, strict=True):
        i = index[dim]
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < size:
            raise StoreError(f"cell index {dim}={i!r} must be an integer position in [0, {size})")
        cell.append(int(i))
    return tuple(cell)
