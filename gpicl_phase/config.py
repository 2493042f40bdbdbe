"""Run configuration: one flat, frozen, typed dataclass, validated once at the edge.

Fields marked ``dynamic`` become traced values inside the compiled training program, so runs that differ
only in dynamic fields pack into one ``jit(vmap(train))``. Static fields change shapes or code paths.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

MODELS = ("transformer", "lstm", "mlp", "oplstm", "sgd", "maml", "vsml")
BIAS_MODES = ("task", "labels")


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong type; the message names the field."""


def _f(default: Any, help: str, dynamic: bool = False, choices: tuple | None = None) -> Any:
    meta = {"help": help, "dynamic": dynamic}
    if choices is not None:
        meta["choices"] = choices
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one meta-training run (with its seed)."""

    # Model (static: shapes).
    model: str = _f("transformer", "sequence model: transformer, lstm (baseline), mlp (no context), oplstm "
                    "(outer-product LSTM), sgd (online SGD), maml (online Meta-SGD) or vsml (weights as LSTMs); "
                    "docs/models.md", choices=MODELS)
    d_model: int = _f(256, "model size N_M (hidden size for lstm, oplstm, mlp and maml; LSTM state for vsml)")
    num_layers: int = _f(4, "Transformer blocks (LSTM: MLP layers before the cell)")
    num_heads: int = _f(8, "attention heads")
    key_size: int = _f(32, "key/query/value size per head")
    # Data (static).
    dataset: str = _f("mnist10k", "meta-training dataset (mnist10k is embedded; others: gpicl-phase data list)")
    eval_datasets: tuple[str, ...] = _f(("random",), "unseen datasets for meta-test streams (comma separated)")
    image_size: int = _f(14, "images are resized to image_size x image_size (N_x = image_size^2 x channels)")
    channels: int = _f(1, "1: gray, 3: rgb", choices=(1, 3))
    num_classes: int = _f(10, "classes per task (labels are permuted among them)")
    seq_len: int = _f(100, "examples per sequence T")
    batch_size: int = _f(128, "sequences per meta-training step B")
    tasks_per_batch: int = _f(0, "distinct tasks per step; 0 = one task per sequence; must divide batch_size")
    bias_mode: str = _f("task", "biased sequences use task id 0 ('task') or only its label permutation "
                        "with a fresh projection ('labels')", choices=BIAS_MODES)
    eval_biased: int = _f(0, "1: also meta-test the bias intervention's fixed task, stream 'biased' (task id 0 "
                          "in 'task' mode; its label permutation on unseen projections in 'labels' mode), where "
                          "a memorized permutation shows as accuracy above chance before any example")
    task_seed: int = _f(0, "root of every task and of the meta-test sequences (same for all runs of a sweep)")
    # Training schedule (static).
    steps: int = _f(2000, "meta-training steps (the base budget of an adaptive run)")
    max_steps: int = _f(0, "maximum budget of an adaptive run: it goes on past steps while its phase is undecided "
                           "(0: no extension; the sweep's [adaptive] rules decide)")
    eval_every: int = _f(100, "meta-test every this many steps (also at step 0)")
    log_every: int = _f(10, "training loss and grad norm are averaged over windows of this many steps")
    eval_batch: int = _f(128, "sequences per meta-test stream")
    # Dynamic: traced, vmappable.
    seed: int = _f(0, "seed for initialization and training data", dynamic=True)
    num_tasks: int = _f(2 ** 13, "number of training tasks; ids are drawn uniformly from [0, num_tasks)",
                        dynamic=True)
    lr: float = _f(1e-3, "Adam learning rate", dynamic=True)
    adam_b1: float = _f(0.9, "Adam beta1", dynamic=True)
    adam_b2: float = _f(0.999, "Adam beta2", dynamic=True)
    adam_eps: float = _f(1e-8, "Adam epsilon (smaller shortens the loss plateau)", dynamic=True)
    clip_norm: float = _f(0.0, "global gradient-norm clip; 0 disables", dynamic=True)
    bias: float = _f(0.0, "fraction of each batch drawn from the fixed task (the plateau intervention)",
                     dynamic=True)
    bias_anneal_steps: float = _f(0.0, "curriculum: bias falls linearly to 0 over this many steps; 0 keeps it "
                                       "constant", dynamic=True)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def input_dim(self) -> int:
        """N_x, the flattened image size."""
        return self.image_size * self.image_size * self.channels

    @property
    def streams(self) -> tuple[str, ...]:
        """Names of the meta-test streams, in the order the trainer emits them."""
        biased = ("biased",) if self.eval_biased else ()
        return ("seen", "unseen", *(f"unseen:{d}" for d in self.eval_datasets), "base", *biased)

    @property
    def budget(self) -> int:
        """The most steps this run may train: ``max_steps``, or ``steps`` when it is not extended."""
        return max(self.steps, self.max_steps)

    @property
    def log_steps(self) -> tuple[int, ...]:
        """Step at the end of each training-loss window (up to the maximum budget)."""
        return tuple(range(self.log_every, self.budget + 1, self.log_every))

    @property
    def eval_steps(self) -> tuple[int, ...]:
        """Steps at which the meta-test runs (0 included, up to the maximum budget)."""
        return tuple(range(0, self.budget + 1, self.eval_every))

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **coerce(changes))

    def static_part(self) -> RunConfig:
        """This config with every dynamic field at its default: the key that groups packable runs."""
        return dataclasses.replace(self, **{f.name: f.default for f in fields() if f.metadata["dynamic"]})

    def to_json(self) -> str:
        """Stable JSON (sorted keys) that ``from_json`` reads back identically."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Inverse of ``to_json``."""
        return cls(**coerce(json.loads(text)))


