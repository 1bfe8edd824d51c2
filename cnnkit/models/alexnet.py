"""AlexNet (Krizhevsky, Sutskever and Hinton 2012) as the slides tabulate it, and a CIFAR twin."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from .arguments import check_input_shape, check_num_classes, classifier, l2, pool_out

__all__ = ["alexnet", "alexnet_cifar"]


def _alexnet_layers(
    x,
    convs: Sequence[tuple[int, int, int, str]],
    pool_after: Sequence[int],
    pool_padding: str,
    dense_units: int,
    num_classes: int,
    *,
    conv_dropout: float,
    dropout: float,
    reg: float | None,
    bn_momentum: float,
    classifier_activation: str | None,
):
    """5 x (CONV, ReLU, BN [, POOL 3x3/2, DROPOUT]), 2 x (FC, ReLU, BN, DROPOUT), FC softmax."""
    for index, (filters, kernel, stride, padding) in enumerate(convs, start=1):
        x = layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding=padding,
            kernel_regularizer=l2(reg),
            name=f"conv{index}",
        )(x)
        x = layers.Activation("relu", name=f"relu{index}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{index}")(x)
        if index in pool_after:
            x = layers.MaxPooling2D(3, strides=2, padding=pool_padding, name=f"pool{index}")(x)
            x = layers.Dropout(conv_dropout, name=f"dropout{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    for index in (6, 7):
        x = layers.Dense(dense_units, kernel_regularizer=l2(reg), name=f"fc{index}")(x)
        x = layers.Activation("relu", name=f"relu{index}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{index}")(x)
        x = layers.Dropout(dropout, name=f"dropout{index}")(x)
    x = layers.Dense(num_classes, kernel_regularizer=l2(reg), name="fc8")(x)
    return classifier(x, classifier_activation)


def alexnet(
    input_shape: tuple[int, int, int] = (227, 227, 3),
    num_classes: int = 1000,
    *,
    conv_dropout: float = 0.25,
    dropout: float = 0.5,
    reg: float | None = None,
    bn_momentum: float = 0.9,
    classifier_activation: str | None = "softmax",
    name: str = "alexnet",
) -> keras.Model:
    """AlexNet of the slides' table: 5 CONV + 3 FC, with batch norm and dropout.

    =========================  ==============  ======================
    layer                      output size     kernel
    =========================  ==============  ======================
    INPUT                      227x227x3       (224 in the paper is a typo)
    CONV, ReLU, BN             55x55x96        11x11, stride 4, K=96
    POOL, DROPOUT 0.25         27x27x96        max 3x3, stride 2
    CONV, ReLU, BN             27x27x256       5x5, K=256, same
    POOL, DROPOUT 0.25         13x13x256       max 3x3, stride 2
    CONV, ReLU, BN             13x13x384       3x3, K=384, same
    CONV, ReLU, BN             13x13x384       3x3, K=384, same
    CONV, ReLU, BN             13x13x256       3x3, K=256, same
    POOL, DROPOUT 0.25         6x6x256         max 3x3, stride 2
    FC, ReLU, BN, DROPOUT 0.5  4096
    FC, ReLU, BN, DROPOUT 0.5  4096
    FC, softmax                num_classes
    =========================  ==============  ======================

    62,416,616 parameters with 1,000 classes (the paper's "60 million"; 19,136 of them are
    BN moving statistics), about 1.14G multiply-accumulates per 227x227 image. Unlike the
    paper, the table uses batch norm after each ReLU instead of local response
    normalisation, dropout after the poolings too, and one GPU instead of two half-width
    towers.

    Args:
        input_shape: (height, width, 3); at least 67x67 so the three poolings fit.
        num_classes: number of classes, >= 2.
        conv_dropout: dropout rate after each pooling.
        dropout: dropout rate after each hidden FC layer.
        reg: L2 weight decay on every kernel, or None.
        bn_momentum: momentum of the batch-norm moving statistics. 0.9 (PyTorch's default)
            rather than Keras' 0.99, so the statistics used at inference settle within the
            few hundred steps of a workshop run; at 0.99, a run of a few epochs on a couple
            of thousand images validates near chance although training accuracy climbs.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; layers are ``conv1`` ... ``conv5``, ``fc6`` ... ``fc8``, with
            ``relu{i}``, ``bn{i}``, ``pool{i}``, ``dropout{i}`` beside them.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/05_alexnet.ipynb.
    """
    shape = check_input_shape(
        input_shape,
        "alexnet",
        channels=3,
        out_size=lambda s: pool_out(pool_out(pool_out(pool_out(s, 11, 4), 3, 2), 3, 2), 3, 2),
        why="its 11x11 stride-4 conv and three 3x3 stride-2 poolings",
    )
    check_num_classes(num_classes)
    inputs = keras.Input(shape, name="input")
    convs = [
        (96, 11, 4, "valid"),
        (256, 5, 1, "same"),
        (384, 3, 1, "same"),
        (384, 3, 1, "same"),
        (256, 3, 1, "same"),
    ]
    outputs = _alexnet_layers(
        inputs,
        convs,
        (1, 2, 5),
        "valid",
        4096,
        num_classes,
        conv_dropout=conv_dropout,
        dropout=dropout,
        reg=reg,
        bn_momentum=bn_momentum,
        classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)


def alexnet_cifar(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    conv_dropout: float = 0.25,
    dropout: float = 0.5,
    reg: float | None = 5e-4,
    bn_momentum: float = 0.9,
    classifier_activation: str | None = "softmax",
    name: str = "alexnet_cifar",
) -> keras.Model:
    """A CIFAR-sized AlexNet that trains on a laptop CPU: AlexNet's pattern, scaled down.

    It keeps what makes AlexNet AlexNet: five CONV layers (the first with the largest
    kernel, then two poolings early and three stacked 3x3 convolutions before the last),
    overlapping 3x3 stride-2 max-pooling, ReLU, batch norm after each ReLU, dropout, and
    three FC layers. It differs from `alexnet` in:

    - the first CONV: 5x5 stride 1 with 32 filters (not 11x11 stride 4 with 96): a 32x32
      image cannot afford a stride-4 start;
    - widths 32, 64, 96, 96, 64 instead of 96, 256, 384, 384, 256, and 256-unit FC layers
      instead of 4096;
    - "same" padding in the poolings, so sizes halve cleanly: 32 -> 16 -> 8 -> 4;
    - L2 weight decay 5e-4 by default.

    ==================  ============  ===================
    layer               output size   kernel
    ==================  ============  ===================
    INPUT               32x32x3
    CONV, ReLU, BN      32x32x32      5x5, K=32, same
    POOL, DROPOUT       16x16x32      max 3x3, stride 2
    CONV, ReLU, BN      16x16x64      3x3, K=64, same
    POOL, DROPOUT       8x8x64        max 3x3, stride 2
    CONV, ReLU, BN      8x8x96        3x3, K=96, same
    CONV, ReLU, BN      8x8x96        3x3, K=96, same
    CONV, ReLU, BN      8x8x64        3x3, K=64, same
    POOL, DROPOUT       4x4x64        max 3x3, stride 2
    FC x2, ReLU, BN     256
    FC, softmax         num_classes
    ==================  ============  ===================

    With the defaults: 548,938 parameters (AlexNet: 62.4M) and about 19.9M
    multiply-accumulates per image, less than `mini_vgg`'s 26.6M, so an epoch costs less
    than MiniVGGNet's on a CPU.

    Args:
        input_shape: (height, width, channels) of one image.
        num_classes: number of classes, >= 2.
        conv_dropout: dropout rate after each pooling.
        dropout: dropout rate after each hidden FC layer.
        reg: L2 weight decay on every kernel, or None.
        bn_momentum: momentum of the batch-norm moving statistics. 0.9 (PyTorch's default)
            rather than Keras' 0.99, so the statistics used at inference settle within the
            few hundred steps of a workshop run; at 0.99, a run of a few epochs on a couple
            of thousand images validates near chance although training accuracy climbs.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; layer names as in `alexnet`.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/05_alexnet.ipynb.
    """
    shape = check_input_shape(input_shape, "alexnet_cifar")
    check_num_classes(num_classes)
    inputs = keras.Input(shape, name="input")
    convs = [
        (32, 5, 1, "same"),
        (64, 3, 1, "same"),
        (96, 3, 1, "same"),
        (96, 3, 1, "same"),
        (64, 3, 1, "same"),
    ]
    outputs = _alexnet_layers(
        inputs,
        convs,
        (1, 2, 5),
        "same",
        256,
        num_classes,
        conv_dropout=conv_dropout,
        dropout=dropout,
        reg=reg,
        bn_momentum=bn_momentum,
        classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)
