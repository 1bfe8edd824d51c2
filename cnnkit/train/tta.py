"""Test-time augmentation: average a model's probabilities over flipped and shifted copies."""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np

from ..preprocessing import predict, prepare

__all__ = ["tta_predict"]


def _shift_offsets(shifts: int | Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    if isinstance(shifts, (int, np.integer)):
        if shifts < 0:
            raise ValueError(f"`shifts` must be >= 0 pixels. Received: shifts={shifts}")
        s = int(shifts)
        return [(0, s), (0, -s), (s, 0), (-s, 0)] if s else []
    return [(int(dy), int(dx)) for dy, dx in shifts]


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift images (N, H, W, C) by (dy, dx) pixels, filling with zeros (like pad-and-crop)."""
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def tta_predict(
    model: keras.Model,
    x: np.ndarray,
    *,
    flips: bool = True,
    shifts: int | Iterable[tuple[int, int]] = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """Test-time augmentation: average the model's probabilities over flipped and shifted copies.

    Args:
        model: a ``keras.Model`` with softmax outputs.
        x: (N, H, W, C) uint8 images (scaled here by :func:`prepare`) or floats in [0, 1].
        flips: add the horizontal mirror image of every view.
        shifts: an int s adds the four views shifted by s pixels (right, left, down, up), zeros
            filling the gap; or give the (dy, dx) offsets yourself.
        batch_size: images per prediction batch.

    Returns:
        (N, num_classes) float32 mean probabilities; with ``flips=False, shifts=0`` this is
        ``model.predict(prepare(x))``. See notebooks/09_transfer_learning.ipynb.
    """
    x = prepare(x)
    if x.ndim != 4:
        raise ValueError(f"`x` must be a batch of images (N, H, W, C). Received: x.shape={x.shape}")
    if not len(x):
        raise ValueError(
            "`x` must hold at least one image: there is nothing to predict. "
            f"Received: x.shape={x.shape}"
        )
    # One view and its mirror at a time: memory holds two or three copies of x, not all views.
    offsets = [(0, 0), *_shift_offsets(shifts)]
    total, n_views = None, 0
    for dy, dx in offsets:
        shifted = _shift(x, dy, dx) if (dy, dx) != (0, 0) else x
        for view in (shifted, shifted[:, :, ::-1]) if flips else (shifted,):
            p = predict(model, np.ascontiguousarray(view), batch_size=batch_size)
            total = p.astype(np.float64) if total is None else total + p
            n_views += 1
    return (total / n_views).astype(np.float32)
