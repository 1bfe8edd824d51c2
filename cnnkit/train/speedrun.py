"""The CIFAR-10 speed run: airbench94's training recipe for the ``speedrun`` network.

One call, :func:`speedrun`, trains the network of :func:`cnnkit.models.speedrun` with the
recipe of Keller Jordan's airbench94 (2024): whitening initialisation from 2x2 training
patches, Nesterov SGD with a large rate on the summed loss, a triangular schedule, batch-norm
biases at 64x the rate, label smoothing 0.2, a Lookahead-style exponential moving average of
the weights, alternating flips, 2-pixel translations, and test-time augmentation with mirrored
and shifted views.

The images stay one uint8 NumPy array; each step takes its batch of them (uint8) and scales,
flips and shifts it inside the compiled training step. The loop is TensorFlow-only
(``tf.function`` and ``GradientTape``): on a CPU it measured 3-5x faster than the same network
on JAX.

See notebooks/12_cifar10_speedrun.ipynb.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from ..models.speedrun import init_whitening
from ..models.speedrun import speedrun as speedrun_net

__all__ = ["FLIPS", "SPEEDRUN_CPU", "SpeedrunResult", "flip_schedule", "speedrun", "triangle"]

FLIPS = ("alternating", "random", None)
"""Values :func:`speedrun` accepts for ``flip`` (see :func:`flip_schedule`)."""

SPEEDRUN_CPU = {"widths": (32, 128, 128), "epochs": 7, "batch_size": 512}
"""The CPU recipe: airbench94's recipe on blocks of a quarter of its MACs (33.1M per image).

