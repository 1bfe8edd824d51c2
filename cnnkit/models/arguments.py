"""What every builder and block does with its arguments: check them, turn ``reg`` into L2.

Shared by the modules of ``cnnkit.models``; a builder validates ``input_shape`` and
``num_classes`` here, at the door, with the wording Keras uses for its own arguments.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import keras

__all__ = ["ceil_div", "check_input_shape", "check_num_classes", "classifier", "l2", "pool_out"]


def l2(reg: float | None):
    return keras.regularizers.L2(reg) if reg else None


def check_num_classes(num_classes: int) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(
            "`num_classes` must be an integer >= 2: a softmax classifier needs at least two "
            f"classes. Received: num_classes={num_classes!r}"
        )


def check_input_shape(
    input_shape: Sequence[int],
    network: str,
    *,
    channels: int | None = None,
    out_size: Callable[[int], int] | None = None,
    why: str = "",
) -> tuple[int, int, int]:
    """Validate (height, width, channels); ``out_size(side)`` is the smallest feature-map side."""
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else ()
    if len(shape) != 3 or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(
            "`input_shape` must be (height, width, channels) with three positive integers, "
            f"channels last. Received: input_shape={input_shape!r}"
        )
    shape = tuple(int(s) for s in shape)
    if channels is not None and shape[2] != channels:
        raise ValueError(
            f"`input_shape` must have {channels} channels for {network}: its layer table and "
            f"published parameter count assume RGB images. Received: input_shape={shape}"
        )
    if out_size is not None and min(out_size(shape[0]), out_size(shape[1])) < 1:
        smallest = next(s for s in range(1, 4097) if out_size(s) >= 1)
        raise ValueError(
            f"`input_shape` is too small for {network}: {why} need at least "
            f"{smallest}x{smallest}. Received: input_shape={shape}"
        )
    return shape


def pool_out(size: int, pool: int, stride: int) -> int:
    """Side after a "valid" window ``pool`` moved by ``stride``; 0 when it does not fit."""
    return 0 if size < pool else (size - pool) // stride + 1


def ceil_div(size: int, stride: int) -> int:
    return math.ceil(size / stride)


def classifier(x, activation: str | None, *, name: str = "softmax"):
    """A builder's output layer: ``activation`` (``classifier_activation``) over the logits.

    The layer keeps the kit's name ``name`` for the default softmax; any other activation
    (None gives the logits) is named as in keras.applications, ``predictions``.
    """
    layer_name = name if activation == "softmax" else name.replace("softmax", "predictions")
    return keras.layers.Activation(activation, name=layer_name)(x)
