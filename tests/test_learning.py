"""A real learning check on the embedded digits: few tasks are memorized, unseen tasks stay at chance."""

import numpy as np
import pytest

from gpicl_phase import train
from gpicl_phase.config import RunConfig

pytestmark = pytest.mark.slow


def test_four_tasks_are_memorized_not_generalized():
    cfg = RunConfig(d_model=32, num_layers=1, num_heads=2, key_size=16, image_size=5, num_classes=5, seq_len=20,
                    batch_size=32, steps=300, eval_every=300, log_every=50, eval_batch=128, num_tasks=4)
    m = train.run(cfg)
    acc = np.asarray(m.eval_acc[-1])  # [stream, position] after 300 steps
    seen, unseen = acc[cfg.streams.index("seen")], acc[cfg.streams.index("unseen")]
    chance = 1 / cfg.num_classes
    assert seen.mean() > 0.6, f"seen-task accuracy {seen.mean():.2f} should be well above chance {chance}"
    assert abs(unseen.mean() - chance) < 0.1, f"unseen-task accuracy {unseen.mean():.2f} should stay near chance"
    assert seen[:3].mean() > 0.5, "memorized tasks are right from the first examples, before any context"
    assert float(m.train_loss[-1]) < 0.5 * float(m.train_loss[0])
