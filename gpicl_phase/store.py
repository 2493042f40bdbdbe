"""The results store: one Zarr v3 group per sweep, read back as a self-describing xarray Dataset.

This is the only module that touches Zarr. The layout is docs/DESIGN.md's "Store schema": one dim per swept
axis, then `log_step`, `eval_step`, `stream`, `position`. Every variable is chunked 1 along every axis dim and
whole along the others, so one run is one chunk per variable and processes writing different runs never share
a file. `create` writes all metadata once (arrays start as their fill value, which Zarr does not store);
afterwards only chunks change. Zarr's local store writes each chunk to a temporary file and renames it, so a
reader sees a chunk either before or after a write, never half of one; `write_cell` writes `status` last, so
a cell that reads "done" has all its data.

Strings (`message`, string coordinates) are Zarr's variable-length UTF-8 type: the fixed-width `<U256` of the
design has no stable Zarr v3 encoding (zarr warns), so messages are cut to 256 characters on write instead.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from gpicl_phase import __version__, chunk_files

SCHEMA_VERSION = 1
STATUS = {"pending": 0, "running": 1, "done": 2, "diverged": 3, "failed": 4}
MESSAGE_CHARS = 256
TRAILING_DIMS = ("log_step", "eval_step", "stream", "position")

_STR = np.dtypes.StringDType()
# name -> (trailing dims, dtype, fill value, meaning); the order is the order of write_cell's keywords.
VARIABLES: dict[str, tuple[tuple[str, ...], Any, Any, str]] = {
    "train_loss": (("log_step",), np.float32, np.nan, "mean training loss over the window ending at log_step"),
    "grad_norm": (("log_step",), np.float32, np.nan, "mean global gradient norm over the window"),
    "eval_acc": (("eval_step", "stream", "position"), np.float32, np.nan, "meta-test accuracy per position"),
    "eval_loss": (("eval_step", "stream", "position"), np.float32, np.nan, "meta-test cross-entropy per position"),
    "param_count": ((), np.int64, -1, "trainable parameters (-1: unknown)"),
    "state_size": ((), np.int64, -1, "state size, PAPER.md formula (-1: unknown)"),
    "wall_time": ((), np.float64, np.nan, "seconds for the run (its share of a packed chunk)"),
    "status": ((), np.int8, 0, "run status"),
    "diverged_step": ((), np.int64, -1, "first step with a non-finite loss, -1 if none"),
    "message": ((), _STR, "", f"error or divergence message (at most {MESSAGE_CHARS} characters)"),
}


class StoreError(ValueError):
    """A results store is missing, malformed, of another schema version, or misused."""


def create(
    path: str | os.PathLike,
    *,
    axes: Mapping[str, Sequence],
    log_steps: Sequence[int],
    eval_steps: Sequence[int],
    streams: Sequence[str],
    seq_len: int,
    attrs: Mapping[str, Any],
    cell_coords: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Create an empty store (every run pending) with all metadata; refuse to overwrite anything.

    `axes`: axis name -> swept values (int, float or str; unique), in dim order.
    `cell_coords`: `{"cfg_<field>": {"dims": [axis names], "values": nested list shaped like those axes}}`.
    `attrs`: JSON values only (str, int, float, bool, None, lists, dicts with str keys); they read back identically.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise StoreError(f"{path} already exists; refusing to overwrite it (remove it or pick another path)")
    if not axes:
        raise StoreError("a store needs at least one axis (use seed=[0] for a single run)")
    coords = {name: _axis_values(name, values) for name, values in axes.items()}
    for name in TRAILING_DIMS:
        if name in coords:
            raise StoreError(f"axis name {name!r} is reserved for a non-axis dim")
    coords["log_step"] = _int_steps("log_steps", log_steps)
    coords["eval_step"] = _int_steps("eval_steps", eval_steps)
    coords["stream"] = _axis_values("stream", list(streams))
    if coords["stream"].size == 0 or int(seq_len) < 1:
        raise StoreError("a store needs at least one stream and seq_len >= 1")
    coords["position"] = np.arange(int(seq_len), dtype=np.int64)
    extra = _cell_coords(cell_coords or {}, {n: coords[n].size for n in axes})
    full_attrs = _store_attrs(attrs)

    axis_dims = list(axes)
    axis_shape = tuple(coords[n].size for n in axis_dims)
    # Build beside the target and rename at the end, so nobody ever opens a half-made store.
    tmp = path.with_name(f".{path.name}.creating-{uuid.uuid4().hex}")
    try:
        group = zarr.create_group(tmp, zarr_format=3, attributes=full_attrs)
        for name, values in coords.items():
            group.create_array(name, data=values, dimension_names=[name])
        for name, (dims, values) in extra.items():
            group.create_array(name, data=values, dimension_names=list(dims))
        coord_attr = {"coordinates": " ".join(extra)} if extra else {}
        for name, (trailing, dtype, fill, meaning) in VARIABLES.items():
            var_attrs = {"long_name": meaning, **coord_attr}
            if name == "status":
                var_attrs |= {"flag_values": list(STATUS.values()), "flag_meanings": " ".join(STATUS)}
            trailing_shape = tuple(coords[d].size for d in trailing)
            group.create_array(
                name,
                shape=axis_shape + trailing_shape,
                chunks=(1,) * len(axis_shape) + trailing_shape,
                dtype=dtype,
                fill_value=fill,
                dimension_names=axis_dims + list(trailing),
                attributes=var_attrs,
                # Uncompressed, so _read_raw can read a cell with one open(); noisy float32 curves
                # barely compress anyway.
                compressors=None,
            )
        os.rename(tmp, path)
    except OSError as err:
        raise StoreError(f"could not create {path}: {err}") from err
    finally:
        if tmp.exists():
            _rmtree(tmp)


def open_results(path: str | os.PathLike) -> xr.Dataset:
    """Open a store lazily (metadata and coordinates only) and check its schema."""
    group = _open_group(path, mode="r")
    ds = xr.open_zarr(group.store, chunks=None, consolidated=False, zarr_format=3)
    missing = [name for name in (*VARIABLES, *TRAILING_DIMS) if name not in ds.variables]
    if missing:
        raise StoreError(f"{path} lacks the variable(s) {', '.join(missing)}; it is not a complete results store")
    # String coordinates are small: hand them out as plain numpy unicode, like a Dataset built in memory.
    ds = ds[list(VARIABLES)]  # the schema's order, not the file system's
    fixed = {n: (c.dims, np.array(c.values.tolist(), dtype=str)) for n, c in ds.coords.items() if c.dtype == _STR}
    return ds.assign_coords(fixed) if fixed else ds


def load_results(path: str | os.PathLike, names: Sequence[str] | None = None) -> xr.Dataset:
    """`open_results(path).load()`, but reading each cell's chunk files directly: ~0.5 s for 10,000 runs, not ~20 s.

    ``names`` restricts the result to those variables (a figure needs 3 of the 10; each costs ~0.1 s per
    10,000 runs).
    """
    ds = open_results(path)
    names = list(VARIABLES) if names is None else list(names)
    unknown = [n for n in names if n not in VARIABLES]
    if unknown:
        raise StoreError(f"unknown variable(s) {', '.join(unknown)}; a store holds {', '.join(VARIABLES)}")
    group = _open_group(path, mode="r")
    loaded = {}
    for name in names:
        values = _read_raw(path, group, name)
        loaded[name] = ds[name].copy(data=values) if values is not None else ds[name].load()
    return ds[names].assign(loaded)


def store_attrs(path: str | os.PathLike) -> dict:
    """The store's attributes (schema_version, spec, base_config, ...) as a plain dict."""
    return dict(_open_group(path, mode="r").attrs)


