"""The host loop that trains runs and packs of runs (``drive``), their checkpoints, and their task source."""

from gpicl_phase.driver.bank import BANK_SHARE, TASK_SOURCES, bank_size, with_bank
from gpicl_phase.driver.loop import Checkpoints, Driven, Stopper, check, drive, programs, resolve

__all__ = ["BANK_SHARE", "TASK_SOURCES", "Checkpoints", "Driven", "Stopper", "bank_size", "check", "drive",
           "programs", "resolve", "with_bank"]
