"""Datasets for meta-training and meta-testing, in numpy only (no JAX).

Public surface:

- `load(name, *, image_size=14, channels=1, cache_dir=None) -> Dataset`: preprocessed, z-normalized features.
- `available(cache_dir=None) -> dict[str, bool]`: which named datasets load without a download.
- `fetch(names, *, cache_dir=None, ...) -> dict[str, list[Path]]`: download remote datasets, checksum-verified.
- `cache_dir() -> Path`: ``$GPICL_PHASE_DATA`` or ``~/.cache/gpicl_phase``.
- `NAMES`, `EMBEDDED_NAMES`, `REMOTE_NAMES`; `DataError` (a ValueError) for every failure, with what to do.
"""

from gpicl_phase.data.download import fetch
from gpicl_phase.data.registry import Dataset, available, load
from gpicl_phase.data.sources import EMBEDDED_NAMES, NAMES, REMOTE_NAMES, DataError, cache_dir

__all__ = ["Dataset", "DataError", "EMBEDDED_NAMES", "NAMES", "REMOTE_NAMES", "available", "cache_dir", "fetch",
           "load"]
