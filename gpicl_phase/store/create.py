"""Creating a store: every piece of metadata written once, beside the target, then renamed into place."""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec

from gpicl_phase import __version__
from gpicl_phase.store.schema import (
    FLAGS, SCHEMA_VERSION, STR, TRAILING_DIMS, VARIABLES, StoreError, axis_values, int_steps, json_exact,
)


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
        what = "is a file" if path.is_file() else "already exists"
        raise StoreError(f"{path} {what}; refusing to overwrite it (remove it or pick another path)")
    if not path.parent.is_dir():
        raise StoreError(f"cannot create {path}: its parent {path.parent} is not a directory")
    if not axes:
        raise StoreError("a store needs at least one axis (use seed=[0] for a single run)")
    coords = {name: axis_values(name, values) for name, values in axes.items()}
    for name in coords:
        if name in TRAILING_DIMS or name in VARIABLES:
            raise StoreError(f"axis name {name!r} is reserved (a store variable or a non-axis dim)")
    coords["log_step"] = int_steps("log_steps", log_steps)
    coords["eval_step"] = int_steps("eval_steps", eval_steps)
    coords["stream"] = axis_values("stream", list(streams))
    if coords["stream"].size == 0 or int(seq_len) < 1:
        raise StoreError("a store needs at least one stream and seq_len >= 1")
    coords["position"] = np.arange(int(seq_len), dtype=np.int64)
    extra = cell_coordinates(cell_coords or {}, {n: coords[n].size for n in axes})
    full_attrs = store_attrs_for(attrs)

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
            if name in FLAGS:
                var_attrs |= {"flag_values": list(FLAGS[name].values()), "flag_meanings": " ".join(FLAGS[name])}
            trailing_shape = tuple(coords[d].size for d in trailing)
            group.create_array(
                name,
                shape=axis_shape + trailing_shape,
                chunks=(1,) * len(axis_shape) + trailing_shape,
                dtype=dtype,
                fill_value=fill,
                dimension_names=axis_dims + list(trailing),
                attributes=var_attrs,
                # Uncompressed, so the fast reader can read a cell with one open() (noisy float32 curves
                # barely compress anyway); a CRC-32C per chunk, i.e. per run and variable, so a damaged file
                # is found on every read.
                compressors=[Crc32cCodec()],
            )
        os.rename(tmp, path)
    except OSError as err:
        raise StoreError(f"could not create {path}: {err}") from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def cell_coordinates(spec: Mapping[str, Mapping[str, Any]], sizes: dict[str, int]) -> dict[str, tuple[list, np.ndarray]]:
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
        out[name] = (dims, values.astype(STR) if values.dtype.kind == "U" else values)
    return out


def store_attrs_for(attrs: Mapping[str, Any]) -> dict:
    """The caller's attrs plus schema_version/created/package_version, refusing what would not read back as given."""
    for key, value in attrs.items():
        if not isinstance(key, str) or not json_exact(value):
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
