"""Image preprocessing in numpy: scale to [0, 1], match channels, area resize, flatten, z-normalize.

Shape letters (docs/DESIGN.md): M images, H x W input side, S output side, C channels, D = S * S * C
features. Features are flattened in (row, column, channel) order, the order a [M, S, S, C] array has in memory.
"""

from __future__ import annotations

import numpy as np

# ITU-R BT.601 luma, the weights tf.image.rgb_to_grayscale and PIL's "L" mode use.
LUMA_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Chunks bound peak memory: a whole 60,000-image RGB set in float32 would need ~0.7 GB before resizing.
CHUNK = 4096


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """Weights [n_out, n_in] of a 1-d area (box) resize: output pixel i averages the input span it covers."""
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got {n_in} -> {n_out}")
    # Output pixel i covers [i, i + 1) * n_in / n_out in input coordinates; input pixel k covers [k, k + 1).
    # Weight = overlap length / span length, so every row sums to 1 and an integer factor is exact mean pooling.
    edges = np.arange(n_out + 1, dtype=np.float64) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    k = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(hi, k + 1) - np.maximum(lo, k), 0.0, None)
    return overlap / (n_in / n_out)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Area-resize [M, H, W] or [M, H, W, C] images to float32 [M, size, size(, C)].

    Anti-aliased when shrinking (every input pixel contributes), exact 2x2 mean pooling for 28 -> 14 (which is also
    what the authors' bilinear tf.image.resize gives at exactly half size), the identity when H = W = size.
    """
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be [M, H, W] or [M, H, W, C], got shape {images.shape}")
    x = images.astype(np.float32, copy=False)
    if x.shape[1] == size and x.shape[2] == size:
        return x.copy() if x is images else x
    rows_SxH = area_weights(x.shape[1], size).astype(np.float32)
    cols_SxW = area_weights(x.shape[2], size).astype(np.float32)
    # Separable: contract rows, then columns; tensordot keeps both contractions in BLAS.
    rows_resized = np.tensordot(rows_SxH, x, axes=([1], [1]))  # [S, M, W(, C)]
    out = np.tensordot(cols_SxW, rows_resized, axes=([1], [2]))  # [S_col, S_row, M(, C)]
    order = (2, 1, 0, 3) if x.ndim == 4 else (2, 1, 0)
    return np.ascontiguousarray(out.transpose(order))


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images to float32 in [0, 1]; float images must already lie in [0, 1]."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be uint8 (0..255) or float in [0, 1], got dtype {images.dtype}")
    x = images.astype(np.float32, copy=False)
    if x.size and (not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0):
        raise ValueError("float images must lie in [0, 1] (uint8 images are scaled by 1/255 automatically)")
    return x


def rgb_to_gray(images_MxHxWx3: np.ndarray) -> np.ndarray:
    """Luminance (BT.601) of float RGB images [M, H, W, 3] as [M, H, W]."""
    if images_MxHxWx3.ndim != 4 or images_MxHxWx3.shape[-1] != 3:
        raise ValueError(f"expected RGB images [M, H, W, 3], got shape {images_MxHxWx3.shape}")
    return images_MxHxWx3.astype(np.float32, copy=False) @ LUMA_RGB


def match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Gray [M, H, W] or [M, H, W, 1|3] images as [M, H, W, channels]: RGB -> luminance, gray -> repeated."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (rgb), got {channels}")
    x = images[..., None] if images.ndim == 3 else images
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [M, H, W], [M, H, W, 1] or [M, H, W, 3], got shape {images.shape}")
    if x.shape[-1] == channels:
        return x
    if channels == 1:
        return rgb_to_gray(x)[..., None]
    # Gray to RGB repeats the plane, as the authors' channel_expand does, so gray sets can test RGB-trained models.
    return np.repeat(x, 3, axis=-1)


def flatten(images: np.ndarray) -> np.ndarray:
    """Flatten [M, ...] images to [M, D] in memory order."""
    return images.reshape(len(images), -1)


def prepare(images: np.ndarray, *, image_size: int, channels: int) -> np.ndarray:
    """Raw images (uint8 or [0, 1] floats, gray or RGB) to float32 features [M, image_size^2 * channels] in [0, 1]."""
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    n = len(images)
    out_MxD = np.empty((n, image_size * image_size * channels), dtype=np.float32)
    for start in range(0, n, CHUNK):
        # Gray conversion before the resize: both are linear, and fewer planes make the resize cheaper.
        chunk = match_channels(to_unit_range(images[start:start + CHUNK]), channels)
        out_MxD[start:start + CHUNK] = flatten(resize(chunk, image_size))
    # Area weights are convex combinations, but float rounding can step a hair outside [0, 1].
    np.clip(out_MxD, 0.0, 1.0, out=out_MxD)
    return out_MxD


def standardize_stats(train_x: np.ndarray) -> tuple[float, float]:
    """Scalar mean and standard deviation over every pixel of the training features (float64 accumulation)."""
    if train_x.size == 0:
        raise ValueError("cannot compute statistics of an empty training set")
    mean = float(np.mean(train_x, dtype=np.float64))
    std = float(np.std(train_x, dtype=np.float64))
    return mean, std


def standardize(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(x - mean) / std as float32; a constant training set (std 0) only gets centred."""
    # std 0 would divide by zero; the authors add 1e-8 to the denominator for the same reason.
    scale = np.float32(1.0 / std) if std > 0 else np.float32(1.0)
    return ((x - np.float32(mean)) * scale).astype(np.float32, copy=False)
