"""Reading a store: lazily through xarray, or whole variables at once (`load_results`, `read_status`).

Whole variables come from `store.fast_read` (the chunk files read directly, for the Zarr releases it was
tested with) or else from `store.zarr_read` (Zarr's public API); both verify every chunk and report the same
damaged runs in the same words.

A refined axis grows by appending values on disk (`store.extend`); readers see such an axis sorted in
increasing order, so appending stays hidden from them (other axes keep the order of the sweep file). The
engine, which addresses cells by their position on disk, asks `read_status(path, order="disk")`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from gpicl_phase.config import RunConfig
from gpicl_phase.store import fast_read, zarr_read
from gpicl_phase.store.run_config import config_from_attrs
from gpicl_phase.store.schema import (
    ADDED_IN_2, FINISHED, MESSAGE_CHARS, READABLE_VERSIONS, SCHEMA_VERSION, STATUS, STR, TRAILING_DIMS,
    VARIABLES, StoreError, note_damage,
)

RETRIES = 6  # a reader racing an axis being extended sees arrays of two lengths for a moment


def open_group(path: str | os.PathLike, *, mode: str) -> zarr.Group:
    """Open the root group, turning every way a path can fail to be our store into a readable StoreError.

    Stores of an older schema open for reading (mode "r") only.
    """
    p = Path(path)
    if not p.exists():
        raise StoreError(f"no results store at {p} (the path does not exist)")
    if not p.is_dir():
        raise StoreError(f"{p} is a file, not a results store (a store is a directory)")
    if not (p / "zarr.json").is_file():
        hint = " (it looks like a Zarr v2 store)" if (p / ".zgroup").exists() else ""
        empty = " (an empty directory)" if not any(p.iterdir()) else ""
        raise StoreError(f"{p} is not a Zarr v3 results store: no zarr.json{hint}{empty}")
    try:
        group = zarr.open_group(p, mode=mode, zarr_format=3)
    except Exception as err:  # zarr raises several unrelated types for unreadable metadata
        raise StoreError(f"{p} is not a readable Zarr v3 group: {err}") from err
    version = group.attrs.get("schema_version")
    if version is None:
        raise StoreError(f"{p} is a Zarr store but not a gpicl-phase results store (no schema_version attribute)")
    if version not in READABLE_VERSIONS:
        age = "an older" if isinstance(version, int) and version < SCHEMA_VERSION else "a newer"
        fix = "re-run the sweep with this version" if age == "an older" else "upgrade gpicl-phase"
        raise StoreError(f"{p} has schema_version {version}, written by {age} gpicl-phase; this one reads "
                         f"versions {', '.join(map(str, READABLE_VERSIONS))} ({fix})")
    if version != SCHEMA_VERSION and mode != "r":
        raise StoreError(f"{p} was written by an older gpicl-phase (schema {version}); it can be read, analysed "
                         "and shown, but not resumed, refined or changed: run the sweep into a new store")
    return group


def open_results(path: str | os.PathLike) -> xr.Dataset:
    """Open a store lazily (metadata and coordinates only), check its schema; extended axes sorted."""
    for attempt in range(RETRIES):
        try:
            return _sorted(_open(path))
        except _Racing:
            time.sleep(0.05 * 2**attempt)
    return _sorted(_open(path, racing_ok=False))


def load_results(path: str | os.PathLike, names: Sequence[str] | None = None) -> xr.Dataset:
    """`open_results(path).load()`, one whole variable at a time (`read_variable`): ~0.1 s per variable for
    10,000 runs with the fast reader, 1.5-4 s through Zarr's public API (as `open_results(path).load()`).

    ``names`` restricts the result to those variables (a figure needs 3 of the 10; each costs ~0.1 s per
    10,000 runs). Every file read is verified: a damaged run gets status "damaged" (so no analysis uses it)
    and is named in ``attrs["damaged"]`` ("run d_model=32 num_tasks=256 seed=1: eval_acc checksum mismatch").
    """
    return _load(path, names)[0]


def verify(path: str | os.PathLike) -> list[tuple[tuple[int, ...], str]]:
    """Every damaged run of the store, as (disk cell index, "run ...: problems"), reading every file once."""
    _, damaged, group = _load(path, None)
    return [(cell, f"{run_name(group, cell)}: {'; '.join(damaged[cell])}") for cell in sorted(damaged)]


def _load(path, names):
    names = list(VARIABLES) if names is None else list(names)
    unknown = [n for n in names if n not in VARIABLES]
    if unknown:
        raise StoreError(f"unknown variable(s) {', '.join(unknown)}; a store holds {', '.join(VARIABLES)}")
    for attempt in range(RETRIES + 1):
        try:
            ds = _open(path, racing_ok=attempt < RETRIES)
            group = open_group(path, mode="r")
            loaded, raw, damaged = {}, {}, {}
            for name in dict.fromkeys([*names, "status"]):  # the status, to mark damaged runs
                if name not in group:  # derived for an older schema by _open
                    loaded[name] = ds[name]
                    continue
                values = read_variable(path, group, name, damaged)
                if values.shape != ds[name].shape:
                    raise _Racing
                raw[name] = values
                loaded[name] = ds[name].copy(data=values)
            _check_runs(raw, damaged)
            if damaged:
                marked = raw["status"].copy()
                for cell in damaged:
                    marked[cell] = STATUS["damaged"]
                loaded["status"] = ds["status"].copy(data=marked)
            out = ds[names].assign({k: v for k, v in loaded.items() if k in names})
            if damaged:
                out.attrs["damaged"] = [f"{run_name(group, c)}: {'; '.join(damaged[c])}" for c in sorted(damaged)]
            return _sorted(out), damaged, group
        except _Racing:
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def store_attrs(path: str | os.PathLike) -> dict:
    """The store's attributes (schema_version, spec, base_config, ...) as a plain dict."""
    return dict(open_group(path, mode="r").attrs)


