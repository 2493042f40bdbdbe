"""When, during meta-training, each stream is memorized and when it is learned in context: the order of the two
is the paper's "memorization, then generalization" (T12), read per run off the meta-tests a store holds."""

from __future__ import annotations

import numpy as np
import xarray as xr

from gpicl_phase.analysis.metrics import axis_coords, axis_dims, classes_per_run, usable
from gpicl_phase.rules import Thresholds


def onsets(ds: xr.Dataset, th: Thresholds = Thresholds()) -> xr.Dataset:
    """Per run and stream: `memorized_step` and `learning_step` (NaN where never), and `usable`.

    `memorized_step`: the first meta-test at which 'first' accuracy (the first `n_first` positions, before the
    sequence has shown much) reaches 1/K + memorization_acc (1 - 1/K): the stream's tasks are known from
    meta-training. `learning_step`: the first meta-test at which last minus first accuracy reaches
    improvement (1 - 1/K): the stream is learned within the sequence. Thresholds as for the phases
    (docs/analysis.md). A crossing counts when it holds at the next meta-test too (or is the run's last), and
    the first such one is reported, since a memorized task may later be forgotten.
    """
    dims = axis_dims(ds)
    acc = np.asarray(ds["eval_acc"].transpose(*dims, "stream", "eval_step", "position").values, dtype=np.float64)
    T = acc.shape[-1]
    first = acc[..., : min(th.n_first, T)].mean(-1)
    last = acc[..., -min(th.n_last, T):].mean(-1)
    k = classes_per_run(ds).transpose(*dims).values.astype(np.float64)[..., None, None]
    headroom = 1.0 - 1.0 / k
    steps = ds["eval_step"].values.astype(np.float64)

    def first_step(hit: np.ndarray) -> np.ndarray:
        # Held at the next meta-test too (or at a run's last): one position of one meta-test batch is noisy
        # enough (eval_batch 128: std ~0.04) that a lone crossing is often chance.
        held = hit & np.concatenate([hit[..., 1:] | ~np.isfinite(first[..., 1:]), np.ones_like(hit[..., :1])], -1)
        return np.where(held.any(-1), steps[np.argmax(held, axis=-1)], np.nan)

    with np.errstate(invalid="ignore"):  # NaN meta-tests (unfinished runs) are no crossing
        memorized = first_step(first >= 1.0 / k + th.memorization_acc * headroom)
        learning = first_step(last - first >= th.improvement * headroom)
    by_stream = [*dims, "stream"]
    return xr.Dataset(
        {"memorized_step": (by_stream, memorized), "learning_step": (by_stream, learning),
         "usable": usable(ds).variable},
        coords=axis_coords(ds, {"stream": ds["stream"].variable}),
        attrs={"thresholds": th.to_json()},
    )
