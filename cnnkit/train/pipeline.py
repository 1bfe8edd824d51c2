"""The input pipeline: batches of (float32 images in [0, 1], int labels) from uint8 arrays.

On the TensorFlow backend :func:`make_dataset` builds a ``tf.data`` pipeline (as Keras'
``image_dataset_from_directory`` does), mapped on TensorFlow's threads and prefetched while the
model trains. On any other backend (JAX, PyTorch: TensorFlow need not be installed) it returns
an :class:`ArrayBatches`, a ``keras.utils.PyDataset`` that does the same in NumPy, batch by
batch as Keras asks for them (on a GPU, Keras' JAX trainer copies one batch ahead). Either way
images stay uint8 until a batch is drawn; indices are shuffled rather than images; whole
batches are scaled and augmented at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from numbers import Integral

import keras
import numpy as np

__all__ = ["AUGMENTS", "ArrayBatches", "make_dataset"]

AUGMENTS = ("flip", "shift", "flip_shift")
"""Names :func:`fit` accepts for ``augment``: horizontal flips, pad-4-and-crop shifts, both."""


_SHIFT_PAD = 4  # pixels: the classic CIFAR-10 recipe (pad 4, crop 32x32)


def _check_augment(augment: str | Callable | None) -> None:
    if augment is None or callable(augment) or augment in AUGMENTS:
        return
    raise ValueError(
        f"`augment` must be one of {', '.join(AUGMENTS)}, None or a callable on batches. "
        f"Received: augment={augment!r}"
    )


def _tf_augment(augment: str | Callable | None):
    """A function (float32 batch NHWC -> float32 batch) for ``augment``; TensorFlow ops."""
    _check_augment(augment)
    if augment is None or callable(augment):
        return augment
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


def _numpy_flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image of a (N, H, W, C) batch left-right with probability 1/2, in place."""
    coin = rng.random(len(x)) < 0.5
    x[coin] = x[coin, :, ::-1]
    return x


