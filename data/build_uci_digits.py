"""Build the embedded ``gpicl_phase/data/uci_digits.npz`` from scikit-learn 1.9.1's bundled ``digits.csv.gz``.

Usage (from the repository root; ``pip download scikit-learn==1.9.1 --no-deps -d .`` fetches the wheel)::

    python data/build_uci_digits.py scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
    python data/build_uci_digits.py WHEEL --out x.npz

The wheel is a zip holding ``sklearn/datasets/data/digits.csv.gz``: the test split of the UCI "Optical Recognition of
Handwritten Digits" data, 1,797 rows of 64 pixel counts in 0..16 (an 8x8 image, row-major) followed by the label
0..9. sklearn is never imported. Pixels are scaled to 0..255 (round(v * 255 / 16), halves rounded up, computed in
integers), shuffled with a fixed seed (so that any contiguous train/test split mixes the digits) and written to a zip
whose member timestamps are fixed, so the same wheel always gives the same bytes (``np.savez_compressed`` stamps the
current time into the archive, which would change the sha256 on every rebuild).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or loaded by path (tests)
from build_mnist10k import sha256, write_shuffled  # noqa: E402  (the same seed and deterministic zip)

SIDE = 8
NUM_IMAGES = 1797
MAX_VALUE = 16
CSV_MEMBER = "sklearn/datasets/data/digits.csv.gz"
OUT_DEFAULT = Path(__file__).resolve().parents[1] / "gpicl_phase" / "data" / "uci_digits.npz"


def parse_csv(text: str, source: str = "<csv>") -> tuple[np.ndarray, np.ndarray]:
    """Parse digits.csv rows (64 pixels in 0..16, then the label) into uint8 [N, 8, 8] in 0..255 and labels [N]."""
    rows = [line.split(",") for line in text.splitlines() if line.strip()]
    if not rows or any(len(r) != SIDE * SIDE + 1 for r in rows):
        raise ValueError(f"{source}: every row must hold {SIDE * SIDE} pixels and a label")
    values = np.asarray(rows, dtype=np.float64)
    counts = np.rint(values).astype(np.int64)
    if np.abs(values - counts).max() > 0:
        raise ValueError(f"{source}: values are not whole numbers")
    pixels, labels = counts[:, :-1], counts[:, -1]
    if pixels.min() < 0 or pixels.max() > MAX_VALUE or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{source}: pixels must lie in 0..{MAX_VALUE} and labels in 0..9")
    # round(v * 255 / 16) with halves up, in integers: only v = 8 (127.5 -> 128) is a half.
    scaled = (pixels * 255 + MAX_VALUE // 2) // MAX_VALUE
    return scaled.astype(np.uint8).reshape(-1, SIDE, SIDE), labels.astype(np.uint8)


def read_digits(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the digits from the scikit-learn wheel: uint8 [N, 8, 8] in 0..255 and labels uint8 [N], file order."""
    with zipfile.ZipFile(wheel) as zf:
        blob = zf.read(CSV_MEMBER)
    return parse_csv(gzip.decompress(blob).decode("ascii"), f"{wheel}:{CSV_MEMBER}")


def build(wheel: Path, out: Path = OUT_DEFAULT) -> Path:
    """Build the shuffled 1,797-image npz from the scikit-learn wheel and return its path."""
    return write_shuffled(out, *read_digits(wheel), NUM_IMAGES)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: build and print both checksums for data/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="scikit-learn 1.9.1 wheel from `pip download scikit-learn==1.9.1 "
                                                 "--no-deps`")
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT)
    args = parser.parse_args(argv)
    out = build(args.wheel, args.out)
    with np.load(out) as npz:
        counts = np.bincount(npz["labels"], minlength=10)
    print(f"wrote {out}: images {NUM_IMAGES}x{SIDE}x{SIDE}, per-digit counts {counts.tolist()}")
    print(f"sha256 {args.wheel.name}: {sha256(args.wheel)}")
    print(f"sha256 {out.name}: {sha256(out)}")


if __name__ == "__main__":
    main()
