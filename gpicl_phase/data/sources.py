"""Where every dataset lives: the embedded file, the cache directory, and the public files of the remote ones.

Cache layout: ``<cache_dir>/<name>/<file>`` with the file names exactly as published, e.g.
``~/.cache/gpicl_phase/kmnist/train-images-idx3-ubyte.gz`` or ``~/.cache/gpicl_phase/cifar10/cifar-10-python.tar.gz``.
The md5 sums are the ones the datasets' authors publish (and torchvision checks); md5 guards against truncated or
corrupted downloads here, not against tampering.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "GPICL_PHASE_DATA"
EMBEDDED_MNIST10K = Path(__file__).resolve().parent / "mnist10k.npz"
EMBEDDED_UCI_DIGITS = Path(__file__).resolve().parent / "uci_digits.npz"

# The names `load` accepts besides a path to an .npz; the order is the one `available` reports.
EMBEDDED_NAMES = ("mnist10k", "uci_digits", "random")
REMOTE_NAMES = ("mnist", "fashion_mnist", "kmnist", "cifar10", "svhn")
NAMES = EMBEDDED_NAMES + REMOTE_NAMES


class DataError(ValueError):
    """A dataset is unknown, missing, malformed or could not be downloaded; the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name in the cache directory and on the server, and its published md5."""

    filename: str
    md5: str


@dataclass(frozen=True)
class RemoteDataset:
    """A dataset that `fetch` downloads: the server directory its files sit in and the files themselves."""

    name: str
    base_url: str
    files: tuple[RemoteFile, ...]
    homepage: str
    licence: str


def _idx_files(train_images: str, train_labels: str, test_images: str, test_labels: str) -> tuple[RemoteFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(RemoteFile(n, m) for n, m in zip(names, (train_images, train_labels, test_images, test_labels)))


REMOTE: dict[str, RemoteDataset] = {
    # yann.lecun.com now often refuses downloads; PyTorch's mirror serves the identical files.
    "mnist": RemoteDataset(
        "mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/",
        _idx_files("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                   "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        "http://yann.lecun.com/exdb/mnist/", "CC BY-SA 3.0 (LeCun, Cortes, Burges)"),
    "fashion_mnist": RemoteDataset(
        "fashion_mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        _idx_files("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                   "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        "https://github.com/zalandoresearch/fashion-mnist", "MIT (Zalando Research)"),
    "kmnist": RemoteDataset(
        "kmnist", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        _idx_files("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                   "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
        "https://github.com/rois-codh/kmnist", "CC BY-SA 4.0 (ROIS-DS CODH)"),
    "cifar10": RemoteDataset(
        "cifar10", "https://www.cs.toronto.edu/~kriz/",
        (RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        "https://www.cs.toronto.edu/~kriz/cifar.html", "no licence stated (Krizhevsky 2009)"),
    "svhn": RemoteDataset(
        "svhn", "http://ufldl.stanford.edu/housenumbers/",
        (RemoteFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
         RemoteFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")),
        "http://ufldl.stanford.edu/housenumbers/", "non-commercial use only (Netzer et al. 2011)"),
}


def cache_dir() -> Path:
    """The directory downloaded datasets live in: ``$GPICL_PHASE_DATA`` or ``~/.cache/gpicl_phase``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gpicl_phase"


def resolve_cache_dir(override: str | os.PathLike | None) -> Path:
    """An explicit directory if given, else `cache_dir()`, made absolute so it can key a cache."""
    return (Path(override).expanduser() if override is not None else cache_dir()).resolve()


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder holding remote dataset ``name``'s files: ``<cache_dir>/<name>``."""
    return resolve_cache_dir(root) / name


def unknown_name_error(name: str, allowed: tuple[str, ...] = NAMES) -> DataError:
    """The error for a name that is neither a known dataset nor an existing .npz path."""
    return DataError(f"unknown dataset {name!r}; choose one of {', '.join(allowed)}, or give a path to an .npz "
                     "file with arrays x (images) and y (labels)")


def missing_files_error(name: str, folder: Path, missing: list[str]) -> DataError:
    """The error for a remote dataset whose files are not (all) in the cache: how to fetch or place them."""
    spec = REMOTE[name]
    urls = "\n".join(f"  {spec.base_url}{f}" for f in missing)
    return DataError(f"dataset {name!r} is not downloaded: {', '.join(missing)} missing in {folder}.\n"
                     f"Run `gpicl-phase data fetch {name}`, or download\n{urls}\ninto {folder}/ by hand "
                     f"(set ${ENV_VAR} to keep datasets elsewhere).")
