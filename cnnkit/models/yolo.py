"""Tiny-YOLO: a small grid detector, one pass of a CNN for the whole (S, S, A, 5 + C) grid."""

from __future__ import annotations

import math

import keras
from keras import layers

__all__ = ["tiny_yolo"]


def _conv_block(x, filters: int, kernel_size: int, name: str):
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    # momentum 0.9: running statistics settle within the few hundred steps of a CPU run.
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.LeakyReLU(0.1, name=f"{name}_leaky")(x)


def tiny_yolo(
    input_shape: tuple[int, int, int] = (96, 96, 3),
    num_classes: int = 3,
    *,
    grid_size: int = 6,
    num_anchors: int = 1,
    width: int = 16,
    name: str = "tiny_yolo",
):
    """A small YOLO-style detector: one pass of a CNN gives the whole (S, S, A, 5 + C) grid.

    Like Tiny-YOLO: 3x3 CONV -> BN -> LeakyReLU(0.1) stages, each halving the size with a
    2x2 max-pool until the feature map is S x S, then 1x1 heads per quantity:
    sigmoid P, sigmoid bx and by (the centre stays inside its cell), softplus bw and bh
    (> 0, may exceed 1 cell), softmax class probabilities per anchor.

    Args:
        input_shape: (height, width, channels); height = width = grid_size * 2**k.
        num_classes: C.
        grid_size: S; the network downsamples by input_size / S.
        num_anchors: A, boxes predicted per cell.
        width: filters of the first stage; each stage doubles it (capped at 16 * width).
        name: model name.

    Returns:
        An uncompiled `keras.Model` from images scaled as ``cnnkit.preprocessing.prepare``
        scales them (float32 in [0, 1]) to
        (batch, S, S, A, 5 + C) outputs in :func:`encode_grid`'s layout.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    h, w, _ = input_shape
    ratio = h // grid_size if grid_size > 0 else 0
    if h != w or ratio < 1 or ratio * grid_size != h or ratio & (ratio - 1):
        raise ValueError(
            "`input_shape` must be square with a side of grid_size times a power of two. "
            f"Received: input_shape={tuple(input_shape)}, grid_size={grid_size}"
        )
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    stages = int(math.log2(ratio))
    for s in range(stages):
        filters = min(width * 2**s, width * 16)
        x = _conv_block(x, filters, 3, f"stage{s + 1}")
        x = layers.MaxPooling2D(2, name=f"stage{s + 1}_pool")(x)
    x = _conv_block(x, min(width * 2**stages, width * 16), 3, "neck1")
    x = _conv_block(x, min(width * 2**stages, width * 16), 3, "neck2")
    a, s_ = num_anchors, grid_size

    def head(units: int, activation: str, part: str):
        out = layers.Conv2D(a * units, 1, name=f"head_{part}")(x)
        out = layers.Reshape((s_, s_, a, units), name=f"head_{part}_reshape")(out)
        return layers.Activation(activation, name=f"head_{part}_{activation}")(out)

    outputs = layers.Concatenate(axis=-1, name="grid")(
        [
            head(1, "sigmoid", "p"),
            head(2, "sigmoid", "xy"),
            head(2, "softplus", "wh"),
            head(num_classes, "softmax", "class"),
        ]
    )
    return keras.Model(inputs, outputs, name=name)
