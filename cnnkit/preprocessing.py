"""The kit's one scaling rule, and predictions made under it.

Images are stored as uint8 in [0, 255] (as ``cnnkit.data.load`` returns them) and every model
of the kit sees float32 in [0, 1]: :func:`prepare` applies the rule, :func:`predict` applies
it a chunk at a time before ``model.predict``, so models never need a Rescaling layer and
training (``cnnkit.train``), figures (``cnnkit.viz``) and reports (``cnnkit.report``) agree.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["class_probabilities", "predict", "prepare", "two_columns"]


def prepare(x: Any) -> np.ndarray:
    """Scale images the way every model of the kit expects them.

    Args:
        x: images of any shape, uint8 in [0, 255] (as ``cnnkit.data.load`` returns them), or
            floating point already scaled to [0, 1].

    Returns:
        float32 array of the same shape, in [0, 1].
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise ValueError(
        "`x` must hold uint8 images in [0, 255] or floats in [0, 1]. "
        f"Received: x with dtype={x.dtype}"
    )


def predict(model: keras.Model, x: Any, *, batch_size: int = 256) -> np.ndarray:
    """``model.predict`` on images as ``cnnkit.data`` holds them, scaled a chunk at a time.

    Scaling a whole test set first (10,000 CIFAR images: 117 MiB of float32, copied once more
    by Keras) would cost more memory than the model; this scales 4,096 images at a time.

    Args:
        model: a ``keras.Model``.
        x: (N, ...) uint8 images in [0, 255] or floats in [0, 1] (see :func:`prepare`).
        batch_size: images per prediction batch.

    Returns:
        The model's outputs for all N images, concatenated: (N, ...) float32.
    """
    x = np.asarray(x)
    chunk = max(batch_size, 4096)
    return np.concatenate(
        [
            np.asarray(model.predict(prepare(x[i : i + chunk]), batch_size=batch_size, verbose=0))
            for i in range(0, max(len(x), 1), chunk)  # one (empty) chunk for an empty x
        ]
    )


def two_columns(probabilities: np.ndarray) -> np.ndarray:
    """One sigmoid unit, P(class 1) of shape (N, 1), as (N, 2) rows [P(class 0), P(class 1)]."""
    if probabilities.ndim == 2 and probabilities.shape[1] == 1:
        return np.concatenate([1.0 - probabilities, probabilities], axis=1)
    return probabilities


def class_probabilities(model: keras.Model, x: Any, *, batch_size: int = 256) -> np.ndarray:
    """Class probabilities of shape (N, num_classes) (a sigmoid unit becomes two columns)."""
    probabilities = predict(model, x, batch_size=batch_size)
    probabilities = two_columns(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(
            "`model` must output one row of class scores per image, shape (N, num_classes). "
            f"Received: output shape {probabilities.shape}"
        )
    return probabilities