def read_config(path: str | os.PathLike) -> RunConfig:
    """The base config of the store at `path` (every run's config but its swept and per-cell values)."""
    return config_from_attrs(store_attrs(path), where=str(path))


def read_status(path: str | os.PathLike, *, order: str = "sorted") -> np.ndarray:
    """Status codes (int8, shaped like the axis dims); cheap enough to poll every second.

    ``order="sorted"``: as `open_results` shows the axes; ``"disk"``: as cells are stored (what writers index).
    """
    group = open_group(path, mode="r")
    status = read_variable(path, group, "status")
    if order == "disk":
        return status
    if order != "sorted":
        raise ValueError(f"order must be 'sorted' or 'disk', got {order!r}")
    extended = group.attrs.get("extended_axes", [])
    for axis, dim in enumerate(group["status"].metadata.dimension_names):
        perm = _order(np.asarray(group[dim][...])) if dim in extended else None
        if perm is not None:
            status = np.take(status, perm, axis=axis)
    return status


def bytes_per_run(path: str | os.PathLike) -> int:
    """Bytes one run's chunks take on disk (messages counted at their cap)."""
    group = open_group(path, mode="r")
    total = 0
    for name in VARIABLES:
        if name in group:
            array = group[name]
            size = int(np.prod(array.chunks))
            total += size * (MESSAGE_CHARS + 8 if name == "message" else array.dtype.itemsize)
    return total


class _Racing(Exception):
    """Arrays of two lengths along one axis: a writer is extending it; read again."""


