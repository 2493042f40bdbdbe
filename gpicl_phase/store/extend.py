"""Growing an axis of a store: refinement appends values (on disk, after the existing ones).

Every array on the axis's dim is resized, and its coordinate grows by the new values; chunks of existing cells
keep their keys, so nothing written moves. New cells hold fill values (status "pending") until the caller marks
them: `set_status(..., "skipped")` for cells no round asked for. The axis is listed in the store's
`extended_axes` attribute, and readers see it sorted (`store.read`).
A reader that opens the store while an axis grows may see arrays of two lengths; it reads again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from gpicl_phase.store.read import open_group
from gpicl_phase.store.schema import StoreError, axis_values


def extend_axis(path: str | os.PathLike, axis: str, values: Sequence) -> list[int]:
    """Append the `values` not yet on `axis`; returns the disk position of every value asked for.

    Idempotent: asking again for values already there changes nothing, so an interrupted extension is
    finished by repeating it.
    """
    group = open_group(path, mode="r+")
    dims = list(group["status"].metadata.dimension_names)
    if axis not in dims:
        raise StoreError(f"{path}: no axis {axis!r} to extend; axes: {dims}")
    have = np.asarray(group[axis][...])
    if have.dtype.kind not in "iuf":
        raise StoreError(f"{path}: axis {axis!r} holds {have.dtype} values; only numeric axes can be refined")
    asked = axis_values(axis, list(values))
    if asked.dtype.kind != have.dtype.kind and not (asked.dtype.kind in "iu" and have.dtype.kind in "iu"):
        raise StoreError(f"{path}: values {asked.tolist()} are not of the axis {axis!r}'s type ({have.dtype})")
    known = {v: i for i, v in enumerate(have.tolist())}
    new = [v for v in asked.tolist() if v not in known]
    if new:
        size = len(have) + len(new)
        # The coordinate last: while it is short, readers see the old axis and retry on the longer arrays.
        members = [name for name, _ in group.arrays() if name != axis]
        for name in [*members, axis]:
            array = group[name]
            names = list(array.metadata.dimension_names or ())
            if axis not in names:
                continue
            shape = list(array.shape)
            shape[names.index(axis)] = size
            array.resize(tuple(shape))
        group[axis][len(have):] = np.asarray(new, dtype=have.dtype)
        extended = list(group.attrs.get("extended_axes", []))
        if axis not in extended:
            group.attrs["extended_axes"] = [*extended, axis]
        known |= {v: len(have) + i for i, v in enumerate(new)}
    return [known[v] for v in asked.tolist()]
