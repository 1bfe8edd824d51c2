"""LeNet for MNIST, as the slides modify LeCun et al. (1998): ReLU, "same" padding, 28x28 input."""

from __future__ import annotations

import keras
from keras import layers

from .arguments import check_input_shape, check_num_classes, classifier, pool_out

__all__ = ["lenet"]


def lenet(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    activation: str = "relu",
    classifier_activation: str | None = "softmax",
    name: str = "lenet",
) -> keras.Model:
    """LeNet of the slides, layer for layer.

    ======  ============  ==================
    layer   output size   kernel
    ======  ============  ==================
    INPUT   28x28x1
    CONV    28x28x20      5x5, K=20, same
    POOL    14x14x20      max 2x2
    CONV    14x14x50      5x5, K=50, same
    POOL    7x7x50        max 2x2
    FC      500           ReLU
    FC      num_classes   softmax
    ======  ============  ==================

    Every CONV is followed by ReLU. With the default shapes the model has 1,256,080
    parameters (most of them in the first FC layer: 7*7*50*500 + 500 = 1,225,500), against
    about 60,000 in LeCun's original, which used 5x5 "valid" convolutions on 32x32 inputs,
    tanh-like units and a 120-84 classifier.

    Args:
        input_shape: (height, width, channels) of one image; at least 4x4.
        num_classes: number of classes, >= 2.
        activation: activation after each CONV and the hidden FC layer.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; layers are ``conv1``, ``relu1``, ``pool1``, ``conv2`` ... ``fc1``,
            ``fc2``, ``softmax``.

    Returns:
        An uncompiled `keras.Model` mapping (batch, *input_shape) float images to
        (batch, num_classes) softmax probabilities.

    See notebooks/04_lenet_mnist.ipynb.
    """
    shape = check_input_shape(
        input_shape,
        "lenet",
        out_size=lambda s: pool_out(pool_out(s, 2, 2), 2, 2),
        why="its two 2x2 poolings",
    )
    check_num_classes(num_classes)
    inputs = keras.Input(shape, name="input")
    x = inputs
    for stage, filters in enumerate((20, 50), start=1):
        x = layers.Conv2D(filters, 5, padding="same", name=f"conv{stage}")(x)
        x = layers.Activation(activation, name=f"relu{stage}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(500, name="fc1")(x)
    x = layers.Activation(activation, name="relu3")(x)
    x = layers.Dense(num_classes, name="fc2")(x)
    outputs = classifier(x, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
