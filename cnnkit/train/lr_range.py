"""The learning-rate range test (Smith 2017): ``lr_find()`` and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .callbacks import BatchLoss
from .fitting import make_optimizer
from .pipeline import make_dataset
from .schedules import check_steps

__all__ = ["LRFinderResult", "lr_find"]


@dataclass
class LRFinderResult:
    """The learning-rate range test's curve and its suggestion; ``plot()`` draws it."""

    learning_rates: np.ndarray
    """(steps,) float64 rates tried, one per batch, rising geometrically."""
    losses: np.ndarray
    """(steps,) float64 training loss of each batch, smoothed (exponential moving average)."""
    suggestion: float
    """A rate to train with: a tenth of the rate where the smoothed loss was lowest."""

    def plot(self, ax=None):
        """Loss against learning rate (log scale), the suggestion marked; returns the Figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        ax.plot(self.learning_rates, self.losses)
        ax.axvline(self.suggestion, color="tab:red", linestyle="--")
        ax.annotate(
            f"suggested {self.suggestion:.2g}",
            xy=(self.suggestion, 0.95),
            xycoords=("data", "axes fraction"),
            xytext=(4, 0),
            textcoords="offset points",
            color="tab:red",
            va="top",
        )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss (smoothed)")
        ax.set_title("Learning-rate range test")
        ax.grid(alpha=0.3, which="both")
        return ax.figure


def lr_find(
    model: keras.Model,
    data: Any,
    *,
    min_lr: float = 1e-5,
    max_lr: float = 3.0,
    steps: int = 100,
    batch_size: int = 64,
    optimizer: str = "sgd",
    seed: int | None = 0,
) -> LRFinderResult:
    """The learning-rate range test (Smith 2017): one short run with a rate rising every batch.

    The rate grows geometrically from ``min_lr`` to ``max_lr`` over ``steps`` batches; the loss
    falls, flattens, then blows up. Train a little below the rate where it was lowest. The
    model's weights are put back afterwards, so the test costs nothing but time.

    Args:
        model: a ``keras.Model`` with softmax outputs, shape (batch, num_classes).
        data: the record ``cnnkit.data.load`` returns (uses ``x_train``, ``y_train``).
        min_lr, max_lr: the range of rates tried.
        steps: batches in the test (images are reused if the data is short).
        batch_size: images per batch.
        optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"``, as in :func:`fit`.
        seed: seed of the shuffle.

    Returns:
        An :class:`LRFinderResult`.
    """
    if not 0.0 < min_lr < max_lr:
        raise ValueError(
            "`min_lr` and `max_lr` must satisfy 0 < min_lr < max_lr. "
            f"Received: min_lr={min_lr}, max_lr={max_lr}"
        )
    check_steps(steps, "steps")
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    if not model.built:
        model.build((None, *x.shape[1:]))
    saved = model.get_weights()
    rates = keras.optimizers.schedules.ExponentialDecay(
        min_lr, decay_steps=steps, decay_rate=max_lr / min_lr
    )
    model.compile(
        optimizer=make_optimizer(optimizer, rates),
        loss="sparse_categorical_crossentropy",
    )
    recorder = BatchLoss(blowup=4.0)
    model.fit(
        make_dataset(x, y, batch_size=batch_size, shuffle=True, seed=seed).repeat(),
        epochs=1,
        steps_per_epoch=steps,
        callbacks=[recorder],
        shuffle=False,
        verbose=0,
    )
    model.set_weights(saved)
    raw = np.asarray(recorder.losses, dtype=np.float64)
    smooth = np.empty_like(raw)
    avg = 0.0
    for i, loss in enumerate(raw):
        avg = 0.9 * avg + 0.1 * loss
        smooth[i] = avg / (1 - 0.9 ** (i + 1))
    learning_rates = min_lr * (max_lr / min_lr) ** (np.arange(len(raw)) / steps)
    finite = np.where(np.isfinite(smooth), smooth, np.inf)
    suggestion = float(learning_rates[int(np.argmin(finite))] / 10.0)
    return LRFinderResult(learning_rates, smooth, suggestion)
