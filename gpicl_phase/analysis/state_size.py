"""Which explains meta-test accuracy better, state size or parameter count (the paper's state-size claim)?"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from gpicl_phase.analysis.metrics import run_metrics
from gpicl_phase.rules import Thresholds

PREDICTORS = ("state_size", "param_count")


def state_size_trend(
    ds: xr.Dataset, th: Thresholds = Thresholds(), *, stream: str = "unseen", metric: str = "acc_last"
) -> pd.DataFrame:
    """One row per predictor (state_size, param_count): Spearman rho and p, and R^2/slope of metric ~ ln(predictor).

    Over usable runs with a positive predictor. Rank correlation needs no functional form; R^2 says how much
    of the variance a straight line in log(predictor) explains. NaN where a predictor or the metric is constant
    or fewer than three runs remain.
    """
    m = run_metrics(ds, th)
    y_all = m[metric].sel(stream=stream)
    if "at_position" in y_all.dims:
        raise ValueError(f"{metric} has positions; pick a scalar metric such as acc_last, improvement or auc")
    ok = m["usable"].values & np.isfinite(y_all.values)
    rows = []
    for name in PREDICTORS:
        pred = m[name].values.astype(np.float64)
        keep = ok & (pred > 0)
        xs, ys = np.log(pred[keep]), y_all.values[keep].astype(np.float64)
        row = {"predictor": name, "n": int(keep.sum())}
        row |= dict.fromkeys(("spearman_rho", "spearman_p", "r2", "slope"), np.nan)
        # scipy warns (an error here) on constant input; a constant predictor explains nothing, so say NaN.
        if xs.size >= 3 and np.ptp(xs) > 0 and np.ptp(ys) > 0:
            rho = stats.spearmanr(xs, ys)
            fit = stats.linregress(xs, ys)
            row |= {"spearman_rho": rho.statistic, "spearman_p": rho.pvalue, "r2": fit.rvalue**2, "slope": fit.slope}
        rows.append(row)
    out = pd.DataFrame(rows).set_index("predictor")
    out.attrs = {"stream": stream, "metric": metric, "slope_unit": "accuracy per e-fold of the predictor"}
    return out
