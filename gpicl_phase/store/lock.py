"""One writer per store: an exclusive lock on a file beside the store, held for a whole sweep or refinement.

``fcntl.flock`` is released by the operating system when the holder exits, however it exits (kill -9 too), so
a lock is never stale; the file records who holds it (pid, host, command, start time) for the refusal a second
writer gets. The file sits beside the store (``.<name>.lock``) so that two writers racing to create the same
store are serialized too. Dask workers write cells under the lock of the process that drives the sweep.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

from gpicl_phase.store.schema import StoreError


class StoreLocked(StoreError):
    """Another process is writing this store."""


def lock_path(path: str | os.PathLike) -> Path:
    """Where the lock of the store at ``path`` lives."""
    p = Path(path).resolve()
    return p.with_name(f".{p.name}.lock")


@contextmanager
def writer_lock(path: str | os.PathLike):
    """Hold the store's writer lock for the ``with`` block; StoreLocked naming the holder when taken."""
    target = lock_path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # a new store's folder, e.g. runs/
    except OSError as err:
        raise StoreError(f"cannot lock {path}: its folder {target.parent} cannot be made: "
                         f"{err.strerror or err}") from None
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLocked(f"{path} is being written by another process ({_holder(fd)}); wait for it to end "
                              "or stop it: two writers would run the same cells twice") from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:200],
              "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield me
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        who = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {who['pid']} on {who['host']} since {who['since']}: {who['command']}"
    except (ValueError, KeyError, OSError):
        return "holder unknown"
