"""Learning-rate schedules: one-cycle, cosine with warm-up, step decay, and a name lookup."""

from __future__ import annotations

import math
from typing import Any

import keras

__all__ = [
    "SCHEDULES",
    "OneCycle",
    "check_steps",
    "cosine",
    "make_schedule",
    "one_cycle",
    "step_decay",
]

SCHEDULES = ("one_cycle", "cosine", "step", "constant")
"""Names :func:`fit` accepts for ``schedule`` (or pass a ``LearningRateSchedule``)."""


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
    check_steps(total_steps)
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
    check_steps(total_steps)
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
    check_steps(step_size, "step_size")
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


def check_steps(steps: int, name: str = "total_steps") -> None:
    if int(steps) < 1:
        raise ValueError(f"`{name}` must be a positive number of steps. Received: {name}={steps}")
