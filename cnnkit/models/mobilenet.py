"""MobileNet v1 (Howard et al. 2017): depthwise separable convolutions."""

from __future__ import annotations

import keras
from keras import layers

from .arguments import check_input_shape, check_num_classes, classifier
from .blocks import depthwise_separable

__all__ = ["mobilenet"]

# (pointwise filters, stride) of the 13 depthwise separable blocks, Table 1 of the paper.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))  # fmt: skip


def mobilenet(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    alpha: float = 1.0,
    separable: bool = True,
    dropout: float = 1e-3,
    classifier_activation: str | None = "softmax",
    name: str | None = None,
) -> keras.Model:
    """MobileNet v1: a 3x3 stride-2 conv, 13 depthwise separable blocks, global pool, FC.

    Each block is a 3x3 depthwise conv, BN, ReLU6, then a 1x1 pointwise conv, BN, ReLU6
    (`cnnkit.models.blocks.depthwise_separable`); five of them have stride 2
    (224 -> 112 -> 56 -> 28 -> 14 -> 7). 28 weight layers deep.

    With the defaults: 4,253,864 parameters, as `keras.applications.MobileNet`, and about
    569M multiply-accumulates per 224x224 image (the paper's 569M mult-adds).
    ``separable=False`` replaces each block by a full 3x3 conv, the paper's "Conv
    MobileNet": about 29.3M parameters and 4,866M mult-adds, for 71.7% instead of 70.6%
    ImageNet accuracy. ``alpha`` (the width multiplier) scales every layer's channels.

    Args:
        input_shape: (height, width, 3).
        num_classes: number of classes, >= 2.
        alpha: width multiplier, > 0; 1.0, 0.75, 0.5 and 0.25 in the paper.
        separable: False gives the "Conv MobileNet" with full convolutions.
        dropout: dropout rate before the classifier (Keras' default 1e-3).
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; ``"mobilenet"`` or ``"conv_mobilenet"`` by default. Layers are
            ``conv1``, ``conv1_bn``, ``conv1_relu``, ``block1_dw`` ... ``block13_pw_relu``,
            ``avg_pool``, ``dropout``, ``fc``, ``softmax``.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/08_resnet.ipynb.
    """
    shape = check_input_shape(input_shape, "mobilenet", channels=3)
    check_num_classes(num_classes)
    if not alpha > 0:
        raise ValueError(
            f"`alpha` must be a positive width multiplier, e.g. 1.0, 0.75, 0.5 or 0.25. "
            f"Received: alpha={alpha}"
        )
    inputs = keras.Input(shape, name="input")
    x = layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(
        inputs
    )
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.Activation("relu6", name="conv1_relu")(x)
    for index, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = depthwise_separable(
            x, int(filters * alpha), strides=stride, separable=separable, name=f"block{index}"
        )
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="fc")(x)
    outputs = classifier(x, classifier_activation)
    default = "mobilenet" if separable else "conv_mobilenet"
    return keras.Model(inputs, outputs, name=name or default)
