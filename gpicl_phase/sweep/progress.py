"""The sweep's progress bar: run-steps trained (so its rate is run-steps per second), cells done of all.

Adaptive runs may stop early: the bar's total starts at every run's maximum budget and shrinks as runs stop,
so its ETA is an upper bound that tightens.
"""

from __future__ import annotations

import sys

import numpy as np

from gpicl_phase.sweep.plan import Chunk


class ProgressBar:
    """A tqdm bar over run-steps that also shows cells done/total."""

    def __init__(self, todo, total_cells: int, skipped: int, enabled: bool, adaptive: bool):
        from tqdm.auto import tqdm

        self.total_cells, self.done_cells = total_cells, skipped
        self.adaptive = adaptive
        steps = sum(self._budget(c) * len(c.indices) for c, _ in todo)
        self.bar = tqdm(total=steps, unit="step", unit_scale=True, disable=not enabled or not todo,
                        dynamic_ncols=True, file=sys.stderr)
        self._chunk: Chunk | None = None
        self._counted = 0
        self._describe()

    def _budget(self, chunk: Chunk) -> int:
        return chunk.static.budget if self.adaptive else chunk.steps

    def _describe(self):
        self.bar.set_description(f"cells {self.done_cells}/{self.total_cells}")

    def start_chunk(self, chunk: Chunk) -> None:
        """A chunk starts training in this process."""
        self._chunk, self._counted = chunk, 0

    def on_chunk(self, c: int, runs: np.ndarray) -> None:
        """Meta-test interval ``c`` finished for ``runs`` (padding runs of the pack are not counted)."""
        n = int(np.sum(np.asarray(runs) < len(self._chunk.indices))) * self._chunk.static.eval_every
        self._counted += n
        self.bar.update(n)

    def chunk_done(self, chunk: Chunk, run_steps: int) -> None:
        """A chunk's cells are written; ``run_steps`` it trained (its runs may have stopped early)."""
        self.bar.update(max(run_steps - self._counted, 0))  # what a listener in another process did not see
        unused = self._budget(chunk) * len(chunk.indices) - max(run_steps, self._counted)
        if unused > 0 and self.bar.total is not None:
            self.bar.total -= unused
            self.bar.refresh()
        self._chunk, self._counted = None, 0
        self.done_cells += len(chunk.indices)
        self._describe()

    def close(self) -> None:
        """Ends the bar."""
        self.bar.close()
