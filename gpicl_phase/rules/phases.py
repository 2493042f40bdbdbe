"""The phase rules on plain arrays: what analysis labels a finished run and what the sweep's stop rules read.

numpy only, so the engine (stop rules during training) and the analysis layer (labels afterwards) apply the
very same rules. Definitions and their mapping to the paper's words: docs/analysis.md.
"""

from __future__ import annotations

import numpy as np

from gpicl_phase.rules.thresholds import Thresholds

LEARNED = ("memorizing", "identifying", "generalizing", "failed")
# Learned phases first, then labels that say why a run has no phase; never a guess.
PHASES = (*LEARNED, "unresolved", "unclassified", "diverged", "unfinished", "unsampled", "error")
PHASE_DTYPE = "<U12"


def on_plateau(final_loss, k, th: Thresholds) -> np.ndarray:
    """True where the training loss is still within the plateau band below ln K."""
    return np.asarray(final_loss) >= np.log(np.asarray(k, dtype=np.float64)) * (1.0 - th.plateau_band)


def decide(seen_first, seen_imp, unseen_imp, datasets_imp, final_loss, *, k, budget_used, th: Thresholds) -> np.ndarray:
    """Phase labels from metrics (any matching shapes): plateau > generalizing > identifying > memorizing.

    `k`: classes per run (scalar or array), thresholds scale with chance 1/K. `datasets_imp`: improvement per
    unseen-dataset stream on a trailing axis, or None. `budget_used`: whether the run trained its maximum
    budget; a run still on the plateau is "failed" only then, and "unresolved" when it was cut short.
    A NaN anywhere a rule needs a number makes that rule false, so such runs end "unclassified".
    """
    imp = th.improvement_level(k)
    plateau = on_plateau(final_loss, k, th)
    if datasets_imp is None or th.unseen_datasets == "ignore":
        datasets_ok = True
    else:
        reduce = np.all if th.unseen_datasets == "all" else np.any
        datasets_ok = reduce(np.asarray(datasets_imp) >= np.asarray(imp)[..., None], axis=-1)
    unseen_flat = unseen_imp < imp
    generalizing = (unseen_imp >= imp) & datasets_ok
    identifying = (seen_imp >= imp) & unseen_flat
    memorizing = (seen_first >= th.memorization_level(k)) & (seen_imp < imp) & unseen_flat
    budget_used = np.asarray(budget_used, dtype=bool)
    return np.select(
        [plateau & budget_used, plateau, generalizing, identifying, memorizing],
        ["failed", "unresolved", "generalizing", "identifying", "memorizing"],
        default="unclassified",
    ).astype(PHASE_DTYPE)
