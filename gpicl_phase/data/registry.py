"""`load(name)`: a named dataset (or an .npz path) as resized, flattened, z-normalized train and test features."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpicl_phase.data import loaders, preprocess
from gpicl_phase.data.sources import (EMBEDDED_MNIST10K, EMBEDDED_UCI_DIGITS, NAMES, REMOTE, DataError, dataset_dir,
                                      missing_files_error, resolve_cache_dir, unknown_name_error)

NUM_CLASSES = 10
# Processed arrays are ~55 MB for full MNIST at 14x14; a sweep cycles through a handful of (name, size) pairs.
_CACHE_SIZE = 16
_IDX_NAMES = ("mnist", "fashion_mnist", "kmnist")
# Embedded datasets stored as a file in the package: name -> (file, reader).
_EMBEDDED_FILES = {"mnist10k": (EMBEDDED_MNIST10K, loaders.load_mnist10k),
                   "uci_digits": (EMBEDDED_UCI_DIGITS, loaders.load_uci_digits)}


# eq=False: field-wise == on arrays is ambiguous, and identity hashing lets a Dataset key a dict or cache.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Preprocessed features: train_x float32 [N, D], train_y int32 [N], test_x float32 [M, D], test_y int32 [M].

    D = image_size^2 * channels in (row, column, channel) order; x is z-normalized with the training split's own
    scalar mean and std. The arrays are read-only because `load` hands the same cached object to every caller.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int


def missing_files(name: str, folder: Path) -> list[str]:
    """File names remote dataset ``name`` still lacks in ``folder`` (empty when it can be loaded)."""
    if name in _IDX_NAMES:
        return [f"{stem}.gz" for stem in loaders.IDX_FILES if loaders.idx_path(folder, stem) is None]
    if name == "cifar10":
        batches = (*loaders.CIFAR_TRAIN, loaders.CIFAR_TEST)
        extracted = any(all((d / b).is_file() for b in batches) for d in (folder / loaders.CIFAR_FOLDER, folder))
        return [] if extracted or (folder / loaders.CIFAR_ARCHIVE).is_file() else [loaders.CIFAR_ARCHIVE]
    if name == "svhn":
        return [f for f in loaders.SVHN_FILES if not (folder / f).is_file()]
    raise unknown_name_error(name, tuple(REMOTE))


def available(cache_dir: str | os.PathLike | None = None) -> dict[str, bool]:
    """Every known dataset name -> whether `load` finds it without downloading (embedded ones always do)."""
    status = {}
    for name in NAMES:
        if name in REMOTE:
            status[name] = not missing_files(name, dataset_dir(name, cache_dir))
        else:
            status[name] = name == "random" or _EMBEDDED_FILES[name][0].is_file()
    return status


def _read_raw(name: str, image_size: int, root: Path) -> tuple[loaders.Raw, int]:
    """Raw splits of a named dataset or .npz path, and its number of classes."""
    if name == "random":
        return loaders.load_random(image_size), NUM_CLASSES
    if name in _EMBEDDED_FILES:
        return _EMBEDDED_FILES[name][1](), NUM_CLASSES
    if name in REMOTE:
        folder = root / name
        missing = missing_files(name, folder)
        if missing:
            raise missing_files_error(name, folder, missing)
        if name in _IDX_NAMES:
            return loaders.load_idx_folder(folder), NUM_CLASSES
        return (loaders.load_cifar10(folder) if name == "cifar10" else loaders.load_svhn(folder)), NUM_CLASSES
    raw = loaders.load_npz(name)
    return raw, int(max(raw.train_labels.max(), raw.test_labels.max())) + 1


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_cached(name: str, image_size: int, channels: int, root: Path, stamp: tuple) -> Dataset:
    # ``stamp`` only keys the cache: a rewritten .npz (new mtime or size) must not serve stale arrays.
    del stamp
    raw, num_classes = _read_raw(name, image_size, root)
    for labels in (raw.train_labels, raw.test_labels):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise DataError(f"{name}: labels outside 0..{num_classes - 1}")
    # The random set's test split is its train split; sharing one array keeps that identity visible.
    same = raw.test_images is raw.train_images
    try:
        train_x = preprocess.prepare(raw.train_images, image_size=image_size, channels=channels)
        test_x = train_x if same else preprocess.prepare(raw.test_images, image_size=image_size, channels=channels)
    except ValueError as err:
        raise DataError(f"{name}: {err}") from err
    mean, std = preprocess.standardize_stats(train_x)
    train_x = preprocess.standardize(train_x, mean, std)
    test_x = train_x if same else preprocess.standardize(test_x, mean, std)
    return Dataset(name=name, train_x=_frozen(train_x), train_y=_frozen(raw.train_labels.astype(np.int32)),
                   test_x=_frozen(test_x), test_y=_frozen(raw.test_labels.astype(np.int32)), num_classes=num_classes)


def load(name: str | os.PathLike, *, image_size: int = 14, channels: int = 1,
         cache_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset by name (see `sources.NAMES`) or .npz path, preprocessed; results are cached in memory."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (gray) or 3 (rgb), got {channels!r}")
    key = os.fspath(name)
    stamp: tuple = ()
    if key not in NAMES:
        path = Path(key).expanduser()
        if not path.is_file():
            if key.endswith(".npz"):
                raise DataError(f"dataset file {path} does not exist")
            raise unknown_name_error(key)
        stat = path.stat()
        key, stamp = str(path.resolve()), (stat.st_mtime_ns, stat.st_size)
    # Only remote datasets read the cache dir; keying the others on it would just duplicate cached arrays.
    root = resolve_cache_dir(cache_dir) if key in REMOTE else Path()
    return _load_cached(key, int(image_size), int(channels), root, stamp)
