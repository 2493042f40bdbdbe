"""A tiny sweep shared by the sweep-engine tests (8 runs, a few seconds once compiled)."""

from __future__ import annotations

import numpy as np
import xarray as xr

TINY_SWEEP = """
# Question: does the engine pack, store and resume? Command: pytest tests/test_sweep*.py. Cost: seconds.
name = "tiny"
[base]
d_model = 8
num_layers = 1
num_heads = 1
key_size = 4
image_size = 4
seq_len = 8
batch_size = 4
steps = 10
eval_every = 5
log_every = 5
eval_batch = 4
[axes]
num_tasks = [1, 4, 16, 64]
seed = [0, 1]
[smoke]
axes = { num_tasks = [1, 4] }
"""

VALUES = ("train_loss", "grad_norm", "eval_acc", "eval_loss", "param_count", "state_size", "status",
          "diverged_step")


def write_spec(tmp_path, text: str = TINY_SWEEP):
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def assert_same_results(a: xr.Dataset, b: xr.Dataset, exact: bool = True) -> None:
    """Every result variable equal (bit for bit when ``exact``), wall times aside."""
    for name in VALUES:
        x, y = np.asarray(a[name].values), np.asarray(b[name].values)
        if exact or x.dtype.kind in "iu":
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5, err_msg=name)
