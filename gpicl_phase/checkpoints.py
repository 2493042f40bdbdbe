"""Checkpoints of packs in training: one ``.npz`` file per chunk in the store's ``checkpoints`` group.

The file holds the arrays ``driver`` hands over (every run's carry, the meta-tests so far) and a JSON meta
record; ``store.checkpoint_dir`` says where. Writes go to a temporary file and are renamed, so a kill leaves
the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gpicl_phase.store import CHECKPOINTS, StoreError, checkpoint_dir


def save(path: str | os.PathLike, name: str, arrays: Mapping[str, np.ndarray], meta: Mapping) -> None:
    """Write checkpoint ``name`` of the store at ``path`` atomically."""
    target = checkpoint_dir(path) / _file_name(name)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(dict(meta))), **arrays)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: str | os.PathLike, name: str) -> tuple[dict[str, np.ndarray], dict] | None:
    """``(arrays, meta)`` of checkpoint ``name``, or None when there is none (or it cannot be read)."""
    target = Path(path) / CHECKPOINTS / _file_name(name)
    if not target.is_file():
        return None
    try:
        with np.load(target, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        return arrays, json.loads(str(arrays.pop("__meta__")))
    except (OSError, ValueError, KeyError):  # a file from elsewhere, or damaged: start the runs over
        return None


def drop(path: str | os.PathLike, name: str) -> None:
    """Delete checkpoint ``name`` if it exists (its runs are written)."""
    (Path(path) / CHECKPOINTS / _file_name(name)).unlink(missing_ok=True)


def _file_name(name: str) -> str:
    if not name or "/" in name or name.startswith("."):
        raise StoreError(f"bad checkpoint name {name!r}")
    return f"{name}.npz"
