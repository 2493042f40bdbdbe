"""Readers for the dataset file formats: MNIST-family IDX, CIFAR-10 python batches, SVHN .mat, plain .npz.

Every reader returns a `Raw` split of unprocessed images (uint8, or floats in [0, 1]) of shape [N, H, W] or
[N, H, W, 3] and integer labels [N]; `preprocess.prepare` turns them into features.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gpicl_phase.data.sources import EMBEDDED_MNIST10K, EMBEDDED_UCI_DIGITS, DataError

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
MNIST10K_TRAIN = 8000
UCI_DIGITS_TRAIN = 1437  # of 1,797: 80/20
RANDOM_SEED = 0
RANDOM_COUNT = 10

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class Raw(NamedTuple):
    """Unprocessed train and test splits: images [N, H, W(, 3)], labels int64 [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode one IDX file's bytes (already un-gzipped) into a numpy array in native byte order."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(f"{source}: {len(data)} bytes, but its header {shape} implies {expected}; file is damaged")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gunzipping it if its name ends in .gz."""
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot read ({err}); delete it and fetch again") from err
    return parse_idx(data, str(path))


def idx_path(folder: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``folder``, gzipped or plain, or None if neither exists."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(folder: str | os.PathLike) -> Raw:
    """Load an MNIST-family folder (MNIST, FashionMNIST, KMNIST share the four IDX file names)."""
    folder = Path(folder)
    paths = [idx_path(folder, stem) for stem in IDX_FILES]
    if any(p is None for p in paths):
        missing = [s for s, p in zip(IDX_FILES, paths) if p is None]
        raise DataError(f"{folder}: missing {', '.join(missing)} (.gz or uncompressed)")
    arrays = [read_idx(p) for p in paths]
    for images, labels, split in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    return Raw(arrays[0], arrays[1].astype(np.int64), arrays[2], arrays[3].astype(np.int64))


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR batches contain (dicts, lists, numpy arrays), so a stray file cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}, which a CIFAR batch never does")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"  # its numpy 2 home; the numpy.core shim is deprecated
        return super().find_class(module, name)


def parse_cifar_batch(data: bytes, source: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """Decode one pickled CIFAR-10 batch into uint8 images [N, 32, 32, 3] and int64 labels [N]."""
    try:
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
        flat = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise DataError(f"{source}: not a CIFAR-10 python batch ({err})") from err
    if flat.ndim != 2 or flat.shape[1] != 3 * 32 * 32 or len(flat) != len(labels):
        raise DataError(f"{source}: data {flat.shape} / labels {labels.shape} are not CIFAR-10 shaped")
    # Rows store the red plane, then green, then blue, each 32x32 row-major.
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _join(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def load_cifar10(folder: str | os.PathLike) -> Raw:
    """Load CIFAR-10 from ``folder``: extracted batches (in it or in cifar-10-batches-py/) or the .tar.gz."""
    folder = Path(folder)
    for batch_dir in (folder / CIFAR_FOLDER, folder):
        if all((batch_dir / n).is_file() for n in (*CIFAR_TRAIN, CIFAR_TEST)):
            read = [parse_cifar_batch((batch_dir / n).read_bytes(), str(batch_dir / n)) for n in CIFAR_TRAIN]
            test = parse_cifar_batch((batch_dir / CIFAR_TEST).read_bytes(), str(batch_dir / CIFAR_TEST))
            return Raw(*_join(read), *test)
    archive = folder / CIFAR_ARCHIVE
    if not archive.is_file():
        raise DataError(f"{folder}: neither {CIFAR_ARCHIVE} nor the batches {CIFAR_FOLDER}/data_batch_1..5, test_batch")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            def member(n: str) -> bytes:
                f = tar.extractfile(f"{CIFAR_FOLDER}/{n}")
                if f is None:
                    raise KeyError(n)
                return f.read()
            read = [parse_cifar_batch(member(n), f"{archive}:{n}") for n in CIFAR_TRAIN]
            test = parse_cifar_batch(member(CIFAR_TEST), f"{archive}:{CIFAR_TEST}")
    except (tarfile.TarError, OSError, EOFError, KeyError, zlib.error) as err:
        raise DataError(f"{archive}: damaged or not the CIFAR-10 python archive ({err!r}); delete it and fetch "
                        "again") from err
    return Raw(*_join(read), *test)


def read_svhn_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN cropped-digits .mat: X [32, 32, 3, N] -> uint8 [N, 32, 32, 3]; label 10 (digit 0) -> 0."""
    from scipy.io import loadmat  # scipy is slow to import and only SVHN needs it

    try:
        mat = loadmat(path)
        x, y = mat["X"], mat["y"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: not an SVHN .mat file ({err!r}); delete it and fetch again") from err
    labels = np.asarray(y, dtype=np.int64).reshape(-1)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != len(labels):
        raise DataError(f"{path}: X {x.shape} / y {np.shape(y)} are not SVHN shaped ([H, W, 3, N], [N, 1])")
    # SVHN numbers classes 1..10 with 10 standing for the digit 0.
    labels[labels == 10] = 0
    return np.ascontiguousarray(np.moveaxis(x, 3, 0).astype(np.uint8, copy=False)), labels


def load_svhn(folder: str | os.PathLike) -> Raw:
    """Load SVHN (cropped digits) from train_32x32.mat and test_32x32.mat in ``folder``."""
    folder = Path(folder)
    return Raw(*read_svhn_mat(folder / SVHN_FILES[0]), *read_svhn_mat(folder / SVHN_FILES[1]))


def load_npz(path: str | os.PathLike) -> Raw:
    """Load a user .npz: ``x``/``y`` (with ``x_test``/``y_test``, or else the last 20% of x/y as test)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read as .npz ({err})") from err
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"{path}: needs arrays 'x' (images [N, H, W] or [N, H, W, 3]) and 'y' (labels [N]); "
                        f"found {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    if "x_test" in arrays and "y_test" in arrays:
        raw = Raw(x, y, arrays["x_test"], arrays["y_test"])
    else:
        # No shuffling here: the file's order decides the split, so shuffle before saving if classes are sorted.
        cut = len(x) - max(1, len(x) // 5)
        raw = Raw(x[:cut], y[:cut], x[cut:], y[cut:])
    for images, labels in ((raw.train_images, raw.train_labels), (raw.test_images, raw.test_labels)):
        if images.ndim not in (3, 4) or labels.ndim != 1 or len(images) != len(labels) or len(images) == 0:
            raise DataError(f"{path}: images {images.shape} / labels {labels.shape} must be [N, H, W(, C)] / [N]")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise DataError(f"{path}: labels must be non-negative integers")
    return raw._replace(train_labels=raw.train_labels.astype(np.int64), test_labels=raw.test_labels.astype(np.int64))


def _load_embedded(path: str | os.PathLike, train: int) -> Raw:
    """An embedded, pre-shuffled ``images``/``labels`` npz: the first ``train`` images train, the rest test."""
    with np.load(path, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"].astype(np.int64)
    return Raw(images[:train], labels[:train], images[train:], labels[train:])


def load_mnist10k(path: str | os.PathLike = EMBEDDED_MNIST10K) -> Raw:
    """The embedded 10,000 MNIST digits: the first 8,000 (pre-shuffled) train, the last 2,000 test."""
    return _load_embedded(path, MNIST10K_TRAIN)


def load_uci_digits(path: str | os.PathLike = EMBEDDED_UCI_DIGITS) -> Raw:
    """The embedded 1,797 UCI 8x8 digits (0..255): the first 1,437 (pre-shuffled) train, the last 360 test."""
    return _load_embedded(path, UCI_DIGITS_TRAIN)


def load_random(image_size: int, seed: int = RANDOM_SEED) -> Raw:
    """The authors' "random" set: 10 uniform [0, 1] images [10, S, S] labelled 0..9; test = train.

    Drawn at the target size (the authors draw at 14x14), so resizing is the identity. Unlike the authors' code,
    which draws fresh images for every task, the 10 images here are fixed by ``seed``.
    """
    images = np.random.default_rng(seed).uniform(0.0, 1.0, size=(RANDOM_COUNT, image_size, image_size))
    labels = np.arange(RANDOM_COUNT, dtype=np.int64)
    images = images.astype(np.float32)
    return Raw(images, labels, images, labels)
