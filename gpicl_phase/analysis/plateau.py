"""The loss plateau at ln K: when each run leaves it, and a power law of plateau length against an intervention."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from gpicl_phase.analysis.metrics import axis_coords, axis_dims, classes_per_run, usable
from gpicl_phase.rules import Thresholds


def plateaus(ds: xr.Dataset, th: Thresholds = Thresholds()) -> xr.Dataset:
    """Per run: `leave_step`, `plateau_steps`, `censored`, `usable`.

    A run leaves the plateau at the first log_step from which every later finite training loss stays below
    the band, i.e. below (1 - plateau_band) ln K. `plateau_steps` is that step (steps from the start; a run
    that starts below the band gets its first log_step). Runs that never leave are censored: their
    `plateau_steps` is the last logged step, a lower bound, and `leave_step` is NaN. No data: both NaN.
    """
    dims = axis_dims(ds)
    loss = np.asarray(ds["train_loss"].transpose(*dims, "log_step").values, dtype=np.float64)
    steps = ds["log_step"].values.astype(np.float64)
    k = classes_per_run(ds).transpose(*dims).values.astype(np.float64)
    cut = np.log(k)[..., None] * (1.0 - th.plateau_band)  # per run: K may be swept
    finite = np.isfinite(loss)
    below = finite & (loss < cut)
    # "Stays below": every later logged value is below the band or missing (NaN gaps say nothing).
    stays = np.logical_and.accumulate((below | ~finite)[..., ::-1], axis=-1)[..., ::-1]
    leaves = stays & below
    left = leaves.any(axis=-1)
    has_data = finite.any(axis=-1)
    if steps.size:
        leave = np.where(left, steps[np.argmax(leaves, axis=-1)], np.nan)
        last = steps[steps.size - 1 - np.argmax(finite[..., ::-1], axis=-1)]
    else:
        leave = last = np.full(loss.shape[:-1], np.nan)
    censored = has_data & ~left
    length = np.where(left, leave, np.where(censored, last, np.nan))
    return xr.Dataset(
        {
            "leave_step": (dims, leave),
            "plateau_steps": (dims, length),
            "censored": (dims, censored),
            "usable": usable(ds).variable,
        },
        coords=axis_coords(ds),
        attrs={"plateau_loss_cut": float(np.max(cut)) if cut.size else float("nan"), "thresholds": th.to_json()},
    )


def plateau_power_law(
    ds: xr.Dataset, th: Thresholds = Thresholds(), *, x: str = "batch_size", by: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Fit plateau_steps = prefactor * x ** exponent by least squares in log-log over usable runs; a row per `by` group.

    Censored runs (never left the plateau) are excluded from the fit and counted (`n_censored`, `censored_x`);
    `exponent_with_censored` refits with their lower bounds as if observed. When the censored runs are long
    plateaus (rather than failures), both estimates are flatter than the truth (docs/analysis.md). Runs with x <= 0
    (e.g. bias 0) cannot enter a log-log fit and are counted in `n_nonpositive_x`.
    """
    pl = ds if "plateau_steps" in ds else plateaus(ds, th)
    if x not in pl.dims:
        raise ValueError(f"no {x!r} axis to fit plateau length against; axes: {list(pl['usable'].dims)}")
    missing = [b for b in by if b not in pl.dims]
    if missing:
        raise ValueError(f"cannot group by {missing}: not axes of the store")
    frame = pl[["plateau_steps", "censored", "usable"]].to_dataframe().reset_index()
    frame = frame[frame["usable"] & frame["plateau_steps"].notna()]
    groups = frame.groupby(list(by), sort=True) if by else [((), frame)]
    rows = []
    for key, part in groups:
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        rows.append(row | {"x": x} | _fit(part, x, th.ci_level))
    columns = [*by, "x", *_fit(frame.iloc[:0], x, th.ci_level)]
    return pd.DataFrame(rows, columns=columns)


def _fit(part: pd.DataFrame, x: str, level: float) -> dict:
    """One log-log least-squares fit with its t-based interval, plus what was left out and why."""
    positive = part[part[x] > 0]
    kept = positive[~positive["censored"]]
    censored = positive[positive["censored"]]
    row = {
        "exponent": np.nan,
        "exponent_se": np.nan,
        "exponent_ci_low": np.nan,
        "exponent_ci_high": np.nan,
        "prefactor": np.nan,
        "r2": np.nan,
        "exponent_with_censored": np.nan,
        "n_used": len(kept),
        "n_censored": len(censored),
        "n_nonpositive_x": len(part) - len(positive),
        "censored_x": " ".join(f"{v:g}" for v in sorted(set(censored[x].tolist()))),
        "note": "",
    }
    if len(kept) < 3 or kept[x].nunique() < 2:
        row["note"] = "too few uncensored runs (need 3 over 2 x values)"
        return row
    lx, ly = np.log(kept[x].to_numpy(float)), np.log(kept["plateau_steps"].to_numpy(float))
    fit = stats.linregress(lx, ly)
    t = stats.t.ppf(0.5 + level / 2, len(kept) - 2)
    row |= {
        "exponent": fit.slope,
        "exponent_se": fit.stderr,
        "exponent_ci_low": fit.slope - t * fit.stderr,
        "exponent_ci_high": fit.slope + t * fit.stderr,
        "prefactor": float(np.exp(fit.intercept)),
        "r2": fit.rvalue**2,
    }
    if len(censored):
        both = pd.concat([kept, censored])
        row["exponent_with_censored"] = stats.linregress(
            np.log(both[x].to_numpy(float)), np.log(both["plateau_steps"].to_numpy(float))
        ).slope
        row["note"] = f"{len(censored)} censored run(s) excluded from the fit (see exponent_with_censored)"
    else:
        row["exponent_with_censored"] = fit.slope
    return row
