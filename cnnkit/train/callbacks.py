"""Keras callbacks of the kit: live learning curves in a notebook, per-batch losses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import keras

from ..display import in_notebook, png
from ..viz import plot_history

__all__ = ["BatchLoss", "LivePlot"]


class LivePlot(keras.callbacks.Callback):
    """A Keras callback that redraws the learning curves in the notebook after each epoch.

    The figure replaces its own previous output (one display handle, updated), so a long
    run leaves a single plot, not a pile. Outside a notebook it only records the logs.

    Args:
        every: redraw after every ``every`` epochs (and at the end of training).
        title: an optional figure title.
        past: logs of epochs already trained (metric -> list), e.g. of a run resumed from a
            checkpoint, so the curves start at epoch 1.

    Attributes:
        history: metric name -> list of per-epoch values seen so far.

    See notebooks/04_lenet_mnist.ipynb.
    """

    def __init__(
        self,
        every: int = 1,
        title: str | None = None,
        past: Mapping[str, Sequence[float]] | None = None,
    ):
        super().__init__()
        if every < 1:
            raise ValueError(f"`every` must be a positive int. Received: every={every}")
        self.every = every
        self.title = title
        self._past = {key: [float(v) for v in values] for key, values in (past or {}).items()}
        self.history: dict[str, list[float]] = {}
        self._handle = None

    def on_train_begin(self, logs=None):
        self.history = {key: list(values) for key, values in self._past.items()}
        self._handle = None

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if (epoch + 1) % self.every == 0:
            self._draw()

    def on_train_end(self, logs=None):
        self._draw()

    def _draw(self) -> None:
        if not self.history or not in_notebook():
            return
        from IPython.display import display

        picture = png(plot_history(self.history, title=self.title))
        if self._handle is None:
            self._handle = display(picture, display_id=True)
        else:
            self._handle.update(picture)


# --------------------------------------------------------------------------- predictions


class BatchLoss(keras.callbacks.Callback):
    """Per-batch losses from Keras' running means; stops once the loss blows up."""

    def __init__(self, blowup: float):
        super().__init__()
        self.blowup = blowup
        self.losses: list[float] = []
        self._mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        k = len(self.losses) + 1
        loss = k * mean - (k - 1) * self._mean  # undo Keras' running average
        self._mean = mean
        self.losses.append(loss)
        best = min(self.losses)
        if not math.isfinite(loss) or (k > 10 and loss > self.blowup * best):
            self.model.stop_training = True
