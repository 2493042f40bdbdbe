"""Every number the analysis decides with, in one frozen dataclass that travels with its results as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    """Phase thresholds and metric choices; the paper gives no numbers, so ours are explicit (docs/analysis.md)."""

    plateau_band: float = field(
        default=0.1, metadata={"help": "training loss within this fraction of ln K of ln K is on the plateau"}
    )
    improvement: float = field(
        default=0.1, metadata={"help": "in-context improvement (accuracy points, last minus first) that counts"}
    )
    memorization_acc: float = field(
        default=0.5, metadata={"help": "seen-task accuracy at the first positions that counts as memorized"}
    )
    n_first: int = field(default=5, metadata={"help": "positions averaged for 'first' accuracy (cuts noise)"})
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

    # --- command line --------------------------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add `--thresholds FILE` and one `--<field>` flag per field (unset flags keep the file's value)."""
        group = parser.add_argument_group("phase thresholds (docs/analysis.md)")
        group.add_argument("--thresholds", metavar="TOML", help="TOML file of thresholds; flags below override it")
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            if f.name == "positions":
                group.add_argument(flag, type=int, nargs="*", default=None, help=f.metadata["help"])
            elif "choices" in f.metadata:
                group.add_argument(flag, choices=f.metadata["choices"], default=None, help=f.metadata["help"])
            else:
                kind = float if f.type == "float" else int
                group.add_argument(flag, type=kind, default=None, help=f"{f.metadata['help']} (default {f.default})")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Thresholds:
        """Thresholds from parsed `add_arguments` flags: defaults < TOML file < flags."""
        base = cls.from_toml(args.thresholds) if getattr(args, "thresholds", None) else cls()
        changes = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
        return dataclasses.replace(base, **changes)
