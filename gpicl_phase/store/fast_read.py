"""The fast reader: a whole variable straight from its chunk files, for the Zarr releases it was tested with.

Zarr spends ~0.2-0.4 ms per chunk, and a store has one chunk per run and variable: 2-4 s per variable for
10,000 runs, however its concurrency is set (BENCHMARKS.md). Our chunks are whole cells stored uncompressed
(raw little-endian bytes, or Zarr's vlen-utf8 framing for `message`) and, in stores made since checksums,
followed by their CRC-32C; a missing file is the fill value, and Zarr's atomic renames mean a file is never
half written; so one `open` per cell suffices (~0.1 s per variable).

That framing is Zarr's to change, so this reader runs only where ``zarr.__version__`` is in ``ZARR_TESTED``
(the releases `tests/test_store_public.py` compared against Zarr's own reading) and the variable's metadata is
exactly the layout `store.create` writes; otherwise `read` returns None and `store.zarr_read` reads through
Zarr's public API. ``GPICL_PHASE_STORE_READER=zarr`` turns it off.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import google_crc32c
import numpy as np
import zarr

from gpicl_phase import chunk_files
from gpicl_phase.store.schema import STR, VARIABLES, note_damage

# [lowest, highest) release whose chunk files this reader decodes byte for byte as Zarr does. Widen it only
# after tests/test_store_public.py passes with the new release.
ZARR_TESTED = ((3, 1, 0), (3, 2, 0))
READER_ENV = "GPICL_PHASE_STORE_READER"  # "zarr": always read through Zarr's public API


def version_tuple(version: str) -> tuple[int, ...]:
    """``"3.1.6"`` -> (3, 1, 6); pre-release and local parts dropped (``"3.2.0rc1"`` -> (3, 2, 0))."""
    parts = []
    for piece in version.split(".")[:3]:
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:
            break
    return tuple(parts)


def usable(version: str | None = None) -> bool:
    """Whether the fast reader may run: a tested Zarr release, and not turned off by the environment."""
    if os.environ.get(READER_ENV, "").strip().lower() == "zarr":
        return False
    low, high = ZARR_TESTED
    have = version_tuple(zarr.__version__ if version is None else version)
    return len(have) >= 2 and low <= have < high


def read(path: str | os.PathLike, group: zarr.Group, name: str, damaged: dict | None = None) -> np.ndarray | None:
    """The variable in disk order, or None when its layout is not exactly the one `store.create` writes.

    A chunk whose checksum or length is wrong keeps the fill value and is recorded in ``damaged`` (disk cell
    index -> problems); without ``damaged`` a wrong length returns None (Zarr then decides).
    """
    array = group[name]
    meta = array.metadata
    n_axes = len(array.shape) - len(VARIABLES[name][0])
    trailing = array.shape[n_axes:]
    codecs = [c.to_dict() for c in meta.codecs]
    names = [c.get("name") for c in codecs]
    checked = names[1:] == ["crc32c"]
    body = names[:1] if checked else names
    native = meta.data_type.to_native_dtype()
    raw = native.kind in "biuf" and body == ["bytes"]
    raw = raw and (native.itemsize == 1 or codecs[0].get("configuration", {}).get("endian") == "little")
    text = name == "message" and body == ["vlen-utf8"]
    layout_ok = (
        tuple(array.chunks) == (1,) * n_axes + trailing
        and meta.chunk_key_encoding.to_dict() == {"name": "default", "configuration": {"separator": "/"}}
        and (Path(path) / name).is_dir()
    )
    if not (raw or text) or not layout_ok:
        return None
    out = np.full(array.shape, meta.fill_value, dtype=STR if text else native.newbyteorder("<"))
    size = int(np.prod(trailing)) * native.itemsize if raw else 0
    base = os.path.join(os.fspath(path), name, "c")
    tail = "/0" * len(trailing)
    for cell, data in chunk_files.cell_files(base, array.shape[:n_axes], tail):
        if checked:
            if len(data) < 4 or google_crc32c.value(data[:-4]) != int.from_bytes(data[-4:], "little"):
                note_damage(damaged, cell, f"{name} checksum mismatch")
                continue
            data = data[:-4]
        if raw and len(data) == size:
            out[cell] = np.frombuffer(data, dtype=out.dtype).reshape(trailing)
        elif text and len(data) >= 8 and data[:4] == b"\x01\x00\x00\x00":
            out[cell] = data[8 : 8 + int.from_bytes(data[4:8], "little")].decode("utf-8", errors="replace")
        elif damaged is not None:
            note_damage(damaged, cell, f"{name} chunk file has {len(data)} bytes, not {size or 'a string'}")
        else:
            return None
    return out.astype(native) if raw else out

