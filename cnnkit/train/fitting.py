"""``fit()``: compile and train a classifier on a ``cnnkit.data`` record, resumably."""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import env
from ..display import in_notebook
from .callbacks import LivePlot
from .checkpoints import EpochCheckpoint, check_fingerprint, data_signature, fingerprint, restore
from .pipeline import make_dataset
from .schedules import make_schedule

__all__ = ["EAGER_MAX_STEPS", "OPTIMIZERS", "fit", "make_optimizer", "resolve_jit_compile"]

EAGER_MAX_STEPS = 16
"""Runs of at most this many optimizer steps train eagerly by default (``run_eagerly=None``).

Tracing the training step into a graph costs seconds whatever the run's length (about 8 s for
notebook 08's 22-layer network on two cores), while a few eager steps cost less than that.
"""

OPTIMIZERS = ("sgd", "adam", "adamw")
"""Names :func:`fit` accepts for ``optimizer`` (or pass a ``keras.optimizers.Optimizer``)."""


_DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3}


def _warn_if_not_uint8(x: np.ndarray) -> None:
    """fit scales uint8 images by 1/255; floats pass as they are, which is rarely meant."""
    if x.dtype == np.uint8 or not np.issubdtype(x.dtype, np.floating):
        return
    high = float(np.max(x[:4096]))
    if high > 1.5:
        warnings.warn(
            f"`data.x_train` holds {x.dtype} images in 0..255: fit scales only uint8 images, so "
            "these reach the model unscaled. Pass them as uint8 (x.astype('uint8')) or divide "
            "by 255 first.",
            stacklevel=3,
        )
    else:
        warnings.warn(
            f"`data.x_train` holds {x.dtype} images already scaled to [0, 1]: fit uses them as "
            "they are. cnnkit's datasets are uint8 (0..255), which fit scales itself; make sure "
            "the validation and test images are scaled the same way.",
            stacklevel=3,
        )


def resolve_jit_compile(jit_compile: bool | None) -> bool | str:
    """The ``jit_compile`` for ``model.compile``: ``jit_compile`` itself unless it is None.

    None gives ``"auto"`` (Keras decides) on an accelerator or off TensorFlow (JAX then
    compiles each step with XLA instead of running it op by op, which trained LeNet about
    1.5x slower on a CPU; Keras' PyTorch trainer keeps "auto" eager), and False for
    TensorFlow on a CPU, where its XLA convolutions train these CNNs about 3x slower than its
    default oneDNN kernels.
    """
    if jit_compile is not None:
        return jit_compile
    if keras.backend.backend() != "tensorflow":
        return "auto"
    return "auto" if len(env.devices()) > 1 else False


def make_optimizer(optimizer, learning_rate):
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    if optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    if optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=5e-4)
    raise ValueError(
        f"`optimizer` must be one of {', '.join(OPTIMIZERS)} or a keras Optimizer. "
        f"Received: optimizer={optimizer!r}"
    )


