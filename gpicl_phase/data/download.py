"""Download the remote datasets into the cache directory, verified against their published md5 sums.

A download is written to ``<file>.part``, checked (byte count against Content-Length, then md5), and only then
renamed over ``<file>`` with `os.replace`, which is atomic on one filesystem: a crash, a Ctrl-C, a truncated
transfer or a bad checksum never leaves a file that `load` would mistake for the real one.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from gpicl_phase.data.sources import (EMBEDDED_NAMES, REMOTE, REMOTE_NAMES, DataError, RemoteFile, dataset_dir,
                                      unknown_name_error)

# Connect and per-read timeout: short enough that a machine without network fails within seconds, long enough
# for a slow server to start streaming a 180 MB file.
DEFAULT_TIMEOUT = 20.0
_BLOCK = 1 << 20


def md5sum(path: str | os.PathLike) -> str:
    """Hex md5 of a file, read in blocks (the datasets reach 180 MB)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _hint(url: str, dest: Path, md5: str) -> str:
    return (f"If this machine has no network access, download {url} elsewhere and copy it to {dest} "
            f"(md5 {md5}).")


def download(url: str, dest: str | os.PathLike, md5: str, *, timeout: float = DEFAULT_TIMEOUT,
             progress: bool = True, opener: urllib.request.OpenerDirector | None = None) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part``; raise `DataError` (leaving neither file) unless it verifies."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    # A fresh opener reads the proxy environment now, not whenever urllib's global opener was first built.
    opener = opener or urllib.request.build_opener()
    request = urllib.request.Request(url, headers={"User-Agent": "gpicl-phase"})
    try:
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected_bytes = int(length) if length and length.isdigit() else None
            digest = hashlib.md5(usedforsecurity=False)
            received = 0
            with open(part, "wb") as out, tqdm(total=expected_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                                               desc=dest.name, disable=not progress, file=sys.stderr) as bar:
                # http.client returns b"" when the server hangs up early instead of raising, hence the count.
                while block := response.read(_BLOCK):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
                out.flush()
                os.fsync(out.fileno())
        if expected_bytes is not None and received != expected_bytes:
            raise DataError(f"download of {url} was cut off: {received} of {expected_bytes} bytes arrived; "
                            f"nothing was saved, run the fetch again. {_hint(url, dest, md5)}")
        if digest.hexdigest() != md5:
            raise DataError(f"checksum mismatch for {url}: md5 {digest.hexdigest()}, expected {md5}; the file was "
                            f"discarded. If the server changed the file, report it. {_hint(url, dest, md5)}")
        os.replace(part, dest)
    except urllib.error.HTTPError as err:
        raise DataError(f"could not download {url}: the server answered HTTP {err.code} {err.reason}. "
                        f"{_hint(url, dest, md5)}") from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise DataError(f"could not download {url}: {reason}. {_hint(url, dest, md5)}") from err
    finally:
        # After a successful os.replace the part file is gone; on any failure it must not linger.
        part.unlink(missing_ok=True)
    return dest


def _files_for(name: str, specs: Mapping[str, Sequence[RemoteFile | tuple[str, str]]] | None) -> list[RemoteFile]:
    if specs is not None and name in specs:
        return [f if isinstance(f, RemoteFile) else RemoteFile(*f) for f in specs[name]]
    return list(REMOTE[name].files)


def fetch(names: str | Iterable[str], *, cache_dir: str | os.PathLike | None = None,
          base_urls: Mapping[str, str] | None = None,
          specs: Mapping[str, Sequence[RemoteFile | tuple[str, str]]] | None = None,
          progress: bool = True, timeout: float = DEFAULT_TIMEOUT) -> dict[str, list[Path]]:
    """Download datasets into ``<cache_dir>/<name>/``; returns each name's verified files (none for embedded ones).

    Files already present with the right md5 are kept. ``base_urls`` (name -> URL of the folder holding the files)
    and ``specs`` (name -> [(filename, md5), ...]) replace the published ones, for mirrors and tests.
    """
    names = [names] if isinstance(names, str) else list(names)
    # Check every name before downloading anything, so a typo in the last one does not cost a long wait first.
    for name in names:
        if name not in REMOTE and name not in EMBEDDED_NAMES:
            raise unknown_name_error(name, EMBEDDED_NAMES + REMOTE_NAMES)
    opener = urllib.request.build_opener()
    fetched: dict[str, list[Path]] = {}
    for name in names:
        if name in EMBEDDED_NAMES:
            fetched[name] = []  # shipped with the package or generated: nothing to download
            continue
        base = (base_urls or {}).get(name, REMOTE[name].base_url)
        base = base if base.endswith("/") else base + "/"
        folder = dataset_dir(name, cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for spec in _files_for(name, specs):
            dest = folder / spec.filename
            if dest.is_file():
                if md5sum(dest) == spec.md5:
                    paths.append(dest)
                    continue
                # A file that fails its published checksum is damaged; `load` must not read it if the retry fails.
                print(f"{dest}: md5 mismatch, deleting it and downloading again", file=sys.stderr)
                dest.unlink()
            paths.append(download(base + spec.filename, dest, spec.md5, timeout=timeout, progress=progress,
                                  opener=opener))
        fetched[name] = paths
    return fetched
