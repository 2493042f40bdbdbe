"""Reading a variable through Zarr's public API: any Zarr release, any layout, each damaged run found.

Zarr decodes and verifies every chunk (the crc32c codec raises on a mismatch, the bytes codec on a wrong
length), but one bad chunk fails the whole read. So a failed read is split in halves until the bad runs are
found: k damaged runs cost about k x log2(runs) small extra reads, an undamaged store one read. A damaged run
keeps the fill value and is noted with the words the fast reader uses ("eval_acc checksum mismatch").

Zarr's cost is per chunk (~0.15-0.4 ms, one chunk per run and variable: 1.5-4 s per variable of a 10,000-run
store); ``BATCH`` is the one setting that measured faster (benchmarks/bench_store.py, "zarr public API" rows).
"""

from __future__ import annotations

import threading

import numpy as np
import zarr

from gpicl_phase.store.schema import VARIABLES, note_damage

# Decoding every chunk of a variable as one batch, not one by one (Zarr's default), about halves Zarr's
# per-chunk overhead. Raising async.concurrency does not help on a local disk (the work is Python, not waiting).
BATCH = {"codec_pipeline.batch_size": 1 << 16}
_CONFIG_LOCK = threading.Lock()  # zarr.config is process-wide: one reader at a time sets and restores it
# What Zarr raises for a chunk it cannot decode (a checksum, a length, a vlen frame); an OSError is no damage
# of one run and is raised.
DECODE_ERRORS = (ValueError, TypeError, RuntimeError, IndexError)


def read(group: zarr.Group, name: str, damaged: dict | None = None) -> np.ndarray:
    """The variable in disk order (a numpy array of Zarr's dtype); damaged runs at the fill value."""
    with _CONFIG_LOCK, zarr.config.set(BATCH):
        array = group[name]  # the codec pipeline takes its batch size here, when the array is opened
    n_axes = len(array.shape) - len(VARIABLES[name][0])
    whole = tuple(slice(0, n) for n in array.shape[:n_axes])
    try:
        return np.asarray(array[whole])
    except DECODE_ERRORS:
        out = np.full(array.shape, array.fill_value, dtype=array.dtype)
        _bisect(array, name, whole, out, damaged)
        return out


def _bisect(array: zarr.Array, name: str, block: tuple[slice, ...], out: np.ndarray, damaged: dict | None) -> None:
    """Read `block` (slices of the axis dims) into `out`, halving it around chunks Zarr cannot decode."""
    try:
        out[block] = array[block]
        return
    except DECODE_ERRORS as err:
        sizes = [s.stop - s.start for s in block]
        if max(sizes) == 1:
            note_damage(damaged, tuple(s.start for s in block), problem(name, err))
            return
    axis = int(np.argmax(sizes))
    start, stop = block[axis].start, block[axis].stop
    mid = start + (stop - start) // 2
    for part in (slice(start, mid), slice(mid, stop)):
        _bisect(array, name, (*block[:axis], part, *block[axis + 1:]), out, damaged)


def problem(name: str, err: Exception) -> str:
    """A damaged chunk in the fast reader's words where they agree ("<name> checksum mismatch")."""
    text = str(err)
    if "checksum" in text.lower():
        return f"{name} checksum mismatch"
    return f"{name} chunk unreadable ({type(err).__name__}: {text[:120]})"
