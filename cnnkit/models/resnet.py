"""ResNet (He et al. 2015, 2016): the slides' pre-activation bottleneck ResNet and ResNet-50."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from .arguments import check_input_shape, check_num_classes, classifier, l2
from .blocks import residual_module

__all__ = ["resnet", "resnet50"]


def resnet(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    stages: Sequence[int] = (9, 9, 9),
    filters: Sequence[int] = (64, 128, 256),
    reg: float | None = 5e-4,
    bn_eps: float = 2e-5,
    bn_momentum: float = 0.9,
    classifier_activation: str | None = "softmax",
    name: str = "resnet",
) -> keras.Model:
    """The slides' pre-activation bottleneck ResNet for CIFAR-10.

    INPUT => BN, then one stage per entry of ``stages``: stage i stacks ``stages[i]``
    bottleneck residual modules (`cnnkit.models.blocks.residual_module`) with
    ``filters[i]`` output channels; the first module of each stage reduces (1x1 conv
    shortcut), with stride 1 in the first stage and 2 after. Then BN => ReLU => average
    pool over the whole remaining map => FC softmax, with L2 ``reg`` on every kernel.
    With the defaults: 32x32x64 -> 16x16x128 -> 8x8x256 -> 8x8 average pool -> 10, which
    is 3 * 9 * 3 + 1 = 82 weight layers deep, with 879,250 parameters and about 126M
    multiply-accumulates per image.

    Args:
        input_shape: (height, width, channels); height and width must be multiples of
            2 ** (len(stages) - 1) so that every stride-2 reduction divides its input.
        num_classes: number of classes, >= 2.
        stages: number of residual modules per stage.
        filters: output channels per stage, same length as ``stages``, each >= 4.
        reg: L2 weight decay on every kernel, or None.
        bn_eps, bn_momentum: batch-normalisation epsilon and momentum.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; layers are ``input_bn``, ``stage1_block1_bn1`` ...
            ``stage3_block9_add``, ``final_bn``, ``final_relu``, ``avg_pool``, ``flatten``,
            ``fc``, ``softmax``.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/08_resnet.ipynb.
    """
    stages, filters = tuple(stages), tuple(filters)
    if len(stages) != len(filters) or not stages:
        raise ValueError(
            "`stages` and `filters` must have the same non-zero length: one filter number "
            f"per stage. Received: stages={stages}, filters={filters}"
        )
    if any(n < 1 for n in stages):
        raise ValueError(f"`stages` must hold positive module counts. Received: stages={stages}")
    shape = check_input_shape(input_shape, "resnet")
    factor = 2 ** (len(stages) - 1)
    if shape[0] % factor or shape[1] % factor:
        raise ValueError(
            f"`input_shape` must have height and width divisible by {factor}: each of the "
            f"{len(stages) - 1} stride-2 reductions halves them exactly. "
            f"Received: input_shape={shape}"
        )
    check_num_classes(num_classes)
    bn = {"epsilon": bn_eps, "momentum": bn_momentum}
    module = {"reg": reg, "bn_eps": bn_eps, "bn_momentum": bn_momentum}
    inputs = keras.Input(shape, name="input")
    x = layers.BatchNormalization(name="input_bn", **bn)(inputs)
    for stage, (count, width) in enumerate(zip(stages, filters, strict=True), start=1):
        strides = 1 if stage == 1 else 2
        first = f"stage{stage}_block1"
        x = residual_module(x, width, strides=strides, reduce=True, name=first, **module)
        for block in range(2, count + 1):
            x = residual_module(x, width, name=f"stage{stage}_block{block}", **module)
    x = layers.BatchNormalization(name="final_bn", **bn)(x)
    x = layers.Activation("relu", name="final_relu")(x)
    x = layers.AveragePooling2D((x.shape[1], x.shape[2]), name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(num_classes, kernel_regularizer=l2(reg), name="fc")(x)
    outputs = classifier(x, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def _bottleneck_v1(x, filters: int, stride: int, conv_shortcut: bool, name: str):
    """ResNet v1 bottleneck of keras.applications: 1x1 (stride), 3x3, 1x1 x4, post-activation."""
    bn = {"epsilon": 1.001e-5}
    shortcut = x
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_0_bn", **bn)(shortcut)
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_1_bn", **bn)(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_2_bn", **bn)(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_3_bn", **bn)(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def resnet50(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    classifier_activation: str | None = "softmax",
    name: str = "resnet50",
) -> keras.Model:
    """ResNet-50 of the paper's table, laid out as `keras.applications.ResNet50`.

    ========  ===========  ============================================
    stage     output size  layers
    ========  ===========  ============================================
    conv1     112x112x64   7x7, 64, stride 2
    pool1     56x56x64     3x3 max pool, stride 2
    conv2_x   56x56x256    [1x1, 64; 3x3, 64; 1x1, 256] x 3
    conv3_x   28x28x512    [1x1, 128; 3x3, 128; 1x1, 512] x 4
    conv4_x   14x14x1024   [1x1, 256; 3x3, 256; 1x1, 1024] x 6
    conv5_x   7x7x2048     [1x1, 512; 3x3, 512; 1x1, 2048] x 3
    avg_pool  2048         global average pool
    fc        num_classes  softmax
    ========  ===========  ============================================

    Post-activation bottlenecks (CONV => BN => ReLU, the sum before the last ReLU), 1x1
    projection shortcuts where the size changes, and the stride on the first 1x1 conv of
    stages 3 to 5, as in Keras' ResNet50 (v1), whose parameter count it matches exactly:
    25,636,712 (``ResNet50V2``, with pre-activation blocks and strides at the end of each
    stage, has 25,613,800). About 3.86G multiply-accumulates per 224x224 image; the paper's
    table says 3.8 x 10^9 FLOPs. Layer names are Keras' (``conv2_block1_1_conv`` ...), and
    the weights of `keras.applications.ResNet50` copy over with ``model.set_weights``.

    Args:
        input_shape: (height, width, 3).
        num_classes: number of classes, >= 2.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).

    See notebooks/08_resnet.ipynb.
    """
    shape = check_input_shape(input_shape, "resnet50", channels=3)
    check_num_classes(num_classes)
    inputs = keras.Input(shape, name="input")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=2):
        for block in range(1, blocks + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            x = _bottleneck_v1(x, filters, stride, block == 1, name=f"conv{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