def _open(path, racing_ok: bool = True) -> xr.Dataset:
    group = open_group(path, mode="r")
    try:
        ds = xr.open_zarr(group.store, chunks=None, consolidated=False, zarr_format=3)
    except ValueError as err:
        if racing_ok and "conflicting sizes" in str(err):
            raise _Racing from err
        raise StoreError(f"{path}: {err}") from err
    required = [n for n in (*VARIABLES, *TRAILING_DIMS) if n not in ADDED_IN_2 or group.attrs["schema_version"] >= 2]
    missing = [name for name in required if name not in ds.variables]
    if missing:
        raise StoreError(f"{path} lacks the variable(s) {', '.join(missing)}; it is not a complete results store")
    if group.attrs["schema_version"] < 2:
        ds = ds.assign(_derived(ds, dict(group.attrs)))
    # String coordinates are small: hand them out as plain numpy unicode, like a Dataset built in memory.
    ds = ds[list(VARIABLES)]  # the schema's order, not the file system's
    fixed = {n: (c.dims, np.array(c.values.tolist(), dtype=str)) for n, c in ds.coords.items() if c.dtype == STR}
    return ds.assign_coords(fixed) if fixed else ds


def _derived(ds: xr.Dataset, attrs: dict) -> dict:
    """Schema 1 stores trained every run for its `steps`: the variables schema 2 records, derived from that."""
    status = ds["status"].load()
    finished = status.isin(list(FINISHED))
    try:
        base_steps = config_from_attrs(attrs).steps
    except StoreError:
        base_steps = 0  # unknown (no sweep's config): such runs count as not having used their budget
    steps = xr.zeros_like(status, dtype=np.int64) + base_steps
    for name in ("steps", "cfg_steps"):
        if name in ds.coords and set(ds[name].dims) <= set(status.dims):
            steps = xr.zeros_like(status, dtype=np.int64) + ds[name].astype(np.int64)
    return {
        "steps_trained": steps.where(finished, -1).astype(np.int64),
        "max_steps": steps.astype(np.int64),
        "stop_reason": xr.where(finished, 1, 0).astype(np.int8),
        "round": xr.zeros_like(status, dtype=np.int16),
    }


def _order(values: np.ndarray) -> np.ndarray | None:
    """The permutation that sorts a numeric axis, or None when it is already increasing (or not numeric)."""
    if values.dtype.kind not in "iuf" or values.size < 2 or np.all(np.diff(values) > 0):
        return None
    return np.argsort(values, kind="stable")


def _sorted(ds: xr.Dataset) -> xr.Dataset:
    extended = ds.attrs.get("extended_axes", [])
    perms = {d: p for d in extended if d in ds.dims and (p := _order(ds[d].values)) is not None}
    return ds.isel(perms) if perms else ds


def read_variable(path: str | os.PathLike, group: zarr.Group, name: str, damaged: dict | None = None) -> np.ndarray:
    """A whole variable in disk order: the fast reader where it applies, else Zarr's public API.

    Damaged runs (checksum, length) keep the fill value and are noted in ``damaged`` (disk cell -> problems).
    """
    values = fast_read.read(path, group, name, damaged) if fast_read.usable() else None
    return values if values is not None else zarr_read.read(group, name, damaged)


def _check_runs(loaded: dict, damaged: dict) -> None:
    """Damage that checksums cannot see: a finished run whose meta-test file is gone (it reads as all NaN),
    a status byte that is no status. Cells are disk indices."""
    status = loaded.get("status")
    if status is None:
        return
    known = np.isin(status, list(STATUS.values()))
    for cell in zip(*np.nonzero(~known)):
        note_damage(damaged, cell, f"status byte {int(status[cell])} is not a status code")
    acc = loaded.get("eval_acc")
    if acc is not None:
        empty = ~np.isfinite(acc.reshape(*status.shape, -1)).any(axis=-1)
        for cell in zip(*np.nonzero(empty & (status == STATUS["done"]))):
            if tuple(int(i) for i in cell) not in damaged:
                note_damage(damaged, cell, "eval_acc chunk file missing (a finished run has meta-test results)")


def run_name(group: zarr.Group, cell: tuple[int, ...]) -> str:
    """``run d_model=32 num_tasks=256 seed=1``: a disk cell by its axis values."""
    dims = list(group["status"].metadata.dimension_names)
    return "run " + " ".join(f"{d}={np.asarray(group[d][i]).item()}" for d, i in zip(dims, cell))
