"""Onsets: the first meta-test at which a stream is memorized, and the first at which it is learned in context."""

import numpy as np

from gpicl_phase.analysis.onsets import onsets
from gpicl_phase.rules import Thresholds
from gpicl_phase.testing import synthetic_store


def planted():
    """Two runs, K = 5 (chance 0.2), meta-tests at 0..4000: run 0 memorizes 'seen' at 2000 (position 0 right,
    the rest too) and learns 'unseen' in context from 3000; run 1 does neither."""
    ds = synthetic_store(d_models=(16,), num_tasks=(256,), seeds=(0, 1), num_classes=5, seq_len=10).load()
    ds = ds.isel(d_model=0, num_tasks=0, drop=True)
    acc = np.full(ds["eval_acc"].transpose("seed", "eval_step", "stream", "position").shape, 0.2)
    steps = list(ds["eval_step"].values)
    streams = list(ds["stream"].values)
    s_seen, s_unseen = streams.index("seen"), streams.index("unseen")
    for e, step in enumerate(steps):
        if step >= 2000:
            acc[0, e, s_seen, :] = 0.9
        if step >= 3000:
            acc[0, e, s_unseen, :] = np.linspace(0.2, 0.8, acc.shape[-1])
    acc[0, steps.index(1000), s_seen, 0] = 0.5  # below 1/K + 0.45 (1 - 1/K) = 0.56: not yet memorized
    acc[1, steps.index(1000), s_unseen, -5:] = 0.9  # a lone blip in run 1: gone at the next meta-test
    ds["eval_acc"] = (("seed", "eval_step", "stream", "position"), acc)
    return ds


def test_onsets_are_the_first_crossings_of_the_phase_thresholds():
    out = onsets(planted(), Thresholds())
    assert float(out["memorized_step"].sel(seed=0, stream="seen")) == 2000
    assert float(out["learning_step"].sel(seed=0, stream="unseen")) == 3000
    assert np.isnan(float(out["memorized_step"].sel(seed=0, stream="unseen"))), "rises in context, not known at 0"
    assert np.isnan(float(out["learning_step"].sel(seed=0, stream="seen"))), "flat at 0.9: nothing to learn"
    assert np.isnan(out["memorized_step"].sel(seed=1).values).all()
    assert np.isnan(out["learning_step"].sel(seed=1).values).all()


def test_onsets_follow_the_thresholds():
    strict = onsets(planted(), Thresholds(memorization_acc=0.9))  # 0.2 + 0.9 * 0.8 = 0.92 > 0.9
    assert np.isnan(float(strict["memorized_step"].sel(seed=0, stream="seen")))
    loose = onsets(planted(), Thresholds(memorization_acc=0.3))  # 0.44 < 0.5 at step 1000, held at 2000
    assert float(loose["memorized_step"].sel(seed=0, stream="seen")) == 1000