Sized for 15 minutes of training on two CPU cores. On the 2-core reference machine
(AMD EPYC, AVX2, TensorFlow 2.21) this network trains about 320 images per second, about
125 s per epoch of 40,000 images; the full width (64, 256, 256; 118M MACs) manages about 70
per CPU second, so airbench's own 9.9 epochs would take about an hour. Batches of 512 keep
the peak memory under a Binder session's 2 GB (batches of 1,024 went over 3 GB). Pass it as
``speedrun(data, **SPEEDRUN_CPU)``.
"""


@dataclass
class SpeedrunResult:
    """What :func:`speedrun` returns.

    Attributes:
        model: the trained network (softmax outputs).
        accuracy: accuracy on the evaluation images with test-time augmentation (``tta_level``).
        accuracy_plain: the same without test-time augmentation.
        eval_split: ``"test"`` or ``"val"``: which split of the data was evaluated.
        train_seconds: wall seconds of training (whitening set-up included, evaluation not).
        train_cpu_seconds: CPU seconds the process used in those periods (all threads).
        images_seen: training images the steps consumed (epochs x batches x batch size).
        history: one dict per epoch: ``epoch``, ``seconds`` and ``cpu_seconds`` (cumulative
            training time at the end of the epoch), ``loss`` (mean smoothed loss of its steps),
            ``train_accuracy`` and, when ``eval_every_epoch``, ``accuracy`` (no TTA).
        config: the settings of the run.
    """

    model: keras.Model
    accuracy: float
    accuracy_plain: float
    eval_split: str
    train_seconds: float
    train_cpu_seconds: float
    images_seen: int
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def triangle(
    steps: int, *, start: float = 0.2, peak: float = 1.0, end: float = 0.07, peak_at: float = 0.23
) -> np.ndarray:
    """Learning-rate multipliers of a triangular schedule, one per step (``steps + 1`` values).

    Linear from ``start`` up to ``peak`` at step ``round(peak_at * steps)``, then linear down to
    ``end`` at step ``steps``.
    """
    top = int(peak_at * steps)
    return np.interp(np.arange(steps + 1), [0, top, steps], [start, peak, end]).astype(np.float32)


def flip_schedule(n: int, epochs: int, *, seed: int = 0, mode: str | None = "alternating"):
    """Which of ``n`` images are mirrored in each epoch: a (epochs, n) boolean array.

    ``"alternating"`` (airbench): a random half is mirrored in epoch 0, and every later epoch
    mirrors exactly the images the previous one did not, so each image is seen both ways
    every two epochs. ``"random"``: a fresh coin per image and epoch. ``None``: no flips.
    """
    if mode not in FLIPS:
        raise ValueError(
            f"`flip` must be one of 'alternating', 'random' or None. Received: flip={mode!r}"
        )
    rng = np.random.default_rng(seed)
    if mode is None:
        return np.zeros((epochs, n), bool)
    if mode == "random":
        return rng.random((epochs, n)) < 0.5
    first = rng.random(n) < 0.5
    return np.stack([first ^ bool(e % 2) for e in range(epochs)])


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _shifted(x, dy: int, dx: int):
    """Images (TF tensor NHWC) moved by (dy, dx) pixels, reflect-padded (TensorFlow)."""
    import tensorflow as tf

    p = max(abs(dy), abs(dx))
    padded = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
    h, w = x.shape[1], x.shape[2]
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w, :]


def _tta_logits(logits_model, images: np.ndarray, *, level: int, batch_size: int) -> np.ndarray:
    """Mean logits over views: level 0 the image, 1 + its mirror, 2 + one-pixel shifts of both."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def views(batch):
        x = tf.cast(batch, tf.float32) / 255.0

        def mirror(v):
            if level == 0:
                return logits_model(v, training=False)
            return 0.5 * (
                logits_model(v, training=False) + logits_model(tf.reverse(v, [2]), training=False)
            )

        out = mirror(x)
        if level >= 2:
            shifted = 0.5 * (mirror(_shifted(x, 1, 1)) + mirror(_shifted(x, -1, -1)))
            out = 0.5 * out + 0.5 * shifted
        return out

    return np.concatenate(
        [
            views(tf.constant(images[i : i + batch_size])).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def speedrun(
    data,
    *,
    epochs: float = 9.9,
    batch_size: int = 1024,
    widths: tuple[int, int, int] = (64, 256, 256),
    learning_rate: float = 11.5,
    momentum: float = 0.85,
    weight_decay: float = 0.0153,
    bias_scaler: float = 64.0,
    label_smoothing: float = 0.2,
    ema: bool = True,
    whiten: bool = True,
    whiten_bias_epochs: int = 3,
    flip: str | None = "alternating",
    translate: int = 2,
    tta_level: int = 2,
    eval_every_epoch: bool = False,
    eval_split: str | None = None,
    seed: int = 0,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> SpeedrunResult:
    """Train the speed-run network on ``data`` with airbench94's recipe and evaluate it.

    Rates are airbench's "decoupled" ones: ``learning_rate`` and ``weight_decay`` are per
    1,024 images, so the step size does not change with ``momentum`` or ``batch_size``.

    Args:
        data: a ``cnnkit.data.Dataset`` with uint8 (N, 32, 32, 3) images; trains on
            ``x_train``, evaluates on ``x_test`` (or ``x_val`` when it has no test split).
        epochs: passes over the training images (fractions end mid-epoch; airbench: 9.9).
        batch_size: images per step (airbench: 1,024); the last partial batch is dropped.
        widths: filters of the network's three blocks.
        learning_rate: peak rate per 1,024 images of the summed loss (airbench: 11.5).
        momentum: Nesterov momentum.
        weight_decay: per 1,024 images, decoupled from the rate.
        bias_scaler: rate multiplier of the batch-norm biases (their decay is not scaled).
        label_smoothing: fraction of each target spread evenly over the classes.
        ema: from epoch 3 on, every 5 steps pull the weights towards a moving average of
            themselves (Lookahead); ``False`` trains plain weights.
        whiten: initialise the first layer from the patch covariance of 5,000 training images;
            ``False`` leaves it random (still frozen).
        whiten_bias_epochs: epochs during which the whitening layer's bias is trained.
        flip: ``"alternating"``, ``"random"`` or None (see :func:`flip_schedule`).
        translate: largest random shift in pixels (reflect padding), 0 for none.
        tta_level: test-time views: 0 the image, 1 plus its mirror, 2 plus one-pixel shifts.
        eval_every_epoch: evaluate (without TTA, outside the training clock) after every epoch.
        eval_split: ``"test"`` or ``"val"``; default the test split when it is not empty.
        seed: seed of the weights, the order, the flips and the shifts.
        on_epoch_end: called with each epoch's history entry (e.g. to print or plot it).

    Returns:
        A :class:`SpeedrunResult`.
    """
    import tensorflow as tf

    x_train, y_train = np.asarray(data.x_train), np.asarray(data.y_train)
    if x_train.dtype != np.uint8 or x_train.ndim != 4:
        raise ValueError(
            "`data.x_train` must be (N, H, W, C) uint8 images. "
            f"Received: dtype={x_train.dtype}, shape={x_train.shape}"
        )
    if eval_split is None:
        eval_split = "test" if len(data.x_test) else "val"
    if eval_split not in ("test", "val"):
        raise ValueError(
            f"`eval_split` must be 'test' or 'val'. Received: eval_split={eval_split!r}"
        )
    x_eval, y_eval = (
        (data.x_test, data.y_test) if eval_split == "test" else (data.x_val, data.y_val)
    )
    if tta_level not in (0, 1, 2):
        raise ValueError(f"`tta_level` must be 0, 1 or 2. Received: tta_level={tta_level!r}")
    if not 0 < batch_size <= len(x_train):
        raise ValueError(
            f"`batch_size` must be between 1 and the {len(x_train)} training images. "
            f"Received: batch_size={batch_size}"
        )
    if epochs <= 0:
        raise ValueError(f"`epochs` must be positive. Received: epochs={epochs}")
    num_classes = data.num_classes
    config = {
        "epochs": epochs,
        "batch_size": batch_size,
        "widths": tuple(widths),
        "learning_rate": learning_rate,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "bias_scaler": bias_scaler,
        "label_smoothing": label_smoothing,
        "ema": ema,
        "whiten": whiten,
        "whiten_bias_epochs": whiten_bias_epochs,
        "flip": flip,
        "translate": translate,
        "tta_level": tta_level,
        "seed": seed,
    }

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    clock, cpu_clock = 0.0, 0.0
    t0, c0 = time.perf_counter(), _cpu_seconds()

    model = speedrun_net(x_train.shape[1:], num_classes, widths=widths)
    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    if whiten:
        init_whitening(model, x_train[rng.permutation(len(x_train))[:5000]])
    whiten_layer = model.get_layer("whiten")

    # airbench's decoupled hyper-parameters -> a plain SGD on the summed loss.
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr = learning_rate / kilostep
    wd = weight_decay * batch_size / kilostep
    params, rates, decays = [], [], []
    for layer in model.layers:
        for v in layer.trainable_weights:
            if v is whiten_layer.kernel:
                continue
            is_bn = isinstance(layer, keras.layers.BatchNormalization)
            rate = lr * bias_scaler if is_bn else lr
            params.append(v)
            rates.append(rate)
            decays.append(wd / rate)
    bias_index = next(i for i, v in enumerate(params) if v is whiten_layer.bias)
    buffers = [tf.Variable(tf.zeros_like(v.value), trainable=False) for v in params]
    ema_vars = [w for w in model.weights if w.dtype == "float32"]
    averages = [tf.Variable(tf.zeros_like(w.value), trainable=False) for w in ema_vars]

    steps_per_epoch = len(x_train) // batch_size
    total_steps = math.ceil(steps_per_epoch * epochs)
    schedule = tf.constant(triangle(total_steps))
    n_epochs = math.ceil(total_steps / steps_per_epoch)
    flips = flip_schedule(len(x_train), n_epochs, seed=seed, mode=flip)

    labels = y_train.astype(np.int32)
    rates_t = tf.constant(rates, tf.float32)
    decays_t = tf.constant(decays, tf.float32)
    size = x_train.shape[1]

    @tf.function(jit_compile=False)
    def train_step(batch, y, flip_mask, step, bias_on):
        # batch: the step's (B, H, W, C) uint8 images, gathered on the host so the whole set
        # is never copied into a TensorFlow tensor (that copy alone is 120 MB for CIFAR-10)
        x = tf.cast(batch, tf.float32) / 255.0
        x = tf.where(flip_mask[:, None, None, None], tf.reverse(x, [2]), x)
        if translate > 0:
            p = translate
            n = tf.shape(batch)[0]
            padded = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
            dy = tf.random.uniform([n, 1], 0, 2 * p + 1, dtype=tf.int32)
            dx = tf.random.uniform([n, 1], 0, 2 * p + 1, dtype=tf.int32)
            x = tf.gather(padded, dy + tf.range(size)[None, :], axis=1, batch_dims=1)
            x = tf.gather(x, dx + tf.range(size)[None, :], axis=2, batch_dims=1)
        target = tf.one_hot(y, num_classes) * (1 - label_smoothing) + label_smoothing / num_classes
        with tf.GradientTape() as tape:
            logits = logits_model(x, training=True)
            loss = tf.reduce_sum(
                tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=logits)
            )
        grads = tape.gradient(loss, params)
        scale = schedule[step]
        for i, (v, g, buf) in enumerate(zip(params, grads, buffers, strict=True)):
            rate = rates_t[i] * scale
            if i == bias_index:
                rate = rate * bias_on
            g = g + decays_t[i] * v
            buf.assign(momentum * buf + g)
            v.assign_sub(rate * (g + momentum * buf))
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, 1, output_type=tf.int32) == y, tf.int32))
        return loss, correct

    @tf.function
    def copy_to_average():
        for w, a in zip(ema_vars, averages, strict=True):
            a.assign(w)

    @tf.function
    def lookahead(decay):
        for w, a in zip(ema_vars, averages, strict=True):
            a.assign(decay * a + (1 - decay) * w)
            w.assign(a)

    clock += time.perf_counter() - t0
    cpu_clock += _cpu_seconds() - c0
    history: list[dict[str, float]] = []
    step, started_ema = 0, False
    ema_every, ema_start = 5, 3
    base_rho = 0.95**ema_every
    for epoch in range(n_epochs):
        t0, c0 = time.perf_counter(), _cpu_seconds()
        bias_on = tf.constant(1.0 if epoch < whiten_bias_epochs else 0.0)
        order = rng.permutation(len(x_train))
        losses, correct, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            idx = order[b * batch_size : (b + 1) * batch_size]
            loss, right = train_step(
                tf.constant(x_train[idx]),
                tf.constant(labels[idx]),
                tf.constant(flips[epoch][idx]),
                tf.constant(step),
                bias_on,
            )
            step += 1
            losses += float(loss)
            correct += int(right)
            seen += len(idx)
            if ema and epoch >= ema_start and step % ema_every == 0:
                if not started_ema:
                    copy_to_average()
                    started_ema = True
                else:
                    lookahead(tf.constant(base_rho * (step / total_steps) ** 3, tf.float32))
        if started_ema:
            lookahead(tf.constant(1.0))
        clock += time.perf_counter() - t0
        cpu_clock += _cpu_seconds() - c0
        entry = {
            "epoch": epoch + 1,
            "seconds": round(clock, 2),
            "cpu_seconds": round(cpu_clock, 2),
            "loss": losses / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
        }
        if eval_every_epoch:
            logits = _tta_logits(logits_model, x_eval, level=0, batch_size=500)
            entry["accuracy"] = float(np.mean(logits.argmax(1) == y_eval))
        history.append(entry)
        if on_epoch_end is not None:
            on_epoch_end(entry)

    plain = _tta_logits(logits_model, x_eval, level=0, batch_size=500)
    tta = (
        plain
        if tta_level == 0
        else _tta_logits(logits_model, x_eval, level=tta_level, batch_size=500)
    )
    return SpeedrunResult(
        model=model,
        accuracy=float(np.mean(tta.argmax(1) == y_eval)),
        accuracy_plain=float(np.mean(plain.argmax(1) == y_eval)),
        eval_split=eval_split,
        train_seconds=clock,
        train_cpu_seconds=cpu_clock,
        images_seen=step * batch_size,
        history=history,
        config=config,
    )