def read_status(path: str | os.PathLike) -> np.ndarray:
    """Status codes (int8, shaped like the axis dims in axis order); cheap enough to poll every second."""
    group = _open_group(path, mode="r")
    fast = _read_raw(path, group, "status")
    return fast if fast is not None else np.asarray(group["status"][...])


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
    diverged_step: int = -1,
    message: str = "",
) -> None:
    """Write one run: `train_loss`/`grad_norm` shaped `(n_log,)`, `eval_acc`/`eval_loss` `(n_eval, stream, n_pos)`.

    Arrays shorter than the store along log_step, eval_step or position are padded with NaN at the end.
    """
    group = _open_group(path, mode="r+")
    cell = _cell(group, index)
    values = {
        "train_loss": train_loss,
        "grad_norm": grad_norm,
        "eval_acc": eval_acc,
        "eval_loss": eval_loss,
        "param_count": param_count,
        "state_size": state_size,
        "wall_time": wall_time,
        "diverged_step": diverged_step,
        "message": _message(message),
        "status": _status_code(status),  # last: "done" must mean every other variable is already there
    }
    for name, value in values.items():
        array = group[name]
        array[cell] = _fit(name, value, array.shape[len(cell):], array.dtype)


def set_status(
    path: str | os.PathLike, indices: Sequence[Mapping[str, int]], status: str | int, message: str = ""
) -> None:
    """Set the status (and message, cleared by default) of several cells, e.g. to "running" before training."""
    group = _open_group(path, mode="r+")
    code, text = _status_code(status), _message(message)
    cells = [_cell(group, index) for index in indices]  # validate all before writing any
    for cell in cells:
        group["message"][cell] = text
        group["status"][cell] = code


