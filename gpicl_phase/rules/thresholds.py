"""Every number the phase rules decide with, in one frozen dataclass that travels with its results as JSON.

Accuracy thresholds are fractions of the headroom above chance, ``1 - 1/K``, so one set of numbers means the
same at K = 3, 5 and 10: ``level(x, K) = x (1 - 1/K)`` accuracy points for an improvement, and
``1/K + x (1 - 1/K)`` for an accuracy.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Thresholds:
    """Phase thresholds and metric choices; the paper gives no numbers, so ours are explicit (docs/analysis.md)."""

    plateau_band: float = field(
        default=0.1, metadata={"help": "training loss within this fraction of ln K of ln K is on the plateau"}
    )
    improvement: float = field(
        default=0.1,
        metadata={"help": "in-context improvement (last minus first accuracy) that counts, as a fraction of the "
                          "headroom above chance 1 - 1/K (0.1: 0.09 accuracy points at K=10, 0.08 at K=5)"},
    )
    memorization_acc: float = field(
        default=0.45,
        metadata={"help": "seen-task 'first' accuracy that counts as memorized, as a fraction of the headroom "
                          "above chance (0.45: accuracy 0.505 at K=10, 0.56 at K=5, 0.63 at K=3)"},
    )
    n_first: int = field(
        default=1,
        metadata={"help": "positions averaged for 'first' accuracy (1: position 0 alone, before any labelled "
                          "example, so fast in-context learners are not hidden)"},
    )
    n_last: int = field(default=5, metadata={"help": "positions averaged for 'last' accuracy"})
    positions: tuple[int, ...] = field(
        default=(10, 20, 40), metadata={"help": "extra positions whose accuracy is reported (acc_at)"}
    )
    eval_step: int | None = field(
        default=None, metadata={"help": "eval step the metrics are read at (default: the last one)"}
    )
    unseen_datasets: str = field(
        default="any",
        metadata={
            "help": "which unseen:<dataset> streams must also improve for 'generalizing': any, all, or ignore them",
            "choices": ("any", "all", "ignore"),
        },
    )
    ci_level: float = field(default=0.95, metadata={"help": "confidence level of seed and fit intervals"})

    def __post_init__(self):
        """Validate once, at the edge."""
        for name in ("improvement", "memorization_acc"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1) (a fraction of the headroom above chance), "
                                 f"got {getattr(self, name)}")
        if not 0 < self.plateau_band < 1:
            raise ValueError(f"plateau_band must be in (0, 1), got {self.plateau_band}")
        if not 0 < self.ci_level < 1:
            raise ValueError(f"ci_level must be in (0, 1), got {self.ci_level}")
        if self.n_first < 1 or self.n_last < 1:
            raise ValueError("n_first and n_last must be >= 1")
        if self.unseen_datasets not in ("any", "all", "ignore"):
            raise ValueError(f"unseen_datasets must be 'any', 'all' or 'ignore', got {self.unseen_datasets!r}")
        if any(p < 0 for p in self.positions):
            raise ValueError(f"positions must be >= 0, got {self.positions}")
        object.__setattr__(self, "positions", tuple(int(p) for p in self.positions))

    def improvement_level(self, k):
        """The improvement threshold in accuracy points for K classes (K may be an array)."""
        return self.improvement * (1.0 - 1.0 / np.asarray(k, dtype=np.float64))

    def memorization_level(self, k):
        """The memorization threshold as an accuracy for K classes (K may be an array)."""
        k = np.asarray(k, dtype=np.float64)
        return 1.0 / k + self.memorization_acc * (1.0 - 1.0 / k)

    # --- serialization -----------------------------------------------------------------------------------

    def to_json(self) -> str:
        """JSON of every field (positions as a list)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Thresholds:
        """Build from a mapping, naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown threshold(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if k == "positions" else v for k, v in values.items()})

    @classmethod
    def from_json(cls, text: str) -> Thresholds:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_toml(cls, path: str | Path) -> Thresholds:
        """Read a TOML file: keys at top level or under a [thresholds] table."""
        with open(path, "rb") as f:
            data = tomllib.load(f)
        return cls.from_dict(data.get("thresholds", data))
