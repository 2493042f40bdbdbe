"""The paper's Table 1 beside ours: its numbers, and the setting differences that stand between them.

    beside_paper(df, base) -> df with a `paper <dataset>` column after each dataset column the paper has
    setting_differences(base) -> one line: where our run's setting differs from the paper's

The numbers are Table 1 of Kirsch et al. (2022) as given in PAPER.md (accuracy in % after 99 examples,
meta-trained on MNIST). Rows are matched by model kind, columns by dataset name; a dataset the paper does not
have (or a model it does not list) gets no paper column (or NaN), never a guess.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from gpicl_phase.store.run_config import RunConfig

DATASETS = ("MNIST", "FashionMNIST", "KMNIST", "Random", "CIFAR10", "SVHN")
PAPER_TABLE1 = {  # model kind -> (method name in the paper, accuracies in DATASETS order)
    "sgd": ("SGD", (70.31, 50.78, 37.89, 100.00, 14.84, 10.16)),
    "maml": ("MAML", (53.71, 48.44, 36.33, 99.80, 17.38, 11.33)),
    "vsml": ("VSML", (79.04, 68.49, 54.69, 100.00, 24.09, 17.45)),
    "lstm": ("LSTM", (25.39, 28.12, 18.10, 58.72, 12.11, 11.07)),
    "transformer": ("GPICL Transformer", (73.70, 62.24, 53.39, 100.00, 19.40, 14.58)),
}
# What Table 1's setting is, as far as PAPER.md and the authors' code say (steps and task count: not stated).
PAPER_SETTING = {"num_classes": 10, "image_size": 14, "seq_len": 100, "dataset": "MNIST (60,000 images)"}
# Our first dataset column is unseen tasks of the meta-training set: MNIST or its embedded 10k subset.
_SAME = {"MNIST-10k": "MNIST"}


def paper_value(model: str, dataset: str) -> float:
    """The paper's accuracy (%) for a model kind on a dataset column; NaN where the paper has none."""
    name = _SAME.get(dataset, dataset)
    if model not in PAPER_TABLE1 or name not in DATASETS:
        return math.nan
    return PAPER_TABLE1[model][1][DATASETS.index(name)]


def beside_paper(df: pd.DataFrame) -> pd.DataFrame:
    """The Table 1 frame with `paper <dataset>` after each `<dataset> std` column whose dataset the paper has."""
    out = df.copy()
    cols = list(df.columns)
    for d in [c for c in df.columns if c not in ("method", "model", "n") and not c.endswith(" std")]:
        if _SAME.get(d, d) not in DATASETS:
            continue
        out[f"paper {d}"] = [paper_value(m, d) for m in df["model"]]
        cols.insert(cols.index(f"{d} std") + 1, f"paper {d}")
    out = out[cols]
    out.attrs = dict(df.attrs)
    return out


def setting_differences(base: RunConfig | None) -> str:
    """Where our setting differs from Table 1's: classes, image size, examples seen, dataset, steps, tasks."""
    if base is None:
        return "setting unknown (the store has no base config)"
    ours = {"num_classes": base.num_classes, "image_size": base.image_size, "seq_len": base.seq_len,
            "dataset": base.dataset}
    parts = []
    if ours["num_classes"] != PAPER_SETTING["num_classes"]:
        parts.append(f"K = {base.num_classes} classes (paper 10; chance {100 / base.num_classes:.0f}% vs 10%)")
    if ours["image_size"] != PAPER_SETTING["image_size"]:
        parts.append(f"{base.image_size}x{base.image_size} images (paper 14x14)")
    if ours["seq_len"] != PAPER_SETTING["seq_len"]:
        parts.append(f"accuracy after {base.seq_len - 1} examples (paper 99)")
    if base.dataset != "mnist":
        parts.append(f"meta-trained on {base.dataset} (paper: MNIST)")
    parts.append(f"{base.steps:,} steps at batch {base.batch_size} on {base.num_tasks:,} tasks "
                 "(paper: not stated in PAPER.md)")
    return "; ".join(parts)
