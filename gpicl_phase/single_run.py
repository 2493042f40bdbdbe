"""One run for `gpicl-phase train`: its metrics as a Dataset and a printable summary (the command prints)."""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from gpicl_phase.config import RunConfig
from gpicl_phase.rules import STOP_REASONS


def metrics_dataset(cfg: RunConfig, metrics, *, wall_time: float, param_count: int, state_size: int) -> xr.Dataset:
    """One run's metrics as a self-describing Dataset (the store's variables without the axis dims)."""
    m = [np.asarray(x) for x in metrics]
    coords = {"log_step": list(cfg.log_steps), "eval_step": list(cfg.eval_steps),
              "stream": list(cfg.streams), "position": np.arange(cfg.seq_len)}
    return xr.Dataset(
        {"train_loss": ("log_step", m[0]), "grad_norm": ("log_step", m[1]),
         "eval_acc": (("eval_step", "stream", "position"), m[2]),
         "eval_loss": (("eval_step", "stream", "position"), m[3]),
         "diverged_step": ((), np.int32(m[4])), "wall_time": ((), float(wall_time)),
         "param_count": ((), np.int32(param_count)), "state_size": ((), np.int32(state_size))},
        coords=coords, attrs={"config": cfg.to_json()})


def summary(ds: xr.Dataset) -> str:
    """Final meta-test accuracy per stream at the 1st, 10th, 50th and last position (as far as T allows)."""
    t = ds.sizes["position"]
    cols = sorted({p for p in (1, 10, 50, t) if p <= t})
    final = ds.eval_acc.isel(eval_step=-1)
    lines = [f"meta-test accuracy after {int(ds.eval_step[-1])} steps (position k = k-th prediction, "
             f"k-1 labelled examples seen):",
             f"  {'stream':22s}" + "".join(f"{'pos ' + str(p):>9s}" for p in cols)]
    for s in ds.stream.values:
        accs = final.sel(stream=s).values
        lines.append(f"  {s:22s}" + "".join(f"{accs[p - 1]:9.3f}" for p in cols))
    loss = ds.train_loss.values
    lines.append(f"training loss {loss[0]:.3f} -> {loss[-1]:.3f}; params {int(ds.param_count)}, "
                 f"state size {int(ds.state_size)}; {float(ds.wall_time):.1f} s")
    if int(ds.diverged_step) >= 0:
        lines.append(f"DIVERGED at step {int(ds.diverged_step)}: updates stopped there")
    return "\n".join(lines)


def _stopper(cfg: RunConfig):
    """Default stop rules for a run with a maximum budget beyond its steps (None otherwise)."""
    if cfg.max_steps <= cfg.steps:
        return None
    import functools

    from gpicl_phase import driver
    from gpicl_phase.rules import RunFacts, StopRules, Thresholds, decide_stops

    rules, th = StopRules(), Thresholds()
    facts = RunFacts(cfg.streams, cfg.num_classes, cfg.eval_every, cfg.log_every, cfg.steps, cfg.budget)
    return driver.Stopper(functools.partial(decide_stops, facts=facts, rules=rules, th=th),
                          rules.to_json() + th.to_json())


def train_one(cfg: RunConfig, data, *, on_chunk=None) -> tuple[xr.Dataset, object]:
    """Trains ``cfg`` on ``data`` (``train.task_data(cfg)``; its default stop rules when adaptive);
    ``(metrics Dataset, driver.Driven)``. ``on_chunk(c, runs)`` after each meta-test interval (progress)."""
    from gpicl_phase import driver, models
    from gpicl_phase.train import hyper, run_key

    start = time.perf_counter()
    driven = driver.drive(cfg.static_part(), data, hyper(cfg), key=run_key(cfg.seed), packed=False,
                          on_chunk=on_chunk, stopper=_stopper(cfg))
    ds = metrics_dataset(cfg, driven.metrics, wall_time=time.perf_counter() - start,
                         param_count=models.count_params(cfg), state_size=models.state_size(cfg))
    return ds, driven


def stop_text(cfg: RunConfig, driven) -> str:
    """How an adaptive run ended ('' for a run of fixed length)."""
    if _stopper(cfg) is None:
        return ""
    return (f"adaptive run: trained {int(driven.steps_trained)} of at most {cfg.budget} steps; stopped: "
            f"{STOP_REASONS[int(driven.stop_reason)]} (default stop rules, docs/analysis.md)")
