"""Boundary refinement: add cells where neighbouring cells' phases differ, until boundaries are located."""

from gpicl_phase.refine.loop import RefineSummary, check_refinable, refine, store_spec
from gpicl_phase.refine.plan import Bracket, brackets, located, midpoint, next_round

__all__ = ["Bracket", "RefineSummary", "brackets", "check_refinable", "located", "midpoint", "next_round", "refine",
           "store_spec"]