def fit(
    model: keras.Model,
    data: Any,
    *,
    epochs: int,
    batch_size: int = 64,
    optimizer: str | keras.optimizers.Optimizer = "sgd",
    learning_rate: float | None = None,
    schedule: str | keras.optimizers.schedules.LearningRateSchedule | None = "one_cycle",
    augment: str | Callable | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    live_plot: bool | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    distribute: bool = False,
    steps_per_execution: int = 1,
    jit_compile: bool | None = None,
    run_eagerly: bool | None = None,
    seed: int | None = None,
    verbose: int | str = "auto",
) -> keras.callbacks.History:
    """Compile and train an image classifier on a ``cnnkit.data`` record, resumably.

    ``fit`` compiles ``model`` for integer labels (sparse categorical cross-entropy, accuracy),
    feeds it through :func:`make_dataset` (uint8 scaled to [0, 1] by 1/255, augmentation on the
    fly, prefetching), validates on ``data.x_val`` when it has one, and returns the History.

    With ``checkpoint_dir``, the run survives a crash: after every epoch the weights,
    optimizer state and history are written there as one checkpoint that a kill or a full disk
    cannot leave half-written (see :class:`cnnkit.train.checkpoints.EpochCheckpoint`), so calling
    ``fit`` again with the same arguments resumes after the last complete epoch and trains only
    the epochs it still owed; the returned History covers every epoch, before and after the
    crash. ``checkpoint_dir/best.weights.h5`` keeps the best weights so far (by validation
    accuracy, or training loss without a validation split). A checkpoint made by a different
    model, other arguments or other data is refused with a ValueError rather than loaded. A
    finished run leaves its final state there, so a second call restores the trained model at
    once.

    Args:
        model: an uncompiled (or compiled: it is recompiled) ``keras.Model`` with softmax
            outputs, shape (batch, num_classes).
        data: the record ``cnnkit.data.load`` returns (``x_train``, ``y_train``, ``x_val``,
            ``y_val``: uint8 NHWC images and int labels (N,)); ``x_val`` may be None or empty.
        epochs: passes over the training images.
        batch_size: images per optimizer step (global, across devices).
        optimizer: ``"sgd"`` (momentum 0.9, Nesterov), ``"adam"``, ``"adamw"`` or an Optimizer.
        learning_rate: the peak rate; by default 0.05 for SGD, 3e-3 for Adam and AdamW.
        schedule: one of :data:`SCHEDULES` or a LearningRateSchedule (see :func:`make_schedule`).
        augment: None, one of :data:`AUGMENTS`, or a callable on float32 NHWC batches.
        checkpoint_dir: folder for the resumable checkpoint; None trains without one.
        live_plot: redraw the curves after every epoch; None means "in a notebook, unless
            ``CNNKIT_FAST=1``".
        callbacks: more Keras callbacks.
        distribute: compile and train under ``cnnkit.env.strategy()`` (TPU, several GPUs);
            the model must then be built inside ``cnnkit.env.strategy().scope()``.
            TensorFlow backend only.
        steps_per_execution: batches run per call into the compiled graph.
        jit_compile: XLA compilation, passed to ``model.compile``; None means Keras' "auto"
            on an accelerator or off TensorFlow, and off for TensorFlow on a CPU (see
            :func:`resolve_jit_compile`).
        run_eagerly: run each step as Python instead of a traced graph, passed to
            ``model.compile``; None means eager for a short run (at most
            :data:`EAGER_MAX_STEPS` steps, not distributed), where tracing would cost more
            than it saves, and graphs otherwise.
        seed: seed of the shuffle and augmentation.
        verbose: Keras' progress output (``"auto"``, 0, 1, 2).

    Returns:
        The ``keras.callbacks.History``; ``history.history`` maps each metric to one value
        per epoch. See notebooks/06_minivgg.ipynb.
    """
    for argument, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"`{argument}` must be a positive integer. Received: {argument}={value!r}"
            )
    x_train, y_train = np.asarray(data.x_train), np.asarray(data.y_train)
    if x_train.ndim != 4 or len(x_train) != len(y_train) or not len(x_train):
        raise ValueError(
            "`data` must hold (N, H, W, C) training images and N labels, N > 0. "
            f"Received: x_train.shape={x_train.shape}, y_train.shape={y_train.shape}"
        )
    _warn_if_not_uint8(x_train)
    x_val = getattr(data, "x_val", None)
    has_val = x_val is not None and len(x_val) > 0
    name = optimizer if isinstance(optimizer, str) else type(optimizer).__name__.lower()
    if learning_rate is None:
        learning_rate = _DEFAULT_LR.get(name, 1e-3)
    if isinstance(learning_rate, bool) or not (
        isinstance(learning_rate, numbers.Real)
        and math.isfinite(learning_rate)
        and learning_rate > 0
    ):
        raise ValueError(
            "`learning_rate` must be a positive finite number (the peak rate), or None for the "
            f"optimizer's default. Received: learning_rate={learning_rate!r}"
        )
    if not model.built:
        model.build((None, *x_train.shape[1:]))
    num_classes = int(model.compute_output_shape((None, *x_train.shape[1:]))[-1])
    for argument, labels in (("y_train", y_train), ("y_val", getattr(data, "y_val", None))):
        if (
            labels is not None
            and len(labels)
            and (np.min(labels) < 0 or np.max(labels) >= max(num_classes, 2))
        ):
            raise ValueError(
                f"`data.{argument}` must hold class indices in [0, {max(num_classes, 2)}) for "
                f"the model's {num_classes} outputs. Received: labels from {np.min(labels)} to "
                f"{np.max(labels)}"
            )
    steps = math.ceil(len(x_train) / batch_size)
    lr = make_schedule(schedule, learning_rate, steps * epochs)
    if run_eagerly is None:
        run_eagerly = steps * epochs <= EAGER_MAX_STEPS and not distribute

    def _compile():
        model.compile(
            optimizer=make_optimizer(optimizer, lr),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
            jit_compile=False if run_eagerly else resolve_jit_compile(jit_compile),
            run_eagerly=bool(run_eagerly),
        )

    if distribute:
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "`distribute=True` trains under a tf.distribute strategy and needs the TensorFlow "
                "backend; on JAX, set a `keras.distribution` before building the model instead. "
                f"Received: distribute=True with KERAS_BACKEND={keras.backend.backend()!r}"
            )
        strategy = env.strategy()
        if getattr(model, "distribute_strategy", strategy) is not strategy:
            raise ValueError(
                "`distribute=True` needs a model built inside `cnnkit.env.strategy().scope()`. "
                f"Received: a model built under {type(model.distribute_strategy).__name__}"
            )
        with strategy.scope():
            _compile()
    else:
        _compile()

    train = make_dataset(
        x_train, y_train, batch_size=batch_size, shuffle=True, augment=augment, seed=seed
    )
    val = (
        make_dataset(np.asarray(x_val), np.asarray(data.y_val), batch_size=max(batch_size, 256))
        if has_val
        else None
    )
    all_callbacks = list(callbacks)
    past: dict[str, list[float]] = {}
    saver = None
    start = 0
    if checkpoint_dir is not None:
        folder = Path(checkpoint_dir)
        run = {
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "optimizer": name,
            "learning_rate": float(learning_rate),
            "schedule": schedule if isinstance(schedule, str) or schedule is None else repr(lr),
            "augment": augment if isinstance(augment, str) or augment is None else "callable",
            "data": data_signature(x_train, y_train),
        }
        check_fingerprint(folder, fingerprint(model, run))
        resumed = restore(model, folder)
        monitor, mode = ("val_accuracy", "max") if has_val else ("loss", "min")
        saver = EpochCheckpoint(folder, monitor=monitor, mode=mode, resumed=resumed)
        past = saver.history
        start = resumed.epoch + 1 if resumed else 0
        # The saver first, so the other callbacks see each epoch's state after it is safe.
        all_callbacks = [saver, *all_callbacks]
    if live_plot is None:
        live_plot = in_notebook() and not env.is_fast()
    if live_plot:
        all_callbacks.append(LivePlot(past={k: list(v) for k, v in past.items()}))
    if start < epochs:
        history = model.fit(
            train,
            validation_data=val,
            epochs=epochs,
            initial_epoch=start,
            callbacks=all_callbacks,
            shuffle=False,
            verbose=verbose,
        )
    else:  # a finished run: its checkpoint already holds the trained model
        history = keras.callbacks.History()
        history.set_model(model)
    if saver is not None:
        history.history = {k: list(v) for k, v in saver.history.items()}
        history.epoch = list(range(len(next(iter(history.history.values()), []))))
    return history


# ---------------------------------------------------------------- lr_find
