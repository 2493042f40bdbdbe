"""A seeded synthetic results factory with planted truth, for tests, benchmarks and the app's fixtures.

Planted model (all vectorized; L = log2(num_tasks), k = transition_log2(d_model) jittered per run series,
m = k - memorization_gap, g = sigmoid((L - k) / width), r = sigmoid((L - m) / width), s(p) = 1 - exp(-p / tau)):

- seen tasks:      first = chance + (0.95 - chance)(1 - r); acc(p) = first + (0.9 - first) r s(p)
  (memorization below m: high from position 0, flat; identification above m: rises with position)
- unseen tasks:    acc(p) = chance + (0.75 - chance) g s(p)        (learning to learn above k only)
- unseen datasets: acc(p) = chance + (0.62 - chance) g s(p);  base: chance + (0.8 - chance) g s(p)
- training loss sits at ln K for `plateau_steps * (batch_size / reference_batch) ** plateau_exponent` steps
  (jittered per run), then drops within a few steps to 0.3 ln K; accuracy grows from chance to the curves
  above over the following quarter of training. Failed runs never leave ln K and stay at chance.

So half of the in-context improvement on unseen tasks is reached exactly at L = k, and far from k and m
the phase is unambiguous; `Planted.phase` says "ambiguous" within `margin` of either boundary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from gpicl_phase import __version__, store

CREATED = "1970-01-01T00:00:00+00:00"  # fixed, so the same arguments give an identical Dataset


def default_transition_log2(d_model: np.ndarray) -> np.ndarray:
    """Planted transition: bigger models generalize from fewer tasks (16 -> 2^14, 32 -> 2^13, 64 -> 2^12)."""
    return 18.0 - np.log2(np.asarray(d_model, dtype=np.float64))


@dataclass(frozen=True)
class Planted:
    """The truth behind a synthetic store; every array is over the axis dims."""

    phase: xr.DataArray  # expected phase label, or "ambiguous" near a boundary or when training ends early
    transition_log2: xr.DataArray  # planted k of the run's series (constant along num_tasks)
    plateau_steps: xr.DataArray  # planted plateau length; inf for failed runs


def synthetic_store(
    path: str | Path | None = None,
    *,
    seed: int = 0,
    d_models: Sequence[int] = (16, 32, 64),
    num_tasks: Sequence[int] = tuple(2 ** np.arange(0, 17, 2)),
    seeds: Sequence[int] = (0, 1),
    batch_sizes: Sequence[int] | None = None,
    transition_log2: Callable[[np.ndarray], np.ndarray] | Mapping[int, float] = default_transition_log2,
    memorization_gap: float = 6.0,
    width: float = 0.5,
    transition_jitter: float = 0.2,
    plateau_steps: float = 1000.0,
    plateau_exponent: float = -0.7,
    reference_batch: int = 128,
    plateau_jitter: float = 0.05,
    nan_runs: float = 0.0,
    missing: float = 0.0,
    failed: float = 0.0,
    steps: int = 4000,
    log_every: int = 20,
    eval_every: int = 1000,
    seq_len: int = 100,
    eval_datasets: Sequence[str] = ("fashion_mnist",),
    noise: float = 0.01,
    num_classes: int = 10,
    margin: float = 1.5,
    return_truth: bool = False,
) -> xr.Dataset | tuple[xr.Dataset, Planted]:
    """A results Dataset shaped like `store.open_results` output; written to `path` too when given.

    `nan_runs`, `missing`, `failed`: fractions of runs that diverge, stay pending, or never leave the plateau.
    With `return_truth`, also returns the `Planted` truth.
    """
    rng = np.random.default_rng(seed)
    axes = {"d_model": np.asarray(d_models, np.int64), "num_tasks": np.asarray(num_tasks, np.int64)}
    if batch_sizes is not None:
        axes["batch_size"] = np.asarray(batch_sizes, np.int64)
    axes["seed"] = np.asarray(seeds, np.int64)
    dims = list(axes)
    shape = tuple(v.size for v in axes.values())

    def along(name: str, values) -> np.ndarray:
        """Values of one axis shaped to broadcast against the axis dims."""
        return np.reshape(values, [-1 if d == name else 1 for d in dims])

    streams = ["seen", "unseen", *(f"unseen:{name}" for name in eval_datasets), "base"]
    log_steps = np.arange(log_every, steps + 1, log_every)
    eval_steps = np.arange(0, steps + 1, eval_every)
    chance, ln_k = 1.0 / num_classes, float(np.log(num_classes))

    # Which runs are pending, diverged or failed: disjoint slices of one uniform draw.
    u = rng.random(shape)
    is_missing = u < missing
    is_nan = (u >= missing) & (u < missing + nan_runs)
    is_failed = (u >= missing + nan_runs) & (u < missing + nan_runs + failed)

    # Phase boundaries, jittered per series (every axis but num_tasks) so each series has one planted k.
    if isinstance(transition_log2, Mapping):
        k_d = np.array([transition_log2[int(d)] for d in axes["d_model"]], dtype=np.float64)
    else:
        k_d = np.asarray(transition_log2(axes["d_model"]), dtype=np.float64)
    series_shape = tuple(1 if d == "num_tasks" else n for d, n in zip(dims, shape))
    k = along("d_model", k_d) + transition_jitter * rng.standard_normal(series_shape)
    k = np.broadcast_to(k, shape)
    m = k - memorization_gap
    log2_n = np.broadcast_to(along("num_tasks", np.log2(axes["num_tasks"])), shape)
    g = _sigmoid((log2_n - k) / width)
    r = _sigmoid((log2_n - m) / width)

    # Final per-position accuracy, [*axes, stream, position].
    s_P = (1.0 - np.exp(-np.arange(seq_len) / (seq_len / 7.0))).astype(np.float32)
    first_seen = chance + (0.95 - chance) * (1.0 - r)
    curves = [first_seen[..., None] + ((0.9 - first_seen) * r)[..., None] * s_P]
    tops = [0.75, *([0.62] * len(eval_datasets)), 0.8]
    curves += [chance + (top - chance) * g[..., None] * s_P for top in tops]
    final = np.stack(curves, axis=-2).astype(np.float32)
    final[is_failed] = chance

    # Plateau and training progress.
    batch = along("batch_size", axes["batch_size"]) if batch_sizes is not None else reference_batch
    plateau = plateau_steps * (batch / reference_batch) ** plateau_exponent
    plateau = plateau * np.exp(plateau_jitter * rng.standard_normal(shape))
    plateau = np.where(is_failed, np.inf, plateau)
    ramp = 0.25 * steps  # accuracy reaches its final curve a quarter of training after leaving the plateau
    progress = np.clip((eval_steps - plateau[..., None]) / ramp, 0.0, 1.0).astype(np.float32)  # [*axes, eval]

    eval_acc = chance + (final - chance)[..., None, :, :] * progress[..., :, None, None]
    eval_acc += noise * rng.standard_normal(eval_acc.shape, dtype=np.float32)
    np.clip(eval_acc, 0.0, 1.0, out=eval_acc)

    after = log_steps - plateau[..., None]  # [*axes, log]
    drop = np.exp(-np.maximum(after, 0.0) / 20.0)
    on_plateau = ln_k * (1.0 + 0.05 * np.exp(-log_steps / (0.02 * steps)))
    train_loss = np.where(after < 0, on_plateau, 0.3 * ln_k + 0.7 * ln_k * drop)
    train_loss = (train_loss + 0.005 * ln_k * rng.standard_normal(train_loss.shape)).astype(np.float32)
    grad_norm = np.where(after < 0, 0.02, 0.3 + 0.7 * np.exp(-np.maximum(after, 0.0) / 500.0))
    grad_norm = (grad_norm * np.exp(0.1 * rng.standard_normal(grad_norm.shape))).astype(np.float32)

    # Divergence: everything from the diverging step on is NaN.
    diverged_at = np.where(is_nan, rng.integers(steps // 4, 9 * steps // 10, size=shape), -1)
    gone_log = is_nan[..., None] & (log_steps >= diverged_at[..., None])
    train_loss[gone_log] = np.nan
    grad_norm[gone_log] = np.nan
    eval_acc[is_nan[..., None] & (eval_steps >= diverged_at[..., None])] = np.nan
    eval_acc[is_missing] = np.nan
    train_loss[is_missing] = np.nan
    grad_norm[is_missing] = np.nan
    eval_loss = -np.log(np.clip(eval_acc, 1e-3, 1.0))  # cross-entropy of a calibrated predictor; ln K at chance

    d = along("d_model", axes["d_model"]).astype(np.int64)
    param_count = np.broadcast_to(48 * d**2 + (218 + seq_len) * d + 10, shape)
    state_size = np.broadcast_to(8 * d * seq_len, shape)  # 2 x heads x key_size x 4 layers x T, key_size = d/heads
    wall_time = np.broadcast_to(0.05 * steps * d / 64.0 * np.asarray(batch) / reference_batch, shape)
    status = np.select([is_missing, is_nan], [store.STATUS["pending"], store.STATUS["diverged"]], store.STATUS["done"])
    message = np.where(is_nan, np.char.add("training loss became non-finite at step ", diverged_at.astype(str)), "")

    by_axes = list(dims)
    data = {
        "train_loss": (by_axes + ["log_step"], train_loss),
        "grad_norm": (by_axes + ["log_step"], grad_norm),
        "eval_acc": (by_axes + ["eval_step", "stream", "position"], eval_acc.astype(np.float32)),
        "eval_loss": (by_axes + ["eval_step", "stream", "position"], eval_loss.astype(np.float32)),
        "param_count": (by_axes, np.where(is_missing, -1, param_count)),
        "state_size": (by_axes, np.where(is_missing, -1, state_size)),
        "wall_time": (by_axes, np.where(is_missing, np.nan, wall_time)),
        "steps_trained": (by_axes, np.where(is_missing, -1, steps).astype(np.int64)),
        "max_steps": (by_axes, np.full(shape, steps, dtype=np.int64)),
        "stop_reason": (by_axes, np.where(is_missing, 0, 1).astype(np.int8)),
        "round": (by_axes, np.zeros(shape, dtype=np.int16)),
        "diverged_step": (by_axes, diverged_at.astype(np.int64)),
        "message": (by_axes, message.astype(str)),
        "status": (by_axes, status.astype(np.int8)),
    }
    coords = {**axes, "log_step": log_steps, "eval_step": eval_steps, "stream": np.array(streams),
              "position": np.arange(seq_len)}  # fmt: skip
    spec = {
        "synthetic": True,
        "seed": seed,
        "transition_log2": dict(zip(map(str, axes["d_model"].tolist()), k_d.tolist())),
        "memorization_gap": memorization_gap,
        "plateau_steps": plateau_steps,
        "plateau_exponent": plateau_exponent,
        "reference_batch": reference_batch,
        "nan_runs": nan_runs,
        "missing": missing,
        "failed": failed,
    }
    base_config = {
        "model": "transformer", "num_layers": 4, "dataset": "mnist10k", "eval_datasets": list(eval_datasets),
        "seq_len": seq_len, "batch_size": reference_batch, "steps": steps, "eval_every": eval_every,
        "log_every": log_every,
    }  # fmt: skip
    attrs = {
        "spec": json.dumps(spec),
        "base_config": json.dumps(base_config),
        "package_version": __version__,
        "jax_version": "",
        "device": "synthetic",
        "num_classes": num_classes,
        "created": CREATED,
        "schema_version": store.SCHEMA_VERSION,
    }
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    for name, (_, _, _, meaning) in store.VARIABLES.items():
        ds[name].attrs["long_name"] = meaning
    reasons = {name or "none": code for code, name in enumerate(store.STOP_REASONS)}
    ds["status"].attrs |= {"flag_values": list(store.STATUS.values()), "flag_meanings": " ".join(store.STATUS)}
    ds["stop_reason"].attrs |= {"flag_values": list(reasons.values()), "flag_meanings": " ".join(reasons)}

    if path is not None:
        store.create(
            path, axes={n: v.tolist() for n, v in axes.items()}, log_steps=log_steps.tolist(),
            eval_steps=eval_steps.tolist(), streams=streams, seq_len=seq_len, attrs=attrs,
        )  # fmt: skip
        store.write_all(path, ds)
    if not return_truth:
        return ds

    # Expected phases; "ambiguous" near a boundary or where training ended before the curves were reached.
    phase = np.full(shape, "ambiguous", dtype="<U12")
    phase[log2_n < m - margin] = "memorizing"
    phase[(log2_n > m + margin) & (log2_n < k - margin)] = "identifying"
    phase[log2_n > k + margin] = "generalizing"
    phase[plateau + ramp > steps] = "ambiguous"
    phase[is_failed | (plateau >= steps)] = "failed"
    phase[is_nan] = "diverged"
    phase[is_missing] = "unfinished"
    truth = Planted(
        phase=xr.DataArray(phase, coords=axes, dims=dims, name="phase"),
        transition_log2=xr.DataArray(k.copy(), coords=axes, dims=dims, name="transition_log2"),
        plateau_steps=xr.DataArray(plateau, coords=axes, dims=dims, name="plateau_steps"),
    )
    return ds, truth


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))
