"""The input pipeline: ``tf.data``, TensorFlow-only (as Keras' image_dataset_from_directory).

Images stay uint8 until a batch is drawn; indices are shuffled rather than images; whole
batches are scaled and augmented at once and prefetched while the model trains.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["AUGMENTS", "make_dataset"]

AUGMENTS = ("flip", "shift", "flip_shift")
"""Names :func:`fit` accepts for ``augment``: horizontal flips, pad-4-and-crop shifts, both."""


_SHIFT_PAD = 4  # pixels: the classic CIFAR-10 recipe (pad 4, crop 32x32)


def _augment_batch(augment: str | Callable | None):
    """A function (float32 batch NHWC -> float32 batch) for ``augment``; TensorFlow ops."""
    if augment is None or callable(augment):
        return augment
    if augment not in AUGMENTS:
        raise ValueError(
            f"`augment` must be one of {', '.join(AUGMENTS)}, None or a callable on batches. "
            f"Received: augment={augment!r}"
        )
    import tensorflow as tf

    def flip(x):
        coin = tf.random.uniform([tf.shape(x)[0], 1, 1, 1]) < 0.5
        return tf.where(coin, tf.reverse(x, axis=[2]), x)

    def shift(x):
        # Pad with zeros and cut each image at its own random offset: two batched gathers.
        n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        p = _SHIFT_PAD
        padded = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        dy = tf.random.uniform([n, 1], 0, 2 * p + 1, dtype=tf.int32)
        dx = tf.random.uniform([n, 1], 0, 2 * p + 1, dtype=tf.int32)
        rows = dy + tf.range(h)[None, :]
        cols = dx + tf.range(w)[None, :]
        x = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(x, cols, axis=2, batch_dims=1)

    return {"flip": flip, "shift": shift, "flip_shift": lambda x: shift(flip(x))}[augment]


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = False,
    augment: str | Callable | None = None,
    seed: int | None = None,
):
    """A ``tf.data`` pipeline of (float32 images in [0, 1], int labels) batches (TensorFlow-only).

    Images stay uint8 in memory; each step gathers a batch of shuffled indices, scales it by
    1/255, augments the whole batch at once and is prefetched while the model trains.

    Args:
        x: (N, H, W, C) uint8 images (or floats in [0, 1]).
        y: (N,) integer labels.
        batch_size: images per batch; the last batch may be smaller.
        shuffle: reshuffle the order every epoch.
        augment: None, one of :data:`AUGMENTS`, or a callable on float32 NHWC batches.
        seed: seed of the shuffle and augmentation, for repeatable runs.

    Returns:
        A ``tf.data.Dataset``.
    """
    import tensorflow as tf

    x = np.asarray(x)
    augment_fn = _augment_batch(augment)
    images = tf.constant(x)
    labels = tf.constant(np.asarray(y))
    scale = x.dtype == np.uint8
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)

    def gather(idx):
        batch = tf.cast(tf.gather(images, idx), tf.float32)
        if scale:
            batch = batch / 255.0
        if augment_fn is not None:
            batch = augment_fn(batch)
        return batch, tf.gather(labels, idx)

    return (
        order.batch(batch_size)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None)
        .prefetch(tf.data.AUTOTUNE)
    )


# ---------------------------------------------------------------- fit
