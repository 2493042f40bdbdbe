"""Gradient norms on the loss plateau and after it, per run of the committed plateau stores (REPRODUCTION.md, T10).

    python scripts/plateau_grad_norms.py [STORE ...]     # default: the four plateau stores in docs/results/

On the plateau: log windows after step 200 and before the run leaves it (`analysis.plateaus`); after: from 500
steps past the leave step. Medians, with the 5th..95th percentiles of the plateau windows.
"""

from __future__ import annotations

import sys

import numpy as np

from gpicl_phase import store
from gpicl_phase.analysis import plateaus

DEFAULT = [f"docs/results/{n}.zarr" for n in ("cpu_generalize", "plateau_batch", "plateau_eps", "bias")]


def main(paths: list[str]) -> None:
    for path in paths:
        ds = store.load_results(path)
        p = plateaus(ds)
        g = ds["grad_norm"]
        steps = ds[g.dims[-1]].values
        dims = list(ds["status"].dims)
        for idx in np.ndindex(*ds["status"].shape):
            sel = dict(zip(dims, idx))
            leave, censored = p["leave_step"].isel(sel).item(), bool(p["censored"].isel(sel).item())
            norms = g.isel(sel).values
            end = leave if np.isfinite(leave) else np.inf
            on = norms[(steps > 200) & (steps < end)]
            on = on[np.isfinite(on)]
            if on.size == 0:
                continue
            run = " ".join(f"{d}={ds[d].values[i].item()}" for d, i in sel.items())
            text = (f"{path} {run}: leaves at {'never (censored)' if censored else int(leave)}; plateau "
                    f"{np.median(on):.3f} ({np.percentile(on, 5):.3f}..{np.percentile(on, 95):.3f})")
            after = norms[steps > leave + 500] if np.isfinite(leave) and not censored else np.array([])
            after = after[np.isfinite(after)]
            if after.size:
                text += f"; after {np.median(after):.3f}; after / plateau {np.median(after) / np.median(on):.2f}x"
            print(text)


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