def write_all(path: str | os.PathLike, ds: xr.Dataset) -> None:
    """Write every variable of a whole in-memory Dataset into a store made by `create` with the same coords.

    For tests, benchmarks and conversions; unlike `write_cell` it is not meant to run beside other writers.
    """
    group = _open_group(path, mode="r+")
    for name in VARIABLES:
        array = group[name]
        dims = list(array.metadata.dimension_names)
        if list(ds[name].dims) != dims or ds[name].shape != array.shape:
            raise StoreError(f"{name}: {ds[name].dims} {ds[name].shape} differs from the store's {dims} {array.shape}")
        values = ds[name].values
        array[...] = values.astype(_STR) if name == "message" else values


# --- where checkpoints live ----------------------------------------------------------------------------------

CHECKPOINTS = "checkpoints"


def checkpoint_dir(path: str | os.PathLike) -> Path:
    """The store's `checkpoints` Zarr group as a directory, created if missing (gpicl_phase.checkpoints writes
    the files in it). A Zarr group, so Zarr and xarray see a known member and skip it."""
    group = _open_group(path, mode="r+")
    if CHECKPOINTS not in group:
        group.create_group(CHECKPOINTS)
    return Path(path) / CHECKPOINTS


# --- helpers -------------------------------------------------------------------------------------------------


def _open_group(path: str | os.PathLike, *, mode: str) -> zarr.Group:
    """Open the root group, turning every way a path can fail to be our store into a readable StoreError."""
    p = Path(path)
    if not p.exists():
        raise StoreError(f"no results store at {p} (the path does not exist)")
    if not (p / "zarr.json").is_file():
        hint = " (it looks like a Zarr v2 store)" if (p / ".zgroup").exists() else ""
        raise StoreError(f"{p} is not a Zarr v3 results store: no zarr.json{hint}")
    try:
        group = zarr.open_group(p, mode=mode, zarr_format=3)
    except Exception as err:  # zarr raises several unrelated types for unreadable metadata
        raise StoreError(f"{p} is not a readable Zarr v3 group: {err}") from err
    version = group.attrs.get("schema_version")
    if version is None:
        raise StoreError(f"{p} is a Zarr store but not a gpicl-phase results store (no schema_version attribute)")
    if version != SCHEMA_VERSION:
        age = "an older" if isinstance(version, int) and version < SCHEMA_VERSION else "a newer"
        fix = "re-run the sweep with this version" if age == "an older" else "upgrade gpicl-phase"
        raise StoreError(
            f"{p} has schema_version {version}, written by {age} gpicl-phase; this one reads version "
            f"{SCHEMA_VERSION} ({fix})"
        )
    return group


