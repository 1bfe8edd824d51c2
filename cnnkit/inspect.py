"""Layer tables, multiply-accumulate counts and side-by-side comparisons of Keras models.

The tables read like the slides': one row per layer with its output size (``55x55x96``),
kernel, stride, padding, parameters and multiply-accumulates (MACs) for one input image.

See notebooks/05_alexnet.ipynb and notebooks/08_resnet.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import keras
import pandas as pd
from keras import layers

__all__ = ["CONV_TYPES", "activated_layer", "compare", "count_macs", "layer_output", "layer_table"]

CONV_TYPES = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)
"""The 2-D convolutions whose filters and feature maps the figures show."""

_ACTIVATION_TYPES = (
    layers.Activation,
    layers.ReLU,
    layers.LeakyReLU,
    layers.ELU,
    layers.PReLU,
)

_TRANSPOSED = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
_SEPARABLE = (layers.SeparableConv1D, layers.SeparableConv2D)
_KERNEL_LAYERS = (
    layers.Conv1D,
    layers.Conv2D,
    layers.Conv3D,
    layers.DepthwiseConv1D,
    layers.DepthwiseConv2D,
    layers.Dense,
    *_TRANSPOSED,
    *_SEPARABLE,
)


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


def _first(value):
    """The first tensor of a layer's input or output (a tensor, a list or a dict of them)."""
    if isinstance(value, Mapping):
        value = list(value.values())
    while isinstance(value, (list, tuple)):
        value = value[0]
    return value


def _positions(shape: tuple) -> int:
    """Number of positions a kernel is applied at: every axis but batch and channels."""
    return math.prod(int(s) for s in shape[1:-1])


def _layer_macs(layer) -> int:
    if isinstance(layer, keras.Model):
        return count_macs(layer)
    if not isinstance(layer, _KERNEL_LAYERS):
        return 0
    if isinstance(layer, _SEPARABLE):
        out = _positions(_shape(_first(layer.output)))
        return out * (
            math.prod(layer.depthwise_kernel.shape) + math.prod(layer.pointwise_kernel.shape)
        )
    where = layer.input if isinstance(layer, _TRANSPOSED) else layer.output
    return _positions(_shape(_first(where))) * math.prod(layer.kernel.shape)


def _size(shape: tuple) -> str:
    return "x".join("?" if s is None else str(s) for s in shape[1:])


def _geometry(layer) -> tuple[str, str, str]:
    """(kernel, stride, padding) as the slides write them, or empty strings."""
    window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if window is None:
        return "", "", ""
    kernel = "x".join(str(k) for k in window)
    strides = tuple(getattr(layer, "strides", ()) or ())
    stride = str(strides[0]) if len(set(strides)) == 1 else "x".join(str(s) for s in strides)
    return kernel, stride, str(getattr(layer, "padding", ""))


def _outputs(layer) -> str:
    output = layer.output
    tensors = list(output.values()) if isinstance(output, Mapping) else output
    if not isinstance(tensors, (list, tuple)):
        tensors = [tensors]
    return ", ".join(_size(_shape(t)) for t in tensors)


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer, as the slides tabulate a network.

    Args:
        model: a built Keras model (functional or Sequential with a known input shape);
            channels-last layers.

    Returns:
        A `pandas.DataFrame` with one row per layer of ``model.layers`` (the input layer
        included) and columns ``name``; ``type`` (the Keras class, e.g. ``Conv2D``);
        ``output`` (the output size without the batch axis, e.g. ``55x55x96``, or ``4096``);
        ``kernel``, ``stride``, ``padding`` (e.g. ``11x11``, ``4``, ``valid`` for
        convolutions and poolings, empty otherwise); ``params`` (int, trainable and
        non-trainable weights); ``macs`` (int, multiply-accumulates for one image, counted as
        in `count_macs`). A nested model is one row with its totals. Columns sum to the
        model's totals: ``table.params.sum() == model.count_params()``.

    See notebooks/05_alexnet.ipynb.
    """
    rows = []
    for layer in model.layers:
        kernel, stride, padding = _geometry(layer)
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output": _outputs(layer),
                "kernel": kernel,
                "stride": stride,
                "padding": padding,
                "params": int(layer.count_params()),
                "macs": int(_layer_macs(layer)),
            }
        )
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates (MACs, "mult-adds") of one forward pass for one input image.

    What is counted: every weight multiplication of the convolutions (``Conv1D/2D/3D``,
    their transposes, depthwise and separable convolutions) and of ``Dense`` layers,
    i.e. for each layer (positions where its kernel is applied) x (kernel size): a Conv2D
    with a kh x kw x C_in x C_out kernel and an H' x W' output costs
    H' * W' * kh * kw * C_in * C_out; a Dense layer with n inputs and m units costs n * m.
    Not counted: biases, batch normalisation, activations, pooling, additions and
    concatenations, which are a small fraction of the total. FLOPs are about 2 x MACs.

    Published figures in this layout: VGG-16 15.47G, ResNet-50 (Keras ``ResNet50``,
    stride on the first 1x1 conv of a stage) 3.86G, MobileNet 569M, all at 224x224x3.
    A layer called twice (shared weights) is counted once.

    Args:
        model: a built Keras model with channels-last layers.

    Returns:
        int: the number of multiply-accumulates.

    See notebooks/08_resnet.ipynb.
    """
    return int(sum(_layer_macs(layer) for layer in model.layers))


