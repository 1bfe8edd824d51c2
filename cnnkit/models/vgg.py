"""VGG (Simonyan and Zisserman 2014): stacks of 3x3 convolutions. MiniVGGNet and VGG-16."""

from __future__ import annotations

import keras
from keras import layers

from .arguments import check_input_shape, check_num_classes, classifier, l2, pool_out

__all__ = ["mini_vgg", "vgg16"]

_VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def mini_vgg(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    batch_norm: bool = True,
    conv_dropout: float = 0.25,
    dropout: float = 0.5,
    reg: float | None = None,
    bn_momentum: float = 0.9,
    classifier_activation: str | None = "softmax",
    name: str = "mini_vgg",
) -> keras.Model:
    """MiniVGGNet of the slides: two (CONV => ReLU => BN) pairs per stage, then FC 512.

    ==========================  ============  ==========
    layer                       output size   kernel
    ==========================  ============  ==========
    INPUT                       32x32x3
    CONV, ReLU, BN              32x32x32      3x3, K=32
    CONV, ReLU, BN              32x32x32      3x3, K=32
    POOL, DROPOUT 0.25          16x16x32      max 2x2
    CONV, ReLU, BN              16x16x64      3x3, K=64
    CONV, ReLU, BN              16x16x64      3x3, K=64
    POOL, DROPOUT 0.25          8x8x64        max 2x2
    FC, ReLU, BN, DROPOUT 0.5   512
    FC, softmax                 num_classes
    ==========================  ============  ==========

    All convolutions use "same" padding. With the defaults: 2,171,178 parameters and about
    26.6M multiply-accumulates per image.

    Args:
        input_shape: (height, width, channels) of one image; at least 4x4.
        num_classes: number of classes, >= 2.
        batch_norm: batch normalisation after every ReLU; ``False`` drops the five BN layers
            (the ablation of the notebook, 2,168,362 parameters).
        conv_dropout: dropout rate after each pooling; 0 keeps the Dropout layers as no-ops.
        dropout: dropout rate after the hidden FC layer.
        reg: L2 weight decay on every kernel (the course tries about 1e-3), or None.
        bn_momentum: momentum of the batch-norm moving statistics. 0.9 (PyTorch's default)
            rather than Keras' 0.99, so the statistics used at inference settle within the
            few hundred steps of a workshop run; at 0.99, a run of a few epochs on a couple
            of thousand images validates near chance although training accuracy climbs.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; layers are ``block1_conv1``, ``block1_relu1``, ``block1_bn1`` ...
            ``block2_pool``, ``block2_dropout``, ``fc1``, ``fc1_relu``, ``fc1_bn``,
            ``fc1_dropout``, ``fc2``, ``softmax``.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/06_minivgg.ipynb.
    """
    shape = check_input_shape(
        input_shape,
        "mini_vgg",
        out_size=lambda s: pool_out(pool_out(s, 2, 2), 2, 2),
        why="its two 2x2 poolings",
    )
    check_num_classes(num_classes)
    inputs = keras.Input(shape, name="input")
    x = inputs
    for block, filters in enumerate((32, 64), start=1):
        for index in (1, 2):
            prefix = f"block{block}"
            x = layers.Conv2D(
                filters,
                3,
                padding="same",
                kernel_regularizer=l2(reg),
                name=f"{prefix}_conv{index}",
            )(x)
            x = layers.Activation("relu", name=f"{prefix}_relu{index}")(x)
            if batch_norm:
                x = layers.BatchNormalization(momentum=bn_momentum, name=f"{prefix}_bn{index}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(conv_dropout, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, kernel_regularizer=l2(reg), name="fc1")(x)
    x = layers.Activation("relu", name="fc1_relu")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=bn_momentum, name="fc1_bn")(x)
    x = layers.Dropout(dropout, name="fc1_dropout")(x)
    x = layers.Dense(num_classes, kernel_regularizer=l2(reg), name="fc2")(x)
    outputs = classifier(x, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def vgg16(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    classifier_activation: str | None = "softmax",
    name: str = "vgg16",
) -> keras.Model:
    """VGG-16, configuration D of the paper, as `keras.applications.VGG16` builds it.

    Five stages of 3x3 "same" convolutions with ReLU (64, 64 | 128, 128 | 256 x3 | 512 x3 |
    512 x3), each closed by a 2x2 max-pool, then FC 4096, FC 4096 and FC softmax: 13 + 3 =
    16 weight layers. With the defaults: 138,357,544 parameters and about 15.47G
    multiply-accumulates per 224x224 image; layer names match Keras' (``block1_conv1`` ...
    ``block5_pool``, ``flatten``, ``fc1``, ``fc2``, ``predictions``), and the weights of
    `keras.applications.VGG16` copy over with ``model.set_weights``.

    Args:
        input_shape: (height, width, 3); at least 32x32 for the five poolings.
        num_classes: number of classes, >= 2.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/06_minivgg.ipynb.
    """

    def out_size(side: int) -> int:
        for _ in _VGG16_STAGES:
            side = pool_out(side, 2, 2)
        return side

    shape = check_input_shape(
        input_shape, "vgg16", channels=3, out_size=out_size, why="its five 2x2 poolings"
    )
    check_num_classes(num_classes)
    inputs = keras.Input(shape, name="input")
    x = inputs
    for block, (filters, repeats) in enumerate(_VGG16_STAGES, start=1):
        for index in range(1, repeats + 1):
            x = layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"block{block}_conv{index}"
            )(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(4096, activation="relu", name="fc1")(x)
    x = layers.Dense(4096, activation="relu", name="fc2")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
