"""GoogLeNet / Inception v1 (Szegedy et al. 2014) and the slides' MiniGoogLeNet for CIFAR-10."""

from __future__ import annotations

import keras
from keras import layers

from .arguments import ceil_div, check_input_shape, check_num_classes, classifier, pool_out
from .blocks import conv_module, downsample_module, inception_module

__all__ = ["googlenet", "mini_googlenet"]

# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
_INCEPTION_V1 = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

# MiniGoogLeNet of the slides: (num1x1, num3x3) per inception module, an int per downsample.
_MINI_GOOGLENET = ((32, 32), (32, 48), 80, (112, 48), (96, 64), (80, 80), (48, 96), 96,
                   (176, 160), (176, 160))  # fmt: skip


def mini_googlenet(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    dropout: float = 0.5,
    reg: float | None = None,
    bn_momentum: float = 0.9,
    classifier_activation: str | None = "softmax",
    name: str = "mini_googlenet",
) -> keras.Model:
    """MiniGoogLeNet of the slides for CIFAR-10.

    =============================  ============
    module                         output size
    =============================  ============
    INPUT                          32x32x3
    conv module 96, 3x3            32x32x96
    inception(32, 32)              32x32x64
    inception(32, 48)              32x32x80
    downsample(80)                 15x15x160
    inception(112, 48)             15x15x160
    inception(96, 64)              15x15x160
    inception(80, 80)              15x15x160
    inception(48, 96)              15x15x144
    downsample(96)                 7x7x240
    inception(176, 160) x2         7x7x336
    average pool 7x7, DROPOUT 0.5  1x1x336
    FC, softmax                    num_classes
    =============================  ============

    A conv module is CONV => BN => ReLU; an inception module concatenates a 1x1 and a 3x3
    conv module (`cnnkit.models.blocks.inception_module`); a downsample module
    concatenates a 3x3 stride-2 conv module and a 3x3 stride-2 max-pool
    (`cnnkit.models.blocks.downsample_module`). 1,654,538 parameters and about 235M
    multiply-accumulates per image with the defaults.

    Args:
        input_shape: (height, width, channels); at least 31x31 so that the 7x7 average
            pool fits after the two downsample modules.
        num_classes: number of classes, >= 2.
        dropout: dropout rate before the classifier.
        reg: L2 weight decay on every kernel, or None.
        bn_momentum: momentum of the batch-norm moving statistics. 0.9 (PyTorch's default)
            rather than Keras' 0.99, so the statistics used at inference settle within the
            few hundred steps of a workshop run; at 0.99, a run of a few epochs on a couple
            of thousand images validates near chance although training accuracy climbs.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; modules are ``conv1``, ``inception1`` ... ``inception8``,
            ``downsample1``, ``downsample2``, then ``avg_pool``, ``dropout``, ``flatten``,
            ``fc``, ``softmax``.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/07_googlenet.ipynb.
    """
    shape = check_input_shape(
        input_shape,
        "mini_googlenet",
        out_size=lambda s: pool_out(pool_out(pool_out(s, 3, 2), 3, 2), 7, 7),
        why="its two 3x3 stride-2 downsample modules and the 7x7 average pool",
    )
    check_num_classes(num_classes)
    inputs = keras.Input(shape, name="input")
    x = conv_module(inputs, 96, 3, reg=reg, bn_momentum=bn_momentum, name="conv1")
    n_inception = n_downsample = 0
    for spec in _MINI_GOOGLENET:
        if isinstance(spec, int):
            n_downsample += 1
            x = downsample_module(
                x, spec, reg=reg, bn_momentum=bn_momentum, name=f"downsample{n_downsample}"
            )
        else:
            n_inception += 1
            x = inception_module(
                x, *spec, reg=reg, bn_momentum=bn_momentum, name=f"inception{n_inception}"
            )
    x = layers.AveragePooling2D(7, name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(num_classes, kernel_regularizer=keras.regularizers.L2(reg) if reg else None,
                     name="fc")(x)  # fmt: skip
    outputs = classifier(x, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def _aux_head(x, num_classes: int, name: str, classifier_activation: str | None):
    """The paper's auxiliary classifier: avg pool 5x5/3, 1x1 conv 128, FC 1024, dropout 0.7, FC."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_avg_pool")(x)
    x = conv_module(x, 128, 1, batch_norm=False, name=f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc1")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    x = layers.Dense(num_classes, name=f"{name}_fc2")(x)
    return classifier(x, classifier_activation, name=f"{name}_softmax")


def googlenet(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    aux_heads: bool = False,
    batch_norm: bool = False,
    dropout: float = 0.4,
    classifier_activation: str | None = "softmax",
    name: str = "googlenet",
) -> keras.Model:
    """GoogLeNet (Inception v1) as in Table 1 of "Going deeper with convolutions".

    Stem: 7x7/2 conv 64 -> 3x3/2 max-pool -> 1x1 conv 64 -> 3x3 conv 192 -> 3x3/2 max-pool
    (224 -> 112 -> 56 -> 28). Then inception 3a, 3b -> max-pool -> 4a ... 4e -> max-pool
    -> 5a, 5b (28 -> 14 -> 7) with four branches each (1x1; 1x1 reduce then 3x3; 1x1
    reduce then 5x5; 3x3 max-pool then 1x1 projection, see
    `cnnkit.models.blocks.inception_module`), global average pool, dropout 0.4 and a
    softmax FC layer: 22 weight layers deep. The module widths are the paper's (256, 480,
    512, 512, 512, 528, 832, 832, 1024 channels). With the defaults: 6,998,552 parameters
    and about 1.58G multiply-accumulates per 224x224 image; the paper's table, whose
    entries are rounded, sums to about 6.8M and 1.5G.

    Differences from the paper: no local response normalisation (Keras has none; set
    ``batch_norm=True`` for the usual modern replacement), and the final 7x7 average pool
    is a global one, which is the same on 224x224 inputs and lets smaller images through.

    Args:
        input_shape: (height, width, 3). With ``aux_heads`` at least 65x65, so the heads'
            5x5 pool fits on the 4a and 4d outputs.
        num_classes: number of classes, >= 2.
        aux_heads: add the two auxiliary classifiers on 4a and 4d; the model then has
            three outputs ``[main, aux1, aux2]`` (the paper weights the auxiliary losses
            by 0.3 during training and drops them at inference).
        batch_norm: batch normalisation in every conv module (without bias).
        dropout: dropout rate before the classifier.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; layers are ``conv1``, ``pool1``, ``conv2_reduce``, ``conv2``,
            ``pool2``, ``inception3a_1x1_conv`` ..., ``pool3``, ``pool4``, ``avg_pool``,
            ``dropout``, ``fc``, ``softmax``; heads ``aux1_*`` and ``aux2_*``.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes),
        or a list of three such outputs with ``aux_heads``.

    See notebooks/07_googlenet.ipynb.
    """
    shape = check_input_shape(
        input_shape,
        "googlenet",
        channels=3,
        out_size=(lambda s: pool_out(ceil_div(s, 16), 5, 3)) if aux_heads else None,
        why="the auxiliary heads' 5x5 average pools on the 4a and 4d outputs (1/16 of the input)",
    )
    check_num_classes(num_classes)
    options = {"batch_norm": batch_norm}
    inputs = keras.Input(shape, name="input")
    x = conv_module(inputs, 64, 7, strides=2, name="conv1", **options)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv_module(x, 64, 1, name="conv2_reduce", **options)
    x = conv_module(x, 192, 3, name="conv2", **options)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    aux_outputs = []
    for key, (n1, n3r, n3, n5r, n5, proj) in _INCEPTION_V1.items():
        if key in ("4a", "5a"):
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{key[0]}")(x)
        x = inception_module(
            x,
            n1,
            n3,
            num3x3_reduce=n3r,
            num5x5_reduce=n5r,
            num5x5=n5,
            pool_proj=proj,
            name=f"inception{key}",
            **options,
        )
        if aux_heads and key in ("4a", "4d"):
            head = _aux_head(x, num_classes, f"aux{len(aux_outputs) + 1}", classifier_activation)
            aux_outputs.append(head)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="fc")(x)
    outputs = classifier(x, classifier_activation)
    return keras.Model(inputs, [outputs, *aux_outputs] if aux_heads else outputs, name=name)