def _axis_values(name: str, values: Sequence) -> np.ndarray:
    """Swept values as int64, float64 or a string array; unique, so they can index the dim."""
    arr = np.asarray(list(values))
    if arr.ndim != 1:
        raise StoreError(f"values of {name!r} must be a flat list, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "U":
        arr = arr.astype(_STR)
    else:
        raise StoreError(f"values of {name!r} must be all ints, all floats or all strings, got {arr.dtype}")
    if len(set(arr.tolist())) != arr.size:
        raise StoreError(f"values of {name!r} must be unique, got {arr.tolist()}")
    return arr


def _int_steps(name: str, steps: Sequence[int]) -> np.ndarray:
    """Step coordinates: unique non-negative increasing ints."""
    arr = np.asarray(list(steps), dtype=np.int64)
    if arr.ndim != 1 or (arr.size and (arr[0] < 0 or np.any(np.diff(arr) <= 0))):
        raise StoreError(f"{name} must be increasing non-negative ints, got {list(steps)}")
    return arr


def _cell_coords(spec: Mapping[str, Mapping[str, Any]], sizes: dict[str, int]) -> dict[str, tuple[list, np.ndarray]]:
    """Validate `cell_coords` into name -> (dims, values) with values shaped by those axis dims."""
    out = {}
    for name, entry in spec.items():
        if not name.startswith("cfg_"):
            raise StoreError(f"cell coordinate {name!r} must be named cfg_<config field>")
        dims = list(entry.get("dims", ()))
        unknown = [d for d in dims if d not in sizes]
        if not dims or unknown or len(set(dims)) != len(dims):
            raise StoreError(f"{name}: dims {dims} must be distinct axis names from {list(sizes)}")
        values = np.asarray(entry.get("values"))
        shape = tuple(sizes[d] for d in dims)
        if values.shape != shape:
            raise StoreError(f"{name}: values have shape {values.shape}, expected {shape} for dims {dims}")
        if values.dtype.kind not in "biufU":
            raise StoreError(f"{name}: values must be bool, int, float or str, got {values.dtype}")
        out[name] = (dims, values.astype(_STR) if values.dtype.kind == "U" else values)
    return out


def _store_attrs(attrs: Mapping[str, Any]) -> dict:
    """The caller's attrs plus schema_version/created/package_version, refusing what would not read back as given."""
    for key, value in attrs.items():
        if not isinstance(key, str) or not _json_exact(value):
            raise StoreError(
                f"attribute {key!r} = {value!r:.80} would not read back identically; use JSON values "
                "(str, int, float, bool, None, list, dict with str keys; finite floats) or a JSON string"
            )
    if attrs.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise StoreError(f"attrs schema_version must be {SCHEMA_VERSION} (or left out)")
    return {
        "package_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **attrs,
        "schema_version": SCHEMA_VERSION,
    }


def _json_exact(value: Any) -> bool:
    """True when JSON round-trips `value` to an equal object of the same types (no tuples, NaN or numpy)."""
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_json_exact(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _json_exact(v) for k, v in value.items())
    return False


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


def _fit(name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
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


def _status_code(status: str | int) -> int:
    """A status name or code, checked."""
    code = STATUS.get(status) if isinstance(status, str) else status
    if code not in STATUS.values():
        raise StoreError(f"status must be one of {list(STATUS)}, got {status!r}")
    return int(code)


def _message(message: str) -> str:
    """Messages are capped so a run's error text cannot bloat the store."""
    return str(message)[:MESSAGE_CHARS]


def _read_raw(path: str | os.PathLike, group: zarr.Group, name: str) -> np.ndarray | None:
    """Read a whole variable straight from its chunk files, or None when its layout is not the one we write.

    Zarr spends ~0.1-0.3 ms per chunk (seconds per variable for 10,000 runs). Our chunks are whole cells
    stored uncompressed (raw little-endian bytes, or Zarr's vlen-utf8 framing for strings), a missing file
    is the fill value, and Zarr's atomic renames mean a file is never half written; so one `open` per cell
    suffices. Any surprise in the metadata falls back to Zarr.
    """
    array = group[name]
    meta = array.metadata
    n_axes = len(array.shape) - len(VARIABLES[name][0])
    trailing = array.shape[n_axes:]
    codecs = [c.to_dict() for c in meta.codecs]
    native = meta.data_type.to_native_dtype()
    raw = native.kind in "biuf" and [c["name"] for c in codecs] == ["bytes"]
    raw = raw and (native.itemsize == 1 or codecs[0].get("configuration", {}).get("endian") == "little")
    text = name == "message" and [c["name"] for c in codecs] == ["vlen-utf8"]
    layout_ok = (
        tuple(array.chunks) == (1,) * n_axes + trailing
        and meta.chunk_key_encoding.to_dict() == {"name": "default", "configuration": {"separator": "/"}}
        and (Path(path) / name).is_dir()
    )
    if not (raw or text) or not layout_ok:
        return None
    out = np.full(array.shape, meta.fill_value, dtype=_STR if text else native.newbyteorder("<"))
    size = int(np.prod(trailing)) * native.itemsize if raw else 0
    base = os.path.join(os.fspath(path), name, "c")
    tail = "/0" * len(trailing)
    for cell, data in chunk_files.cell_files(base, array.shape[:n_axes], tail):
        if raw and len(data) == size:
            out[cell] = np.frombuffer(data, dtype=out.dtype).reshape(trailing)
        elif text and len(data) >= 8 and data[:4] == b"\x01\x00\x00\x00":
            out[cell] = data[8 : 8 + int.from_bytes(data[4:8], "little")].decode("utf-8")
        else:
            return None
    return out.astype(native) if raw else out


def _rmtree(path: Path) -> None:
    """Remove a partly created store (only ever our own temporary directory)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)

