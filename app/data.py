"""The app's stores: names for URLs, cheap change tokens, and analysis results cached per token."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from pathlib import Path

from gpicl_phase.analysis import Thresholds, check_combinable, combine
from gpicl_phase.figures.source import Source, StoreProblem, load_source
from gpicl_phase.store import StoreError, read_status

TOKEN_TTL_S = 1.0  # callbacks in one page load share a token instead of re-reading status each time
CACHE_SIZE = 8  # Sources kept: a few stores, or a store's last versions while a sweep writes it
ALL = "all"  # the pseudo-store of every store combined along `arch`, as `gpicl-phase analyze` does


def store_names(paths: list[str]) -> dict[str, str]:
    """URL-friendly unique names (the directory name, numbered on clashes) -> path."""
    names: dict[str, str] = {}
    for p in paths:
        base = Path(p).name.removesuffix(".zarr") or "store"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names[name] = str(p)
    return names


class Stores:
    """Thread-safe registry of the app's stores; Dash serves callbacks from several threads."""

    def __init__(self, paths: list[str], th: Thresholds | None = None, token_ttl_s: float = TOKEN_TTL_S):
        """`token_ttl_s`: how long a store's change token is reused before its status is read again."""
        if not paths:
            raise ValueError("the app needs at least one store path")
        self.paths = store_names(paths)
        self.th = th or Thresholds()
        self.token_ttl_s = token_ttl_s
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, str]] = {}
        self._status: dict[str, object] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._sources: OrderedDict[tuple[str, str], Source] = OrderedDict()
        self._combines: tuple[tuple[str, ...], str] | None = None  # (tokens, "" or why the stores do not combine)

    @property
    def names(self) -> list[str]:
        """Store names in command-line order, then 'all' when there are several and they combine."""
        return list(self.paths) + ([ALL] if len(self.paths) > 1 and not self.why_not_combined() else [])

    def pick(self, name: str | None) -> str:
        """The named store, or the first when the name is missing or unknown (an old shared URL)."""
        return name if name in self.names else self.names[0]

    def why_not_combined(self) -> str:
        """'' when the stores combine along `arch`, else the reason (coordinates only, cached per store version)."""
        if len(self.paths) < 2:
            return "there is only one store"
        tokens = tuple(self.token(n) for n in self.paths)
        with self._lock:
            if self._combines is not None and self._combines[0] == tokens:
                return self._combines[1]
        bad = [t.removeprefix("error: ") for t in tokens if t.startswith("error: ")]
        why = "; ".join(bad)
        if not why:
            try:
                check_combinable([self.get(n).ds for n in self.paths], labels=list(self.paths))
            except ValueError as err:
                why = str(err)
        with self._lock:
            self._combines = (tokens, why)
        return why

    def token(self, name: str) -> str:
        """A string that changes whenever any run's status changes; 'error: ...' for an unreadable store."""
        if name == ALL:
            tokens = [self.token(n) for n in self.paths]
            bad = [f"{n}: {t.removeprefix('error: ')}"
                   for n, t in zip(self.paths, tokens, strict=True) if t.startswith("error")]
            return "error: " + "; ".join(bad) if bad else "+".join(tokens)
        now = time.monotonic()
        with self._lock:
            hit = self._tokens.get(name)
            if hit and now - hit[0] < self.token_ttl_s:
                return hit[1]
        try:
            # The store writes status last, so a status change covers every data change.
            status = read_status(self.paths[name])
            token = hashlib.blake2b(status.tobytes(), digest_size=8).hexdigest()
        except StoreError as err:
            status, token = None, f"error: {err}"
        with self._lock:
            self._tokens[name] = (now, token)
            self._status[name] = status
        return token

    def get(self, name: str) -> Source:
        """The Source for a store at its current token; raises StoreProblem with a readable message."""
        token = self.token(name)
        if token.startswith("error: "):
            raise StoreProblem(token.removeprefix("error: "))
        key = (name, token)
        with self._lock:
            loading = self._loading.setdefault(name, threading.Lock())
        # One loader per store: the warm-up thread and a page's callbacks must not read a big store twice.
        with loading:
            with self._lock:
                if key in self._sources:
                    self._sources.move_to_end(key)
                    return self._sources[key]
                older = [s for (n, _), s in reversed(self._sources.items()) if n == name]
            source = self._load(name, token, older[0] if older else None)
            with self._lock:
                self._sources[key] = source
                while len(self._sources) > CACHE_SIZE:
                    self._sources.popitem(last=False)
        return source

    def _load(self, name: str, token: str, older: Source | None) -> Source:
        if name == ALL:
            return self._combined(token)
        source = load_source(self.paths[name], name=name, token=token, th=self.th, status=self._status.get(name))
        if older is not None and source.status is not None:
            # A sweep is writing the store: reuse what is loaded, re-reading only the runs that changed.
            source = older.refreshed(source.ds, source.status, token)
        return source

    def warm(self) -> None:
        """Load and analyse every store now (serve() runs this in a thread so the first page is quick)."""
        for name in self.paths:
            try:
                source = self.get(name)
                if source.status_counts["done"]:
                    for cached in ("cells", "agg", "boundaries"):
                        getattr(source, cached)
            except StoreProblem:
                pass  # the page will say what is wrong

    def _combined(self, token: str) -> Source:
        """Every store combined along `arch`; StoreProblem naming the differences when they do not combine."""
        why = self.why_not_combined()
        if why:
            raise StoreProblem(why)
        parts = [self.get(n) for n in self.paths]
        ds = combine([p.ds for p in parts], labels=list(self.paths))
        return Source(ds=ds, name=ALL, token=token, th=self.th)
