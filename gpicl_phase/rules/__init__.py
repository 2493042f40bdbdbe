"""The rules that turn metrics into decisions, numpy only: phase labels, thresholds, and when adaptive runs stop.

Shared by the engine (stop rules during training, refinement) and the analysis layer (labels afterwards), so
both decide alike; neither JAX nor xarray is imported here.
"""

from gpicl_phase.rules.phases import LEARNED, PHASE_DTYPE, PHASES, decide, on_plateau
from gpicl_phase.rules.stopping import REASON, STOP_REASONS, History, RunFacts, StopRules, decide_stops
from gpicl_phase.rules.thresholds import Thresholds

__all__ = ["LEARNED", "PHASES", "PHASE_DTYPE", "REASON", "STOP_REASONS", "History", "RunFacts", "StopRules",
           "Thresholds", "decide", "decide_stops", "on_plateau"]