def _numpy_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero-pad a (N, H, W, C) batch by 4 pixels and crop each image at its own offset."""
    n, h, w, c = x.shape
    p = _SHIFT_PAD
    padded = np.zeros((n, h + 2 * p, w + 2 * p, c), x.dtype)
    padded[:, p : p + h, p : p + w] = x
    dy = rng.integers(0, 2 * p + 1, size=(n,))
    dx = rng.integers(0, 2 * p + 1, size=(n,))
    rows = (dy[:, None] + np.arange(h))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + np.arange(w))[:, None, :]  # (N, 1, W)
    return padded[np.arange(n)[:, None, None], rows, cols]


def _numpy_flip_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _numpy_shift(_numpy_flip(x, rng), rng)


_NUMPY_AUGMENTS = {"flip": _numpy_flip, "shift": _numpy_shift, "flip_shift": _numpy_flip_shift}


class ArrayBatches(keras.utils.PyDataset):
    """Batches of (float32 images in [0, 1], labels) drawn from arrays, in NumPy.

    What :func:`make_dataset` returns off the TensorFlow backend. The images stay as they are
    given (uint8 in memory, never a float copy of the whole set); each batch gathers its
    indices, is cast to float32 and divided by 255 (uint8 only, as
    ``cnnkit.preprocessing.prepare`` does) and augmented as a whole: per-image random flips
    and offsets, vectorised. With ``shuffle`` the order is a fresh permutation each epoch
    (Keras calls :meth:`on_epoch_end`), so each epoch visits every image once.

    A batch depends only on ``seed``, the epoch and its index, so a run is repeatable and
    ``__getitem__`` is safe from several worker threads. ``seed=None`` draws the seed from
    Python's ``random``, which ``cnnkit.setup()`` and ``keras.utils.set_random_seed`` seed,
    as TensorFlow's global seed steers the ``tf.data`` pipeline.

    Args:
        x: (N, H, W, C) uint8 images (or floats in [0, 1]).
        y: (N,) integer labels.
        batch_size: images per batch; the last batch of an epoch may be smaller.
        shuffle: reshuffle the order every epoch.
        augment: None, one of :data:`AUGMENTS`, or a callable on float32 NHWC NumPy batches.
        seed: seed of the shuffle and augmentation.
        repeat: run through the epochs without end (``num_batches`` is None): batch ``i`` is
            batch ``i % num_batches`` of epoch ``i // num_batches``.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        batch_size: int,
        shuffle: bool = False,
        augment: str | Callable | None = None,
        seed: int | None = None,
        repeat: bool = False,
    ):
        super().__init__()
        _check_augment(augment)
        if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(
                f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
            )
        self.x: np.ndarray = np.asarray(x)
        self.y: np.ndarray = np.asarray(y)
        if len(self.x) != len(self.y) or not len(self.x):
            raise ValueError(
                "`x` and `y` must hold the same number N > 0 of images and labels. "
                f"Received: x.shape={self.x.shape}, y.shape={self.y.shape}"
            )
        self.batch_size: int = int(batch_size)
        self.shuffle: bool = shuffle
        self.augment: str | Callable | None = augment
        self.seed: int = random.getrandbits(64) if seed is None else int(seed) % 2**64
        self.repeat_forever: bool = repeat
        self.batches_per_epoch: int = -(-len(self.x) // self.batch_size)
        self.epoch: int = 0
        self._order: tuple[int, np.ndarray] | None = None

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch; None when the batches repeat without end."""
        return None if self.repeat_forever else self.batches_per_epoch

    def repeat(self) -> ArrayBatches:
        """The same batches, epoch after epoch without end (as ``tf.data.Dataset.repeat``)."""
        return ArrayBatches(
            self.x,
            self.y,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            augment=self.augment,
            seed=self.seed,
            repeat=True,
        )

    def order(self, epoch: int) -> np.ndarray:
        """The (N,) int64 indices in the order epoch ``epoch`` draws them."""
        if not self.shuffle:
            return np.arange(len(self.x))
        cached = self._order  # one read: another worker thread may replace it meanwhile
        if cached is None or cached[0] != epoch:
            cached = (epoch, np.random.default_rng([self.seed, epoch, 0]).permutation(len(self.x)))
            self._order = cached
        return cached[1]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of the current epoch: (B, H, W, C) float32 images, (B,) labels."""
        if self.repeat_forever:
            epoch, step = divmod(int(index), self.batches_per_epoch)
        else:
            epoch, step = self.epoch, int(index)
        if not 0 <= step < self.batches_per_epoch:
            raise IndexError(f"batch {index} of {self.batches_per_epoch}")
        idx = self.order(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        batch = self.x[idx].astype(np.float32)
        if self.x.dtype == np.uint8:
            batch /= np.float32(255.0)
        if callable(self.augment):
            batch = self.augment(batch)
        elif self.augment is not None:
            rng = np.random.default_rng([self.seed, epoch, 1, step])
            batch = _NUMPY_AUGMENTS[self.augment](batch, rng)
        return batch, self.y[idx]

    def on_epoch_end(self) -> None:
        self.epoch += 1


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = False,
    augment: str | Callable | None = None,
    seed: int | None = None,
):
    """Batches of (float32 images in [0, 1], int labels) for ``model.fit``, on any backend.

    Images stay uint8 in memory; each step gathers a batch of shuffled indices, scales it by
    1/255, augments the whole batch at once. On the TensorFlow backend this is a ``tf.data``
    pipeline, mapped in parallel and prefetched while the model trains; on other backends an
    :class:`ArrayBatches` (a ``keras.utils.PyDataset``) doing the same in NumPy, so training
    runs where TensorFlow is not installed. Both offer ``.repeat()``.

    Args:
        x: (N, H, W, C) uint8 images (or floats in [0, 1]).
        y: (N,) integer labels.
        batch_size: images per batch; the last batch may be smaller.
        shuffle: reshuffle the order every epoch.
        augment: None, one of :data:`AUGMENTS` (``"flip"``: mirror left-right with
            probability 1/2; ``"shift"``: zero-pad 4 pixels and crop back to (H, W) at a
            random offset; ``"flip_shift"``: both), or a callable on float32 NHWC batches
            (``tf.Tensor`` on TensorFlow, NumPy arrays elsewhere).
        seed: seed of the shuffle and augmentation, for repeatable runs.

    Returns:
        A ``tf.data.Dataset`` on the TensorFlow backend, an :class:`ArrayBatches` otherwise.
    """
    x = np.asarray(x)
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(
            x, np.asarray(y), batch_size=batch_size, shuffle=shuffle, augment=augment, seed=seed
        )
    import tensorflow as tf

    augment_fn = _tf_augment(augment)
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
