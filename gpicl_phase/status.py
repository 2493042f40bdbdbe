"""``gpicl-phase status``: what a store holds, cell by cell, without JAX."""

from __future__ import annotations

import numpy as np

from gpicl_phase import store

NAMES = {v: k for k, v in store.STATUS.items()}


def status_text(path: str) -> str:
    """A completion summary: counts per status, a table over the last two axes, failed/diverged messages."""
    ds = store.load_results(path, ["status", "message"])  # verified; StoreError names the problem
    status = ds.status.values
    dims = list(ds.status.dims)
    counts = {name: int((status == code).sum()) for code, name in NAMES.items()}
    lines = [f"{path}: sweep {ds.attrs.get('sweep_name', '?')!r}, {status.size} runs over "
             + " x ".join(f"{d}({ds.sizes[d]})" for d in dims),
             "  " + ", ".join(f"{n} {name}" for name, n in counts.items() if n)]
    if len(dims) >= 2:
        rows, cols = dims[-2], dims[-1]
        finished = np.isin(status, [store.STATUS["done"], store.STATUS["diverged"]])
        table = finished.reshape(-1, ds.sizes[rows], ds.sizes[cols]).sum(0)
        total = status.size // (ds.sizes[rows] * ds.sizes[cols])
        lines.append(f"  finished runs per {rows} (rows) x {cols} (columns), out of {total}:")
        lines.append("  " + " " * 12 + "".join(f"{str(v)[:8]:>9s}" for v in ds[cols].values))
        for r, v in enumerate(ds[rows].values):
            lines.append(f"  {str(v)[:12]:>12s}" + "".join(f"{n:9d}" for n in table[r]))
    bad = np.argwhere(np.isin(status, [store.STATUS["failed"], store.STATUS["diverged"], store.STATUS["damaged"]]))
    if len(bad):
        messages = ds.message.values
        lines.append("  failed, diverged or damaged runs:")
        for idx in bad[:50]:
            where = ", ".join(f"{d}={ds[d].values[i]}" for d, i in zip(dims, idx))
            lines.append(f"    [{NAMES.get(int(status[tuple(idx)]), '?')}] {where}: {messages[tuple(idx)]}")
        if len(bad) > 50:
            lines.append(f"    ... and {len(bad) - 50} more")
    return "\n".join(lines)


def verify_text(path: str) -> tuple[str, int]:
    """``status --verify``: every run's files checked (checksums, missing files, status bytes); the text and how
    many runs are damaged."""
    damaged = store.verify(path)
    if not damaged:
        return f"{path}: every run's files verified; none damaged", 0
    lines = [f"{path}: {len(damaged)} damaged run(s); analysis excludes them and `gpicl-phase sweep` on this "
             "store runs them again:"]
    lines += [f"  {text}" for _, text in damaged]
    return "\n".join(lines), len(damaged)
