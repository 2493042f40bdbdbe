"""Combine stores that share their axes (e.g. one store per architecture) into one Dataset along a label dim."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

from gpicl_phase.analysis.metrics import axis_dims
from gpicl_phase.store import StoreError, config_from_attrs


def combine(datasets: Sequence[xr.Dataset], *, dim: str = "arch", labels: Sequence[str] | None = None) -> xr.Dataset:
    """Stack results along `dim` (new, first), labelled by `labels` (default: each store's model, else store0..).

    Every other dim must have identical coordinates, and the stores the same non-dim coordinates and
    `num_classes`; a ValueError names every difference. If the stores already have a `dim` axis they are
    concatenated along it instead (labels must not repeat). Attributes that agree are kept; each store's own
    attributes go, by label, into the JSON attribute `sources`. The result is loaded into memory.
    """
    if not datasets:
        raise ValueError("combine needs at least one Dataset")
    labels = check_combinable(datasets, dim=dim, labels=labels)
    if all(dim in axis_dims(d) for d in datasets):
        parts = list(datasets)
    else:
        parts = [d.expand_dims({dim: [label]}) for d, label in zip(datasets, labels, strict=True)]
    out = xr.concat(
        parts, dim=dim, data_vars="all", coords="different", compat="equals", join="exact",
        combine_attrs="drop_conflicts",
    )
    out.attrs["sources"] = json.dumps({label: _plain(d.attrs) for label, d in zip(labels, datasets, strict=True)})
    return out


def check_combinable(datasets: Sequence[xr.Dataset], *, dim: str = "arch",
                     labels: Sequence[str] | None = None) -> list[str]:
    """The labels `combine` would use; raises the ValueError `combine` would raise, reading no data (coordinates
    and attributes only), so a caller can ask whether stores combine before paying for it."""
    if not datasets:
        raise ValueError("combine needs at least one Dataset")
    existing = all(dim in axis_dims(d) for d in datasets)
    if not existing and any(dim in d.dims for d in datasets):
        raise ValueError(f"{dim!r} is an axis of some stores but not of others")
    labels = list(labels) if labels is not None else _default_labels(datasets)
    if len(labels) != len(datasets):
        raise ValueError(f"{len(labels)} labels for {len(datasets)} stores")
    _check_agree(datasets, labels, skip=dim if existing else None)
    if existing:
        all_labels = [str(v) for d in datasets for v in d[dim].values]
        if len(set(all_labels)) != len(all_labels):
            raise ValueError(f"{dim} values repeat across stores: {all_labels}")
    elif len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {labels}; pass labels=[...]")
    return labels


def _default_labels(datasets: Sequence[xr.Dataset]) -> list[str]:
    """Each store's base_config model when those are distinct, else store0, store1, ..."""
    models = []
    for d in datasets:
        try:
            models.append(config_from_attrs(d.attrs).model)
        except StoreError:  # a store not written by a sweep (no or no valid base config)
            models.append("")
    if all(models) and len(set(models)) == len(models):
        return models
    return [f"store{i}" for i in range(len(datasets))]


def _check_agree(datasets: Sequence[xr.Dataset], labels: Sequence[str], skip: str | None) -> None:
    """Raise one ValueError listing every way the stores disagree."""
    ref, problems = datasets[0], []
    for label, d in zip(labels[1:], datasets[1:]):
        if set(d.dims) != set(ref.dims):
            problems.append(f"{label}: dims {sorted(d.dims)} != {labels[0]}: {sorted(ref.dims)}")
            continue
        for name in ref.dims:
            if name != skip and not np.array_equal(d[name].values, ref[name].values):
                theirs, ours = _short(d[name].values), _short(ref[name].values)
                problems.append(f"{label}: {name} = {theirs} != {labels[0]}: {ours}")
        extra = set(d.coords) ^ set(ref.coords)
        if extra:
            problems.append(f"{label}: coordinates {sorted(extra)} are in one store but not the other")
        if d.attrs.get("num_classes", 10) != ref.attrs.get("num_classes", 10):
            problems.append(f"{label}: num_classes {d.attrs.get('num_classes')} != {ref.attrs.get('num_classes')}")
    if problems:
        raise ValueError("cannot combine stores whose axes differ:\n  " + "\n  ".join(problems))


def _short(values: np.ndarray) -> str:
    """A coordinate's values, abbreviated for an error message."""
    items = values.tolist()
    return str(items) if len(items) <= 8 else f"[{items[0]}, {items[1]}, ..., {items[-1]}] ({len(items)} values)"


def _plain(attrs: dict) -> dict:
    """Attributes made JSON-safe (numpy scalars to Python)."""
    return json.loads(json.dumps(attrs, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
