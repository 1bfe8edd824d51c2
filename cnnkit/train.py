"""Training that survives and goes fast: ``fit()``, learning-rate schedules, ``lr_find()``, TTA.

One scaling rule for the whole kit: images are stored as uint8 in [0, 255] and the model sees
float32 in [0, 1]. :func:`fit`, :func:`lr_find` and :func:`tta_predict` apply it in their input
pipelines, and :func:`prepare` applies it everywhere else (``cnnkit.report.evaluate``, a
notebook's own ``model.predict(cnnkit.train.prepare(x))``), so models never need a Rescaling
layer and every caller agrees.

The input pipeline (``tf.data``, TensorFlow-only like ``keras.utils.image_dataset_from_directory``)
keeps images as uint8 until a batch is drawn, shuffles indices rather than images, scales and
augments whole batches at once, and prefetches the next batch while the model trains on this one.
See notebooks/06_minivgg.ipynb.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from . import env

__all__ = [
    "AUGMENTS",
    "OPTIMIZERS",
    "SCHEDULES",
    "LRFinderResult",
    "OneCycle",
    "cosine",
    "fit",
    "lr_find",
    "make_dataset",
    "make_schedule",
    "one_cycle",
    "predict",
    "prepare",
    "step_decay",
    "tta_predict",
]

SCHEDULES = ("one_cycle", "cosine", "step", "constant")
"""Names :func:`fit` accepts for ``schedule`` (or pass a ``LearningRateSchedule``)."""

OPTIMIZERS = ("sgd", "adam", "adamw")
"""Names :func:`fit` accepts for ``optimizer`` (or pass a ``keras.optimizers.Optimizer``)."""

AUGMENTS = ("flip", "shift", "flip_shift")
"""Names :func:`fit` accepts for ``augment``: horizontal flips, pad-4-and-crop shifts, both."""

_DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3}
_SHIFT_PAD = 4  # pixels: the classic CIFAR-10 recipe (pad 4, crop 32x32)


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


# ---------------------------------------------------------------- schedules


@keras.saving.register_keras_serializable(package="cnnkit")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle policy (Smith and Topping 2019), with cosine ramps as in PyTorch's OneCycleLR.

    The rate climbs from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    the steps, then anneals to ``max_lr / (div_factor * final_div_factor)`` at ``total_steps``
    and stays there.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.25,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ):
        self.max_lr = float(max_lr)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        start = self.max_lr / self.div_factor
        end = start / self.final_div_factor
        up = max(float(self.pct_start * self.total_steps) - 1.0, 1.0)
        down = max(float(self.total_steps) - 1.0 - up, 1.0)
        rise = ops.clip(step / up, 0.0, 1.0)
        fall = ops.clip((step - up) / down, 0.0, 1.0)
        lr_up = self.max_lr + (start - self.max_lr) * (1.0 + ops.cos(math.pi * rise)) / 2.0
        lr_down = end + (self.max_lr - end) * (1.0 + ops.cos(math.pi * fall)) / 2.0
        return ops.where(step <= up, lr_up, lr_down)

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


def one_cycle(
    max_lr: float, total_steps: int, *, pct_start: float = 0.25, div_factor: float = 25.0
) -> OneCycle:
    """One-cycle learning rate: warm up to ``max_lr``, then cosine-anneal to nearly zero.

    Args:
        max_lr: the peak learning rate, reached after ``pct_start * total_steps`` steps.
        total_steps: optimizer steps in the whole run (epochs x batches per epoch).
        pct_start: fraction of the steps spent warming up.
        div_factor: the run starts at ``max_lr / div_factor``.

    Returns:
        A ``keras.optimizers.schedules.LearningRateSchedule`` (step -> float32 rate).
    """
    _check_steps(total_steps)
    if not 0.0 < pct_start < 1.0:
        raise ValueError(f"`pct_start` must be between 0 and 1. Received: pct_start={pct_start}")
    return OneCycle(max_lr, total_steps, pct_start=pct_start, div_factor=div_factor)


def cosine(
    initial_lr: float, total_steps: int, *, warmup_steps: int = 0, alpha: float = 0.0
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Cosine decay (Loshchilov and Hutter 2017) from ``initial_lr`` to ``alpha * initial_lr``.

    Args:
        initial_lr: the rate after warm-up.
        total_steps: optimizer steps in the whole run, warm-up included.
        warmup_steps: steps of linear warm-up from 0 to ``initial_lr``.
        alpha: the final rate as a fraction of ``initial_lr``.

    Returns:
        A ``keras.optimizers.schedules.CosineDecay``.
    """
    _check_steps(total_steps)
    if warmup_steps:
        return keras.optimizers.schedules.CosineDecay(
            0.0,
            total_steps - warmup_steps,
            alpha=alpha,
            warmup_target=initial_lr,
            warmup_steps=warmup_steps,
        )
    return keras.optimizers.schedules.CosineDecay(initial_lr, total_steps, alpha=alpha)


