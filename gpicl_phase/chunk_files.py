"""Reading many small files fast: the store's chunk files (one per run and variable) without Zarr.

No Zarr here: store/fast_read.py decides whether a variable's layout allows it and decodes the bytes; this only
finds and reads files, with ``os.open``/``os.read`` (no buffered file object per file) and each file opened
relative to its directory (the path walked once per directory, not once per file).
"""

from __future__ import annotations

import os

import numpy as np


def cell_files(base: str, shape: tuple[int, ...], tail: str):
    """(cell index, bytes) of every chunk file that exists under `base`, in C order. Files are opened relative
    to their directory's descriptor: a path walk per file dominated the cold read (BENCHMARKS.md, History)."""
    *outer, inner = shape
    for prefix in np.ndindex(*outer):
        directory = "/".join([base, *map(str, prefix)])
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue  # no cell below it was ever written
        try:
            for last in range(inner):
                try:
                    fd = os.open(f"{last}{tail}", os.O_RDONLY, dir_fd=dir_fd)
                except FileNotFoundError:
                    continue  # never written (or reset to the fill value, which Zarr deletes)
                try:
                    yield (*prefix, last), read_all(fd)
                finally:
                    os.close(fd)
        finally:
            os.close(dir_fd)


def read_all(fd: int, block: int = 1 << 16) -> bytes:
    """A whole file from an open descriptor: one read for our chunks (a short read of a file is its end)."""
    data = os.read(fd, block)
    if len(data) < block:
        return data
    parts = [data]
    while part := os.read(fd, block):
        parts.append(part)
    return b"".join(parts)