def fields() -> tuple[dataclasses.Field, ...]:
    """The fields of RunConfig, in declaration order."""
    return dataclasses.fields(RunConfig)


FIELD_NAMES = tuple(f.name for f in fields())
DYNAMIC_FIELDS = tuple(f.name for f in fields() if f.metadata["dynamic"])


def _type_of(f: dataclasses.Field) -> type:
    return {"int": int, "float": float, "str": str, "tuple[str, ...]": tuple}[str(f.type)]


def coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Checks names and converts values to each field's type; raises ConfigError naming the field."""
    by_name = {f.name: f for f in fields()}
    out = {}
    for name, value in values.items():
        if name not in by_name:
            raise ConfigError(f"unknown config field {name!r}; known fields: {', '.join(FIELD_NAMES)}")
        out[name] = coerce_value(by_name[name], value)
    return out


def coerce_value(f: dataclasses.Field, value: Any) -> Any:
    """One value to the field's type (ints accept integral floats, tuples accept comma strings)."""
    kind = _type_of(f)
    try:
        if kind is tuple:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise TypeError
            return tuple(value)
        if kind is int:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, str):
                value = float(value) if any(c in value for c in ".eE") else int(value)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise TypeError
            return value
        if kind is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError):
        raise ConfigError(f"{f.name}: expected {kind.__name__}, got {value!r}") from None


def validate(cfg: RunConfig) -> None:
    """Raises ConfigError naming the first field whose value is out of range."""
    for f in fields():
        v = getattr(cfg, f.name)
        choices = f.metadata.get("choices")
        if choices is not None and v not in choices:
            raise ConfigError(f"{f.name}: {v!r} is not one of {', '.join(map(str, choices))}")
    positive = ("d_model", "num_layers", "num_heads", "key_size", "image_size", "seq_len", "batch_size",
                "steps", "eval_every", "log_every", "eval_batch", "num_tasks")
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name}: must be positive, got {getattr(cfg, name)}")
    if cfg.eval_biased not in (0, 1):
        raise ConfigError(f"eval_biased: must be 0 or 1, got {cfg.eval_biased}")
    if cfg.num_classes < 2:
        raise ConfigError(f"num_classes: must be at least 2, got {cfg.num_classes}")
    if cfg.num_tasks > 2 ** 31 - 1:
        raise ConfigError(f"num_tasks: at most 2^31 - 1 (task ids are int32), got {cfg.num_tasks}")
    if cfg.tasks_per_batch < 0 or (cfg.tasks_per_batch and cfg.batch_size % cfg.tasks_per_batch):
        raise ConfigError(f"tasks_per_batch: must be 0 or divide batch_size={cfg.batch_size}, "
                          f"got {cfg.tasks_per_batch}")
    if cfg.steps % cfg.eval_every:
        raise ConfigError(f"eval_every: must divide steps={cfg.steps}, got {cfg.eval_every}")
    if cfg.max_steps and cfg.max_steps < cfg.steps:
        raise ConfigError(f"max_steps: the maximum budget must be 0 (no extension) or at least the base budget "
                          f"steps={cfg.steps}, got {cfg.max_steps}")
    if cfg.max_steps % cfg.eval_every or cfg.max_steps < 0:
        raise ConfigError(f"max_steps: must be a multiple of eval_every={cfg.eval_every} (runs stop at "
                          f"meta-tests), got {cfg.max_steps}")
    if cfg.eval_every % cfg.log_every:
        raise ConfigError(f"log_every: must divide eval_every={cfg.eval_every}, got {cfg.log_every}")
    for name in ("lr", "adam_eps"):
        if not getattr(cfg, name) > 0 or not math.isfinite(getattr(cfg, name)):
            raise ConfigError(f"{name}: must be a positive finite number, got {getattr(cfg, name)}")
    for name in ("adam_b1", "adam_b2"):
        if not 0 <= getattr(cfg, name) < 1:
            raise ConfigError(f"{name}: must be in [0, 1), got {getattr(cfg, name)}")
    if not 0 <= cfg.bias <= 1:
        raise ConfigError(f"bias: must be in [0, 1], got {cfg.bias}")
    if cfg.bias_anneal_steps < 0:
        raise ConfigError(f"bias_anneal_steps: must be >= 0, got {cfg.bias_anneal_steps}")
    if cfg.clip_norm < 0:
        raise ConfigError(f"clip_norm: must be >= 0, got {cfg.clip_norm}")
    if not cfg.dataset:
        raise ConfigError("dataset: must not be empty")