def step_decay(
    initial_lr: float, step_size: int, *, drop: float = 0.5
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Step decay: multiply the rate by ``drop`` every ``step_size`` optimizer steps.

    With ``step_size`` set to an epoch's batches times E, the rate drops every E epochs, as in
    the slides' ``alpha = alpha_0 * drop ** floor(epoch / E)``.

    Returns:
        A staircase ``keras.optimizers.schedules.ExponentialDecay``.
    """
    _check_steps(step_size, "step_size")
    return keras.optimizers.schedules.ExponentialDecay(
        initial_lr, decay_steps=step_size, decay_rate=drop, staircase=True
    )


def make_schedule(
    schedule: str | keras.optimizers.schedules.LearningRateSchedule | None,
    learning_rate: float,
    total_steps: int,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate :func:`fit` hands its optimizer for a schedule name.

    ``"one_cycle"`` peaks at ``learning_rate``; ``"cosine"`` starts there after a 5% warm-up;
    ``"step"`` halves it three times evenly over the run; ``"constant"`` (or None) keeps it.
    """
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return schedule
    if schedule is None or schedule == "constant":
        return float(learning_rate)
    if schedule == "one_cycle":
        return one_cycle(learning_rate, total_steps)
    if schedule == "cosine":
        return cosine(learning_rate, total_steps, warmup_steps=total_steps // 20)
    if schedule == "step":
        return step_decay(learning_rate, max(total_steps // 4, 1))
    raise ValueError(
        f"`schedule` must be one of {', '.join(SCHEDULES)}, None or a LearningRateSchedule. "
        f"Received: schedule={schedule!r}"
    )


def _check_steps(steps: int, name: str = "total_steps") -> None:
    if int(steps) < 1:
        raise ValueError(f"`{name}` must be a positive number of steps. Received: {name}={steps}")


# ---------------------------------------------------------------- the input pipeline


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


def _resolve_jit(jit_compile: bool | None) -> bool | str:
    if jit_compile is not None:
        return jit_compile
    return "auto" if len(env.devices()) > 1 else False


def _make_optimizer(optimizer, learning_rate):
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


def _strip_names(value):
    if isinstance(value, dict):
        return {k: _strip_names(v) for k, v in sorted(value.items()) if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_strip_names(v) for v in value]
    return value


def _fingerprint(model: keras.Model, run: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint belongs to: the architecture (names aside) and the run's arguments."""
    layers = [
        {
            "class": type(layer).__name__,
            "config": _strip_names(layer.get_config()),
            "weights": [list(w.shape) for w in layer.weights],
        }
        for layer in model.layers
    ]
    architecture = json.dumps(layers, sort_keys=True, default=str)
    return {
        "architecture": hashlib.sha256(architecture.encode()).hexdigest(),
        "parameters": int(model.count_params()),
        **run,
    }


def _data_signature(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(str((x.shape, x.dtype.str)).encode())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(np.ascontiguousarray(x[:: max(len(x) // 64, 1)]).tobytes())
    return digest.hexdigest()[:16]


def _check_fingerprint(folder: Path, fingerprint: dict[str, Any]) -> None:
    path = folder / "fingerprint.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != fingerprint:
            keys = set(stored) | set(fingerprint)
            differ = sorted(k for k in keys if stored.get(k) != fingerprint.get(k))
            raise ValueError(
                "`checkpoint_dir` holds the checkpoint of a different run (it differs in: "
                f"{', '.join(differ)}), so it was not loaded. Pass a new `checkpoint_dir`, or "
                f"delete this one to start over. Received: checkpoint_dir='{folder}'"
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))


def _read_log(path: Path) -> dict[str, list[float]]:
    """The per-epoch logs a CSVLogger wrote, across restarts (a re-run epoch keeps its last row)."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f)}
    history: dict[str, list[float]] = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if key != "epoch" and value not in ("", None):
                history.setdefault(key, []).append(float(value))
    return history


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
    seed: int | None = None,
    verbose: int | str = "auto",
) -> keras.callbacks.History:
    """Compile and train an image classifier on a ``cnnkit.data`` record, resumably.

    ``fit`` compiles ``model`` for integer labels (sparse categorical cross-entropy, accuracy),
    feeds it through :func:`make_dataset` (uint8 scaled to [0, 1] by 1/255, augmentation on the
    fly, prefetching), validates on ``data.x_val`` when it has one, and returns the History.

    With ``checkpoint_dir``, the run survives a crash: Keras' ``BackupAndRestore`` saves the
    weights, optimizer and epoch after every epoch, so calling ``fit`` again with the same
    arguments resumes where the run stopped and trains only the epochs it still owed; the
    returned History covers every epoch, before and after the crash. ``ModelCheckpoint`` keeps
    the best weights so far in ``checkpoint_dir/best.weights.h5`` (by validation accuracy, or
    training loss without a validation split). A checkpoint made by a different model, other
    arguments or other data is refused with a ValueError rather than loaded. A finished run
    leaves its final state there, so a second call restores the trained model at once.

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
        steps_per_execution: batches run per call into the compiled graph.
        jit_compile: XLA compilation, passed to ``model.compile``; None means on an
            accelerator only (on CPU, TensorFlow's XLA convolutions train these CNNs about
            3x slower than its default oneDNN kernels).
        seed: seed of the shuffle and augmentation.
        verbose: Keras' progress output (``"auto"``, 0, 1, 2).

    Returns:
        The ``keras.callbacks.History``; ``history.history`` maps each metric to one value
        per epoch. See notebooks/06_minivgg.ipynb.
    """
    if int(epochs) < 1:
        raise ValueError(f"`epochs` must be a positive integer. Received: epochs={epochs}")
    if int(batch_size) < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size}"
        )
    x_train, y_train = np.asarray(data.x_train), np.asarray(data.y_train)
    if x_train.ndim != 4 or len(x_train) != len(y_train) or not len(x_train):
        raise ValueError(
            "`data` must hold (N, H, W, C) training images and N labels, N > 0. "
            f"Received: x_train.shape={x_train.shape}, y_train.shape={y_train.shape}"
        )
    x_val = getattr(data, "x_val", None)
    has_val = x_val is not None and len(x_val) > 0
    name = optimizer if isinstance(optimizer, str) else type(optimizer).__name__.lower()
    if learning_rate is None:
        learning_rate = _DEFAULT_LR.get(name, 1e-3)
    steps = math.ceil(len(x_train) / batch_size)
    lr = make_schedule(schedule, learning_rate, steps * epochs)

    def _compile():
        model.compile(
            optimizer=_make_optimizer(optimizer, lr),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
            jit_compile=_resolve_jit(jit_compile),
        )

    if distribute:
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
    log_path = None
    if checkpoint_dir is not None:
        folder = Path(checkpoint_dir)
        run = {
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "optimizer": name,
            "learning_rate": float(learning_rate),
            "schedule": schedule if isinstance(schedule, str) or schedule is None else repr(lr),
            "augment": augment if isinstance(augment, str) or augment is None else "callable",
            "data": _data_signature(x_train, y_train),
        }
        _check_fingerprint(folder, _fingerprint(model, run))
        log_path = folder / "history.csv"
        past = _read_log(log_path)
        monitor, mode = ("val_accuracy", "max") if has_val else ("loss", "min")
        best = past.get(monitor)
        # BackupAndRestore first, so the others see the restored model and epoch.
        all_callbacks = [
            keras.callbacks.BackupAndRestore(folder / "backup", delete_checkpoint=False),
            keras.callbacks.ModelCheckpoint(
                folder / "best.weights.h5",
                monitor=monitor,
                mode=mode,
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=(max(best) if mode == "max" else min(best))
                if best
                else None,
            ),
            keras.callbacks.CSVLogger(log_path, append=True),
            *all_callbacks,
        ]
    from . import viz  # viz imports this module for prepare(): import it here, not at the top

    if live_plot is None:
        live_plot = viz._in_notebook() and not env.is_fast()
    if live_plot:
        all_callbacks.append(viz.LivePlot(past=past))
    if not model.built:
        model.build((None, *x_train.shape[1:]))
    history = model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        callbacks=all_callbacks,
        shuffle=False,
        verbose=verbose,
    )
    if log_path is not None:
        history.history = _read_log(log_path)
        history.epoch = list(range(len(next(iter(history.history.values()), []))))
    return history


# ---------------------------------------------------------------- lr_find


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


class _BatchLoss(keras.callbacks.Callback):
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
    _check_steps(steps, "steps")
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    if not model.built:
        model.build((None, *x.shape[1:]))
    saved = model.get_weights()
    rates = keras.optimizers.schedules.ExponentialDecay(
        min_lr, decay_steps=steps, decay_rate=max_lr / min_lr
    )
    model.compile(
        optimizer=_make_optimizer(optimizer, rates),
        loss="sparse_categorical_crossentropy",
    )
    recorder = _BatchLoss(blowup=4.0)
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


# ---------------------------------------------------------------- test-time augmentation


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