def _weight_depth(layer) -> int:
    if isinstance(layer, keras.Model):
        return _depth(layer)
    return int(isinstance(layer, _KERNEL_LAYERS))


def _depth(model: keras.Model) -> int:
    """Weight layers (conv, dense) on the longest path from an input to an output."""
    memo: dict[tuple[int, int], int] = {}

    def key(tensor) -> tuple[int, int]:
        operation, node_index, _ = tensor._keras_history
        return id(operation), node_index

    def parents(tensor) -> list:
        operation, node_index, _ = tensor._keras_history
        return list(operation._inbound_nodes[node_index].input_tensors)

    stack = list(model.outputs)
    while stack:
        tensor = stack[-1]
        if key(tensor) in memo:
            stack.pop()
            continue
        pending = [p for p in parents(tensor) if key(p) not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        operation = tensor._keras_history[0]
        before = max((memo[key(p)] for p in parents(tensor)), default=0)
        memo[key(tensor)] = before + _weight_depth(operation)
    return max(memo[key(t)] for t in model.outputs)


def compare(models: Sequence[keras.Model] | Mapping[str, keras.Model]) -> pd.DataFrame:
    """Parameters, MACs and depth of several models side by side.

    Args:
        models: built Keras models, as a list (rows named after ``model.name``) or a
            mapping from row name to model.

    Returns:
        A `pandas.DataFrame` indexed by model name with columns ``input`` (e.g.
        ``224x224x3``), ``params`` (int), ``macs`` (int, as `count_macs`) and ``depth``
        (int: conv and dense layers on the longest input-to-output path, the way the papers
        count them: VGG-16 16, GoogLeNet 22, ResNet-50 50, MobileNet 28).

    See notebooks/08_resnet.ipynb.
    """
    items = models.items() if isinstance(models, Mapping) else ((m.name, m) for m in models)
    rows = {
        name: {
            "input": _size(_shape(_first(model.inputs))),
            "params": int(model.count_params()),
            "macs": count_macs(model),
            "depth": _depth(model),
        }
        for name, model in items
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def layer_output(layer: keras.layers.Layer):
    """The symbolic output of a layer in the model that holds it.

    For a nested model (a pretrained base inside a classifier) ``layer.output`` is the base's
    own inner tensor, unconnected to the outer input; the node of the outer call holds the
    connected one.
    """
    if isinstance(layer, keras.Model) and layer._inbound_nodes:
        return layer._inbound_nodes[0].output_tensors[0]
    return layer.output


def activated_layer(model: keras.Model, layer: keras.layers.Layer) -> keras.layers.Layer:
    """The layer itself, or the activation layer(s) right after it that take its output.

    Builders that write CONV and ReLU as two layers (as the slides draw them) keep the
    rectified maps in the ReLU layer; those are what the layer "detects".
    """
    model_layers = model.layers
    index = model_layers.index(layer)
    while index + 1 < len(model_layers):
        follower = model_layers[index + 1]
        if not isinstance(follower, _ACTIVATION_TYPES):
            break
        try:
            connected = follower.input is layer_output(model_layers[index])
        except (AttributeError, ValueError):
            connected = False
        if not connected:
            break
        index += 1
    return model_layers[index]
