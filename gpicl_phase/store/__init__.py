"""The results store: one Zarr v3 group per sweep, read back as a self-describing xarray Dataset.

This package is the only code that touches Zarr. The layout is docs/DESIGN.md's "Store schema": one dim per
swept axis, then `log_step`, `eval_step`, `stream`, `position`. Every variable is chunked 1 along every axis
dim and whole along the others, so one run is one chunk per variable and processes writing different runs
never share a file. `create` writes all metadata once (arrays start as their fill value, which Zarr does not
store); afterwards only chunks change, except when refinement appends values to an axis (`extend_axis`).

`load_results` and `read_status` read whole variables with `fast_read` (chunk files read directly, for the Zarr
releases it was tested with) or else `zarr_read` (Zarr's public API); `read_config` gives the typed base config.

Strings (`message`, string coordinates) are Zarr's variable-length UTF-8 type: the fixed-width `<U256` of the
design has no stable Zarr v3 encoding (zarr warns), so messages are cut to 256 characters on write instead.
"""

from gpicl_phase.store.create import create
from gpicl_phase.store.extend import extend_axis
from gpicl_phase.store.lock import StoreLocked, lock_path, writer_lock
from gpicl_phase.store.read import (
    bytes_per_run, load_results, open_group, open_results, read_config, read_status, store_attrs, verify,
)
from gpicl_phase.store.run_config import config_from_attrs
from gpicl_phase.store.schema import (
    FINISHED, MESSAGE_CHARS, SCHEMA_VERSION, STATUS, STOP_REASONS, TRAILING_DIMS, VARIABLES, StoreError,
)
from gpicl_phase.store.write import CHECKPOINTS, checkpoint_dir, set_status, update_attrs, write_all, write_cell

__all__ = [
    "CHECKPOINTS", "FINISHED", "MESSAGE_CHARS", "SCHEMA_VERSION", "STATUS", "STOP_REASONS", "TRAILING_DIMS",
    "VARIABLES", "StoreError", "StoreLocked", "bytes_per_run", "checkpoint_dir", "config_from_attrs", "create",
    "extend_axis", "load_results", "lock_path", "open_group", "open_results", "read_config", "read_status",
    "set_status", "store_attrs", "update_attrs", "verify", "write_all", "write_cell", "writer_lock",
]
