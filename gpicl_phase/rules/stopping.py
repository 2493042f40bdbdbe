"""Stop rules of adaptive runs: after each meta-test, which runs of a pack have decided their phase.

A pure function of the metrics a run has produced so far (numpy only), so the decision, and with it every
stored number, is the same in a packed, resumed or distributed sweep. The rules (docs/analysis.md, "Adaptive
runs") read the phase with the analysis rules (`rules.phases.decide`) at every meta-test:

- **settled** (stop early): the run has shown the same learned phase (memorizing, identifying or
  generalizing) at the last `patience` meta-tests, and its seen- and unseen-task final accuracies moved less
  than `acc_tol` of the headroom above chance over them. A memorizing or identifying run must also have
  converged: its training loss fell by less than `loss_tol` ln K over the same stretch (in units of the
  plateau's height, so near-zero losses of memorizers count as converged, and the rule means the same at
  every K); while it still falls, more training may turn memorization into generalization. A generalizing
  run needs only its stable accuracies: its loss keeps falling slowly long after the phase is plain.
- **budget**: it reached its maximum budget (`max_steps`, or `steps` for a run that is not adaptive).
- **stalled** (only with `stall_steps > 0`): past the base budget `steps`, it has sat on the loss plateau for
  `stall_steps` steps with neither the loss (`loss_tol` ln K) nor the gradient norm (`grad_tol`, relative)
  moving. It is
  labelled "unresolved", never "failed". Off by default: the GPICL plateau is flat until it breaks.
- **diverged**: a non-finite loss; the run is frozen anyway.

Everything else goes on: a run on the plateau, or one whose phase still changes or whose loss still falls.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gpicl_phase.rules.phases import decide
from gpicl_phase.rules.thresholds import Thresholds

# Stored per run as int8 codes; 0 means not stopped (yet), or a store written before adaptive runs.
STOP_REASONS = ("", "budget", "settled", "stalled", "diverged")
REASON = {name: code for code, name in enumerate(STOP_REASONS)}
SETTLED_PHASES = ("memorizing", "identifying", "generalizing")


@dataclass(frozen=True)
class StopRules:
    """When an adaptive run stops (module docstring); recorded in the store beside the thresholds."""

    patience: int = field(default=3, metadata={"help": "meta-tests in a row that must agree before a run settles"})
    acc_tol: float = field(
        default=0.1, metadata={"help": "largest change of the final seen/unseen accuracy over those meta-tests, "
                                       "as a fraction of the headroom above chance"})
    loss_tol: float = field(
        default=0.02, metadata={"help": "largest fall of the training loss over those meta-tests, in units of "
                                        "ln K, that still counts as converged"})
    min_steps: int = field(default=0, metadata={"help": "no run stops as settled before this step"})
    stall_steps: int = field(
        default=0, metadata={"help": "past the base budget, stop a run flat on the plateau for this many steps "
                                     "as unresolved (0: off; plateau runs go on to max_steps)"})
    grad_tol: float = field(
        default=0.1, metadata={"help": "relative change of the gradient norm that counts as moving (stall rule)"})

    def __post_init__(self):
        """Validate once, at the edge."""
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {self.patience!r}")
        for name in ("min_steps", "stall_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        for name in ("acc_tol", "loss_tol", "grad_tol"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ValueError(f"{name} must be a number in (0, 1), got {v!r}")

    def to_json(self) -> str:
        """Stable JSON that `from_dict(json.loads(...))` reads back identically."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StopRules:
        """Build from a mapping (a sweep file's [adaptive] table), naming any unknown key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown stop rule(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


class History(NamedTuple):
    """What a pack of R runs has produced so far, all runs at the same meta-test E - 1 (step (E-1) x eval_every).

    `eval_acc`: [R, E, S, T]; `train_loss`, `grad_norm`: [R, L] log windows (L = (E-1) x eval_every / log_every).
    """

    eval_acc: np.ndarray
    train_loss: np.ndarray
    grad_norm: np.ndarray


class RunFacts(NamedTuple):
    """Per pack: stream names, classes, schedule; per run: base and maximum budgets ([R] ints)."""

    streams: tuple[str, ...]
    num_classes: int
    eval_every: int
    log_every: int
    steps: np.ndarray
    max_steps: np.ndarray


def phases_over_time(h: History, facts: RunFacts, th: Thresholds) -> np.ndarray:
    """The phase each run shows at each meta-test after step 0 ([R, E-1] labels; "unresolved" = on the plateau)."""
    streams = list(facts.streams)
    acc = h.eval_acc[:, 1:].astype(np.float64)  # [R, E-1, S, T]
    T = acc.shape[-1]
    first = acc[..., : min(th.n_first, T)].mean(-1)
    imp = acc[..., -min(th.n_last, T):].mean(-1) - first
    extra = [i for i, s in enumerate(streams) if s.startswith("unseen:")]
    loss = interval_means(h.train_loss, facts)
    return decide(first[..., streams.index("seen")], imp[..., streams.index("seen")],
                  imp[..., streams.index("unseen")], imp[..., extra] if extra else None, loss,
                  k=facts.num_classes, budget_used=False, th=th)


def interval_means(values: np.ndarray, facts: RunFacts) -> np.ndarray:
    """Mean of log windows over each meta-test interval: [R, L] -> [R, E-1]."""
    per = facts.eval_every // facts.log_every
    R, L = values.shape
    return values[:, : L - L % per].reshape(R, -1, per).astype(np.float64).mean(-1)


def decide_stops(h: History, facts: RunFacts, rules: StopRules, th: Thresholds) -> np.ndarray:
    """Stop reason code per run (`REASON`; 0: go on) after the latest meta-test of `h`."""
    R, E = h.eval_acc.shape[:2]
    step = (E - 1) * facts.eval_every
    reasons = np.zeros(R, dtype=np.int8)
    if E < 2:
        return reasons
    loss = interval_means(h.train_loss, facts)  # [R, E-1]
    reasons[~np.isfinite(loss[:, -1])] = REASON["diverged"]
    reasons[(reasons == 0) & (step >= facts.max_steps)] = REASON["budget"]
    phase = phases_over_time(h, facts, th)
    p = rules.patience
    if E - 1 >= p and step >= rules.min_steps:
        recent = phase[:, -p:]
        same = (recent == recent[:, -1:]).all(axis=1) & np.isin(recent[:, -1], SETTLED_PHASES)
        streams = list(facts.streams)
        last = h.eval_acc[:, -p:, [streams.index("seen"), streams.index("unseen")], -th.n_last:].mean(-1)
        head = 1.0 - 1.0 / facts.num_classes
        steady = (np.ptp(last, axis=1) <= rules.acc_tol * head).all(axis=1)
        ln_k = np.log(facts.num_classes)
        fell = loss[:, -p - 1] - loss[:, -1] if E - 1 >= p + 1 else np.full(R, np.inf)
        converged = (fell <= rules.loss_tol * ln_k) | (recent[:, -1] == "generalizing")
        reasons[(reasons == 0) & same & steady & converged] = REASON["settled"]
    if rules.stall_steps > 0:
        n = rules.stall_steps // facts.eval_every
        if n >= 1 and E - 1 >= n + 1:
            flat_loss = np.abs(loss[:, -n - 1] - loss[:, -1]) <= rules.loss_tol * np.log(facts.num_classes)
            grad = interval_means(h.grad_norm, facts)
            flat_grad = np.abs(grad[:, -n - 1] - grad[:, -1]) <= rules.grad_tol * grad[:, -n - 1]
            plateau = (phase[:, -n:] == "unresolved").all(axis=1)
            stalled = (step >= facts.steps) & plateau & flat_loss & flat_grad
            reasons[(reasons == 0) & stalled] = REASON["stalled"]
    return reasons
