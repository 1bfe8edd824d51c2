"""Figures that let a learner see inside a network: images, filters, feature maps, Grad-CAM,
learning curves, predictions and the architecture.

Every drawing function computes first and draws second, as scikit-learn's display objects do:
data-returning twins (:func:`feature_maps`, :func:`grad_cam`, :func:`misclassified`) give the
numbers that tests and asserts check, and the ``show_*`` / ``plot_*`` functions draw them.
Single-panel functions take ``ax=None``; each returns its matplotlib Figure and never calls
``plt.show()``. The figures a function makes itself are returned closed, so a notebook shows
each one exactly once: as a cell's last value, or with ``display(fig)``; a script saves it with
``fig.savefig(...)``.

Models see images as ``cnnkit.preprocessing.prepare`` makes them, the scaling training feeds: uint8
pixels become float32 in [0, 1]; float inputs pass unchanged.
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections.abc import Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure, SubFigure

from .display import displayable
from .inspect import CONV_TYPES, activated_layer, layer_output
from .preprocessing import class_probabilities, prepare, two_columns

__all__ = [
    "feature_maps",
    "grad_cam",
    "misclassified",
    "plot_history",
    "plot_model",
    "show_feature_maps",
    "show_filters",
    "show_grad_cam",
    "show_images",
    "show_misclassified",
    "show_predictions",
]

_RIGHT, _WRONG = "#1a7f37", "#cf222e"  # green and red that stay readable on white
_MAX_STACK = 40  # layers plot_model's fallback draws before it elides the middle


# --------------------------------------------------------------------------- helpers


def _batch(x, argument: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[-1] not in (1, 3):  # (N, H, W) grayscale
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(
            f"`{argument}` must be a batch of images of shape (N, H, W), (N, H, W, 1) or "
            f"(N, H, W, 3). Received: {argument}.shape={x.shape}"
        )
    return x


def _one_image(image, model) -> np.ndarray:
    """One image as a batch of one, (1, H, W, C) float32, checked against the model's input."""
    image = np.asarray(image)
    expected = tuple(model.inputs[0].shape[1:])
    if image.ndim == len(expected) - 1 and expected[-1] == 1:  # (H, W) for a 1-channel model
        image = image[..., None]
    if image.ndim == len(expected):
        image = image[None]
    if image.ndim != len(expected) + 1 or image.shape[0] != 1:
        raise ValueError(
            f"`image` must be one image of shape {expected} (or a batch of one). "
            f"Received: image.shape={np.shape(image)}"
        )
    return prepare(image)


def _labels(y) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    return np.argmax(y, axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)


def _name(label: int, class_names: Sequence[str] | None) -> str:
    return str(class_names[int(label)]) if class_names is not None else str(int(label))


def _grid(n: int, ncols: int | None, panel: float = 1.6, extra_height: float = 0.0, fig=None):
    """n image panels in a grid, axes off: in ``fig`` (a Figure or SubFigure) or a new figure."""
    ncols = ncols or min(n, 8)
    nrows = math.ceil(n / ncols)
    if fig is None:
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(panel * ncols, (panel + extra_height) * nrows),
            squeeze=False,
            layout="constrained",
        )
    else:
        axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    return fig, axes.ravel()


def _done(fig, given) -> Figure:
    """Close a figure this module made (the notebook shows the returned one); keep a given one."""
    if given is None:
        plt.close(fig)
    return fig


def _ensure_called(model) -> None:
    """Keras 3 Sequential models built without an Input have no inputs until called."""
    try:
        model.inputs  # noqa: B018 - raises for an unbuilt Sequential
    except (AttributeError, ValueError) as error:
        raise ValueError(
            "`model` has no defined input yet: start it with `keras.Input(shape)` or call it "
            f"on a batch once (e.g. fit or predict). Received: model {model.name!r}"
        ) from error
    if not model.inputs:
        raise ValueError(
            "`model` has no defined input yet: start it with `keras.Input(shape)` or call it "
            f"on a batch once (e.g. fit or predict). Received: model {model.name!r}"
        )


def _is_spatial(layer) -> bool:
    """True for a layer whose output is a 4-D (batch, h, w, channels) feature map."""
    try:
        return len(layer_output(layer).shape) == 4
    except (AttributeError, ValueError, IndexError):
        return False


def _probe(model, layers, extra=()):
    """A model from the input to the given layers' outputs (and any extra tensors)."""
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, [layer_output(layer) for layer in layers] + list(extra))


def _find_layer(model, layer):
    if isinstance(layer, keras.layers.Layer):
        return layer
    try:
        return model.get_layer(layer)
    except ValueError:
        names = [item.name for item in model.layers]
        raise ValueError(
            f"`layer` must name a layer of the model, one of {names}. Received: layer={layer!r}"
        ) from None


def _last_conv(model):
    for layer in reversed(model.layers):
        if isinstance(layer, (*CONV_TYPES, keras.Model)) and _is_spatial(layer):
            return activated_layer(model, layer)
    raise ValueError(
        "`model` has no convolutional layer with a 4-D output to explain; pass `layer=`. "
        f"Received: model {model.name!r} with layers {[layer.name for layer in model.layers]}"
    )


# --------------------------------------------------------------------------- images


def show_images(
    x,
    y=None,
    *,
    class_names: Sequence[str] | None = None,
    n: int = 16,
    ncols: int | None = None,
    title: str | None = None,
    fig: Figure | SubFigure | None = None,
) -> Figure:
    """A labelled grid of the first ``n`` images (grayscale or RGB).

    Args:
        x: images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3); uint8 in [0, 255] or
            float (floats outside [0, 1] are stretched to it per image).
        y: optional labels of shape (N,) (or one-hot rows), drawn above each image.
        class_names: one name per class, so labels read "cat" rather than 3.
        n: how many images to draw (at most N).
        ncols: images per row (default up to 8).
        title: an optional figure title.
        fig: a Figure or SubFigure (``Figure.subfigures``) to draw the panels in, to
            combine this figure with others; a new figure when None.

    Returns:
        The matplotlib Figure (or ``fig``), one panel per image.

    See notebooks/01_tensors.ipynb.
    """
    x = _batch(x)
    if n < 1:
        raise ValueError(f"`n` must be a positive int. Received: n={n}")
    n = min(n, len(x))
    labels = _labels(y)
    given = fig
    fig, axes = _grid(n, ncols, extra_height=0.25 if labels is not None else 0.0, fig=given)
    for i, ax in enumerate(axes[:n]):
        ax.imshow(displayable(x[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        if labels is not None:
            ax.set_title(_name(labels[i], class_names), fontsize=9)
    if title:
        fig.suptitle(title)
    return _done(fig, given)


# --------------------------------------------------------------------------- filters


def _conv_layer(model_or_layer, layer):
    if isinstance(model_or_layer, keras.Model):
        if layer is not None:
            found = _find_layer(model_or_layer, layer)
        else:
            found = next(
                (item for item in model_or_layer.layers if isinstance(item, keras.layers.Conv2D)),
                None,
            )
            if found is None:
                raise ValueError(
                    "`model_or_layer` has no Conv2D layer whose filters could be drawn. "
                    f"Received: model {model_or_layer.name!r}"
                )
    else:
        found = model_or_layer
    if not isinstance(found, keras.layers.Conv2D) or not found.built:
        raise ValueError(
            "`model_or_layer` must be a built Conv2D layer or a model holding one. "
            f"Received: {type(found).__name__} {getattr(found, 'name', '')!r}"
        )
    return found


def show_filters(
    model_or_layer,
    *,
    layer: str | None = None,
    shared_scale: bool = False,
    max_filters: int | None = None,
    max_channels: int = 8,
    ncols: int | None = None,
    fig: Figure | SubFigure | None = None,
) -> Figure:
    """Draw the kernels of a Conv2D layer as a grid of small images.

    With 3 input channels (a first layer on colour images) each filter is one RGB picture:
    its weights are mapped to [0, 1] so the colour it responds to shows. Otherwise each input
    channel of each filter is a panel (rows: filters, columns: channels; one column when there
    is one channel) in a diverging colour map: red weights excite, blue inhibit, white is 0.

    Args:
        model_or_layer: a built ``keras.layers.Conv2D`` or a model; for a model, the first
            Conv2D layer (or the one named by ``layer``).
        layer: name of the conv layer to draw when a model is given.
        shared_scale: if True, one colour scale for all panels (compare filter strengths);
            if False, each filter is normalised on its own (see its pattern).
        max_filters: draw at most this many filters (the first ones); by default 64 when
            each filter is one panel, 16 in per-channel mode.
        max_channels: draw at most this many input channels per filter (per-channel mode).
        ncols: panels per row when each filter is one panel (default up to 8).
        fig: a Figure or SubFigure (``Figure.subfigures``) to draw the panels in, to
            combine this figure with others; a new figure when None.

    Returns:
        The matplotlib Figure (or ``fig``): one panel per kernel drawn (filters x channels).

    See notebooks/04_lenet_mnist.ipynb.
    """
    given = fig
    conv = _conv_layer(model_or_layer, layer)
    kernel = np.asarray(conv.get_weights()[0], dtype=np.float32)
    kh, kw, cin, cout = kernel.shape
    if max_filters is None:
        max_filters = 64 if cin in (1, 3) else 16
    shown = min(cout, max_filters)
    kernel = kernel[..., :shown]
    if cin == 3:
        if shared_scale:
            low, high = kernel.min(), kernel.max()
        else:
            low = kernel.min(axis=(0, 1, 2), keepdims=True)
            high = kernel.max(axis=(0, 1, 2), keepdims=True)
        rgb = (kernel - low) / np.maximum(high - low, 1e-12)
        fig, axes = _grid(shown, ncols, panel=1.0, extra_height=0.2, fig=given)
        for f, ax in enumerate(axes[:shown]):
            ax.imshow(rgb[..., f], interpolation="nearest")
            ax.set_title(f"{f}", fontsize=8)
        fig.suptitle(f"{conv.name}: {shown} filters {kh}x{kw}x3 (RGB)", fontsize=10)
        return _done(fig, given)

    channels = min(cin, max_channels)
    if cin == 1:
        panels = [(f, 0) for f in range(shown)]
        fig, axes = _grid(shown, ncols, panel=1.0, extra_height=0.2, fig=given)
    else:  # one row per input channel, one column per filter: wide, as notebooks are
        panels = [(f, c) for c in range(channels) for f in range(shown)]
        fig, axes = _grid(len(panels), shown, panel=0.75, extra_height=0.1, fig=given)
    limit = float(np.abs(kernel[:, :, :channels]).max()) or 1.0
    image = None
    for (f, c), ax in zip(panels, axes, strict=False):
        weights = kernel[:, :, c, f]
        scale = limit if shared_scale else (float(np.abs(weights).max()) or 1.0)
        image = ax.imshow(weights, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        if c == 0:
            ax.set_title(f"{f}", fontsize=8)
        if cin > 1 and f == 0:
            ax.text(
                -0.12, 0.5, f"ch {c}", transform=ax.transAxes, ha="right", va="center", fontsize=7
            )
    if shared_scale and image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.6, label="weight")
    what = f"{shown} of {cout} filters {kh}x{kw}" + (
        f" (columns), input channels 0-{channels - 1} of {cin} (rows)" if cin > 1 else ""
    )
    scale_note = "one shared scale" if shared_scale else "each on its own scale"
    fig.suptitle(f"{conv.name}: {what}\nred > 0 > blue, {scale_note}", fontsize=9)
    return _done(fig, given)


# --------------------------------------------------------------------------- feature maps


def feature_maps(model, image, *, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The activations one image produces in the chosen layers.

    Args:
        model: a Keras model with a defined input (functional, or Sequential started with
            ``keras.Input`` or already called).
        image: one image of the model's input shape (H, W, C), or a batch of one; uint8 is
            scaled to [0, 1] as in ``cnnkit.train.prepare``.
        layers: names of layers with 4-D outputs; by default every convolution layer, taken
            after its activation when that is a layer of its own (``conv1`` -> ``relu1``).

    Returns:
        An ordered dict mapping layer name to its float32 activation of shape (h, w, channels).

    See notebooks/04_lenet_mnist.ipynb.
    """
    _ensure_called(model)
    if layers is None:
        chosen = [
            activated_layer(model, layer) for layer in model.layers if isinstance(layer, CONV_TYPES)
        ]
        if not chosen:
            raise ValueError(
                "`model` has no convolution layer; pass `layers=` with names of layers that "
                f"output feature maps. Received: model {model.name!r}"
            )
    else:
        if isinstance(layers, str):
            layers = [layers]
        chosen = [_find_layer(model, name) for name in layers]
        flat = [layer.name for layer in chosen if not _is_spatial(layer)]
        if flat:
            raise ValueError(
                "`layers` must name layers whose output is a (batch, h, w, channels) feature "
                f"map. Received: layers without one: {flat}"
            )
    x = _one_image(image, model)
    probe = _probe(model, chosen)
    outputs = probe(x, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return {
        layer.name: np.asarray(keras.ops.convert_to_numpy(out)[0], dtype=np.float32)
        for layer, out in zip(chosen, outputs, strict=True)
    }


def show_feature_maps(
    model,
    image,
    *,
    layers: Sequence[str] | None = None,
    max_channels: int = 8,
    order: str = "strongest",
    maps: Mapping[str, np.ndarray] | None = None,
    fig: Figure | SubFigure | None = None,
) -> Figure:
    """Draw the feature maps of several layers, one row per layer, beside the input.

    Each row holds ``max_channels`` channels of one layer, each on its own colour scale
    (dark = low, bright = high; a map that is 0 everywhere says so), so early layers show
    edges and strokes of the input and later ones coarser blobs.

    Args:
        model, image, layers: as in :func:`feature_maps`.
        max_channels: channels drawn per layer (columns).
        order: ``"strongest"`` draws the channels with the highest mean activation first;
            ``"first"`` draws channels 0, 1, 2, ...
        maps: activations already computed by :func:`feature_maps` (skips recomputing).
        fig: a Figure or SubFigure (``Figure.subfigures``) to draw the panels in, to
            combine this figure with others; a new figure when None.

    Returns:
        The matplotlib Figure (or ``fig``); each panel is labelled with its channel number.

    See notebooks/04_lenet_mnist.ipynb.
    """
    if order not in ("strongest", "first"):
        raise ValueError(f'`order` must be "strongest" or "first". Received: order={order!r}')
    maps = dict(maps) if maps is not None else feature_maps(model, image, layers=layers)
    cols = min(max_channels, max(array.shape[-1] for array in maps.values()))
    rows = len(maps)
    given = fig
    if fig is None:
        fig = plt.figure(
            figsize=(1.35 * (cols + 1.6), 1.45 * max(rows, 1.6) + 0.5), layout="constrained"
        )
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1.6] + [1] * cols)
    ax_input = fig.add_subplot(grid[:, 0])
    shown = np.asarray(image)
    shown = shown[0] if shown.ndim == 4 else shown
    ax_input.imshow(displayable(shown), cmap="gray", vmin=0, vmax=1)
    ax_input.set_title("input", fontsize=9)
    ax_input.set_axis_off()
    for i, (name, array) in enumerate(maps.items()):
        h, w, k = array.shape
        channels = np.arange(k)
        if order == "strongest":
            channels = np.argsort(-array.mean(axis=(0, 1)), kind="stable")
        for j, c in enumerate(channels[:cols]):
            ax = fig.add_subplot(grid[i, j + 1])
            ax.imshow(array[..., c], cmap="viridis", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"ch {c}", fontsize=7, pad=2)
            if not array[..., c].any():
                ax.text(
                    0.5,
                    0.5,
                    "all 0",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=8,
                )
            if j == 0:
                ax.set_ylabel(f"{name}\n{h}x{w}x{k}", fontsize=8)
    which = "strongest" if order == "strongest" else "first"
    fig.suptitle(
        f"Feature maps: the {which} {cols} channels of each layer, each on its own scale",
        fontsize=10,
    )
    return _done(fig, given)


# --------------------------------------------------------------------------- Grad-CAM


def _logit_head(model):
    """The final layer when it is a softmax or sigmoid whose input logits can be recovered.

    Returns (layer, activation name) or (None, None). Dense layers with the activation built
    in have their logits recomputed from the layer's input and weights.
    """
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax):
        return last, "softmax"
    for name in ("softmax", "sigmoid"):
        if activation is getattr(keras.activations, name) and isinstance(
            last, (keras.layers.Dense, keras.layers.Activation)
        ):
            return last, name
    return None, None


def _class_evidence(logits, class_index: int, kind: str | None):
    """The score whose gradient Grad-CAM follows, shape (batch,); ``keras.ops``, any backend.

    For a softmax, the log-odds of the class against all others,
    ``z_c - logsumexp(z_j, j != c)``: unlike the probability it does not saturate (a
    confident model still has gradients), and unlike the raw logit ``z_c`` it ignores what
    moves every logit together, which the softmax cancels. For a single sigmoid unit the
    logit ``z`` is the log-odds of class 1 (and ``-z`` of class 0). Anything else: the output.
    """
    ops = keras.ops
    if kind == "sigmoid" and logits.shape[-1] == 1:
        return logits[:, 0] if class_index == 1 else -logits[:, 0]
    if kind in ("softmax", "sigmoid") and logits.shape[-1] > 1:
        others = ops.concatenate([logits[:, :class_index], logits[:, class_index + 1 :]], axis=-1)
        return logits[:, class_index] - ops.logsumexp(others, axis=-1)
    return logits[:, class_index]


def _head_inputs(maps, logits, layer_name: str) -> list:
    """The tensors besides ``maps`` that the graph from ``maps`` to ``logits`` reads.

    Skip connections that start before the explained layer (a residual block's shortcut) or
    other model inputs: the head sub-model takes them as inputs, computed by the probe.

    Raises:
        ValueError: when ``logits`` does not depend on ``maps`` at all.
    """

    def key(tensor):
        operation, node_index, tensor_index = tensor._keras_history
        return id(operation), node_index, tensor_index

    def parents(tensor) -> list:
        operation, node_index, _ = tensor._keras_history
        node = operation._inbound_nodes[node_index]
        return [] if node.is_input else list(node.input_tensors)

    downstream = {key(maps): True}  # tensor key -> does it depend on `maps`
    found: dict = {}
    stack = [logits]
    while stack:  # depth first, without recursion: deep networks exceed Python's limit
        tensor = stack[-1]
        if key(tensor) in downstream:
            stack.pop()
            continue
        pending = [p for p in parents(tensor) if key(p) not in downstream]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        depends = [downstream[key(p)] for p in parents(tensor)]
        downstream[key(tensor)] = any(depends)
        if any(depends):
            found.update(
                {key(p): p for p, d in zip(parents(tensor), depends, strict=True) if not d}
            )
    if not downstream[key(logits)]:
        raise ValueError(
            "`layer` must lie on the way from the input to the class scores, which do not "
            f"depend on its output. Received: layer={layer_name!r}"
        )
    return list(found.values())


def _evidence_gradient(score, maps) -> np.ndarray:
    """d sum(score(maps)) / d maps by the backend's autodiff (TensorFlow or JAX); NumPy."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(maps)
            total = keras.ops.sum(score(maps))
        return keras.ops.convert_to_numpy(tape.gradient(total, maps))
    import jax

    return np.asarray(jax.grad(lambda m: keras.ops.sum(score(m)))(maps))


def grad_cam(
    model, image, *, layer: str | None = None, class_index: int | None = None
) -> np.ndarray:
    """Grad-CAM: where in the image the evidence for a class lies (Selvaraju et al., 2017).

    The gradient of the class score with respect to a conv layer's feature maps, averaged
    over each map, weighs that map; the ReLU of the weighted sum, upsampled to the image,
    is the heatmap. The gradient comes from the backend: ``tf.GradientTape`` on TensorFlow,
    ``jax.grad`` through ``stateless_call`` on JAX (the PyTorch backend is not supported).

    The class score is taken before the final softmax or sigmoid: the log-odds of the class
    against the others (for a softmax, ``z_c - log sum_{j != c} exp z_j``), which keeps its
    gradient when the model is confident, where the probability's gradient vanishes.

    Args:
        model: a Keras classifier (functional, or Sequential with a defined input) whose
            output is one row of class scores, or one sigmoid unit for two classes.
        image: one image of the model's input shape (H, W, C) (or a batch of one); uint8 is
            scaled to [0, 1].
        layer: name of the conv layer to explain; by default the last convolution (or nested
            model, e.g. a pretrained base) with a 4-D output, after its activation when that
            is a layer of its own.
        class_index: the class to explain; by default the predicted one.

    Returns:
        float32 heatmap of shape (H, W) in [0, 1] (all zeros when no pixel has positive
        evidence).

    See notebooks/09_transfer_learning.ipynb.
    """
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise ValueError(
            "`grad_cam` needs the gradients of the TensorFlow or JAX backend. "
            f"Received: KERAS_BACKEND={backend!r}"
        )
    _ensure_called(model)
    target = _find_layer(model, layer) if layer is not None else _last_conv(model)
    if not _is_spatial(target):
        raise ValueError(
            "`layer` must output a (batch, h, w, channels) feature map. "
            f"Received: layer={target.name!r} with output shape {layer_output(target).shape}"
        )
    head, kind = _logit_head(model)
    maps_tensor = layer_output(target)
    logits_tensor = head.input if head is not None else model.outputs[0]
    # Split the model at the explained layer: probe (input -> maps and any skip tensors that
    # cross it) and head (those -> logits), so the maps are an input to differentiate by.
    sides_tensors = _head_inputs(maps_tensor, logits_tensor, target.name)
    probe = _probe(model, [target], sides_tensors)
    rest = keras.Model(
        [maps_tensor, *sides_tensors] if sides_tensors else maps_tensor, logits_tensor
    )
    x = _one_image(image, model)
    outputs = probe(x, training=False)
    maps, *sides = outputs if sides_tensors else [outputs]
    if backend == "jax":  # jax.grad traces the call: pass the weights in, as Keras advises
        state = (
            [v.value for v in rest.trainable_variables],
            [v.value for v in rest.non_trainable_variables],
        )

        def call(m):
            return rest.stateless_call(*state, [m, *sides] if sides else m, training=False)[0]

    else:

        def call(m):
            return rest([m, *sides] if sides else m, training=False)

    def logits_of(m):
        z = call(m)
        if isinstance(head, keras.layers.Dense):
            z = keras.ops.matmul(z, head.kernel) + (head.bias if head.use_bias else 0.0)
        return z

    logits = keras.ops.convert_to_numpy(logits_of(maps))
    binary = kind == "sigmoid" and logits.shape[-1] == 1
    num_classes = 2 if binary else int(logits.shape[-1])
    if class_index is None:
        class_index = int(logits[0, 0] > 0) if binary else int(np.argmax(logits[0]))
    elif not 0 <= class_index < num_classes:
        raise ValueError(
            f"`class_index` must lie in [0, {num_classes - 1}]. Received: class_index={class_index}"
        )
    grads = _evidence_gradient(lambda m: _class_evidence(logits_of(m), class_index, kind), maps)
    maps = keras.ops.convert_to_numpy(maps)
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((weights * maps).sum(axis=-1), 0.0)[0]
    height, width = x.shape[1], x.shape[2]
    cam = keras.ops.image.resize(
        cam[None, :, :, None],
        (height, width),
        interpolation="bilinear",
        data_format="channels_last",
    )
    cam = keras.ops.convert_to_numpy(cam)[0, :, :, 0]
    peak = float(cam.max())
    return (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32)


def show_grad_cam(
    model,
    image,
    *,
    layer: str | None = None,
    class_index: int | None = None,
    class_names: Sequence[str] | None = None,
    alpha: float = 0.6,
    ax=None,
) -> Figure:
    """Overlay the Grad-CAM heatmap on the image it explains.

    Args:
        model, image, layer, class_index: as in :func:`grad_cam`.
        class_names: one name per class, for the title.
        alpha: heatmap opacity in [0, 1] where the evidence is strongest; it fades to
            transparent where the heatmap is 0. The image under it is drawn in gray.
        ax: an Axes to draw into; by default a new figure with the image and the overlay.

    Returns:
        The matplotlib Figure.

    See notebooks/09_transfer_learning.ipynb.
    """
    x = _one_image(image, model)
    probabilities = two_columns(np.asarray(model.predict(x, verbose=0)))[0]
    if class_index is None:
        class_index = int(np.argmax(probabilities))
    heat = grad_cam(model, image, layer=layer, class_index=class_index)
    shown = np.asarray(image)
    shown = displayable(shown[0] if shown.ndim == 4 else shown)
    label = f"{_name(class_index, class_names)} (p={probabilities[class_index]:.2f})"
    own = ax is None
    if own:
        fig, (ax_image, ax) = plt.subplots(1, 2, figsize=(6.4, 3.4), layout="constrained")
        ax_image.imshow(shown, cmap="gray", vmin=0, vmax=1)
        ax_image.set_title("input", fontsize=10)
        ax_image.set_axis_off()
    # The photo in gray under a heatmap that fades out where the evidence does: the colours
    # of the heat never mix with the colours of the picture.
    gray = (
        shown @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32) if shown.ndim == 3 else shown
    )
    ax.imshow(gray, cmap="gray", vmin=0, vmax=1)
    overlay = ax.imshow(heat, cmap="jet", alpha=alpha * np.sqrt(heat), vmin=0, vmax=1)
    ax.set_title(f"Grad-CAM for {label}", fontsize=10 if own else 8)
    ax.set_axis_off()
    fig = ax.figure
    if own:
        fig.colorbar(overlay, ax=ax, shrink=0.8, label="evidence")
        plt.close(fig)
    return fig


# --------------------------------------------------------------------------- training curves


def _history_dict(history) -> dict[str, list[float]]:
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            "`history` must be a keras History (what fit returns) or a dict of metric lists "
            f"such as {{'loss': [...], 'val_loss': [...]}}. Received: {type(history).__name__}"
        )
    return {key: [float(v) for v in values] for key, values in logs.items()}


def _accuracy_key(logs: Mapping[str, list[float]]) -> str | None:
    for key in logs:
        if not key.startswith("val_") and key.endswith(("accuracy", "acc")):
            return key
    return None


def plot_history(history, *, ax=None, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch, training vs validation, in one figure.

    Args:
        history: the ``keras.callbacks.History`` that ``fit`` returns, or its ``.history``
            dict (metric name -> one float per epoch).
        ax: a pair of Axes (loss, accuracy) to draw into; a new figure when None.
        title: an optional figure title.

    Returns:
        The matplotlib Figure. The best validation loss is marked with a dot.

    See notebooks/04_lenet_mnist.ipynb.
    """
    logs = _history_dict(history)
    accuracy = _accuracy_key(logs)
    panels = [("loss", "loss")] + ([(accuracy, "accuracy")] if accuracy else [])
    own = ax is None
    if own:
        fig, axes = plt.subplots(
            1, len(panels), figsize=(5.0 * len(panels), 3.6), squeeze=False, layout="constrained"
        )
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(ax))
        fig = axes[0].figure
    for axis, (key, label) in zip(axes, panels, strict=False):
        epochs = np.arange(1, len(logs[key]) + 1)
        axis.plot(epochs, logs[key], "o-", ms=3, label="train", color="#1f77b4")
        if f"val_{key}" in logs:
            values = logs[f"val_{key}"]
            axis.plot(
                epochs[: len(values)], values, "s-", ms=3, label="validation", color="#ff7f0e"
            )
            best = int(np.argmin(values) if key == "loss" else np.argmax(values))
            axis.plot(
                best + 1,
                values[best],
                "o",
                ms=9,
                mfc="none",
                mec="black",
                label=f"best val: {values[best]:.3f} (epoch {best + 1})",
            )
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        if len(epochs) <= 15:
            axis.set_xticks(epochs)
    if title:
        fig.suptitle(title)
    if own:
        plt.close(fig)
    return fig


# --------------------------------------------------------------------------- predictions


def misclassified(model, x, y) -> np.ndarray:
    """Indices of the wrongly classified images, the worst first.

    "Worst" means the lowest probability given to the true class: a confident mistake comes
    before a narrow one.

    Args:
        model: a Keras classifier with (N, num_classes) outputs.
        x: images as the model takes them (uint8 is scaled to [0, 1]).
        y: true labels of shape (N,) (or one-hot rows).

    Returns:
        int64 indices into ``x``, shape (M,) for the M mistakes.
    """
    return _misclassified(class_probabilities(model, x), _labels(y))


def _misclassified(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    wrong = np.flatnonzero(np.argmax(probabilities, axis=1) != labels)
    true_probability = probabilities[wrong, labels[wrong]]
    return wrong[np.argsort(true_probability, kind="stable")].astype(np.int64)


def _prediction_grid(x, labels, probabilities, indices, class_names, title, given) -> Figure:
    if len(indices) == 0:
        if given is None:
            fig, ax = plt.subplots(figsize=(4, 1.2), layout="constrained")
        else:
            fig, ax = given, given.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No images to show: every prediction is right.", ha="center", va="center")
        return _done(fig, given)
    fig, axes = _grid(len(indices), None, panel=1.7, extra_height=0.45, fig=given)
    for ax, i in zip(axes, indices, strict=False):
        predicted = int(np.argmax(probabilities[i]))
        right = predicted == labels[i]
        ax.imshow(displayable(x[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(
            f"pred {_name(predicted, class_names)} ({probabilities[i, predicted]:.0%})\n"
            f"true {_name(labels[i], class_names)}"
            + ("" if right else f" ({probabilities[i, labels[i]]:.0%})"),
            fontsize=8,
            color=_RIGHT if right else _WRONG,
        )
    fig.suptitle(title, fontsize=10)
    return _done(fig, given)


def show_predictions(
    model,
    x,
    y,
    *,
    class_names: Sequence[str] | None = None,
    n: int = 16,
    worst_first: bool = False,
    fig: Figure | SubFigure | None = None,
) -> Figure:
    """Images with predicted label, confidence and true label (green right, red wrong).

    Args:
        model: a Keras classifier with (N, num_classes) outputs.
        x: images (uint8 is scaled to [0, 1] for the model, drawn as is).
        y: true labels of shape (N,) (or one-hot rows).
        class_names: one name per class.
        n: how many images to draw.
        worst_first: if True, order by the probability of the true class, lowest first;
            otherwise the first ``n`` images in order.
        fig: a Figure or SubFigure (``Figure.subfigures``) to draw the panels in, to
            combine this figure with others; a new figure when None.

    Returns:
        The matplotlib Figure (or ``fig``).

    See notebooks/04_lenet_mnist.ipynb.
    """
    x = _batch(x)
    labels = _labels(y)
    probabilities = class_probabilities(model, x)
    if worst_first:
        indices = np.argsort(probabilities[np.arange(len(x)), labels], kind="stable")[:n]
    else:
        indices = np.arange(min(n, len(x)))
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    title = f"Predictions (accuracy {accuracy:.1%} on {len(x)} images)"
    return _prediction_grid(x, labels, probabilities, indices, class_names, title, fig)


def show_misclassified(
    model,
    x,
    y,
    *,
    class_names: Sequence[str] | None = None,
    n: int = 16,
    fig: Figure | SubFigure | None = None,
) -> Figure:
    """The wrongly classified images, the most confident mistakes first.

    Args:
        model, x, y, class_names: as in :func:`show_predictions`.
        n: how many mistakes to draw.
        fig: as in :func:`show_predictions`.

    Returns:
        The matplotlib Figure or ``fig`` (a note when there is no mistake).

    See notebooks/04_lenet_mnist.ipynb.
    """
    x = _batch(x)
    labels = _labels(y)
    probabilities = class_probabilities(model, x)
    wrong = _misclassified(probabilities, labels)
    title = f"{len(wrong)} of {len(x)} images misclassified; the worst {min(n, len(wrong))}"
    return _prediction_grid(x, labels, probabilities, wrong[:n], class_names, title, fig)


# --------------------------------------------------------------------------- architecture


def _has_graphviz() -> bool:
    try:
        import pydot  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def _layer_rows(model) -> list[tuple[str, str, str]]:
    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer_output(layer).shape[1:]))
        except (AttributeError, ValueError):
            shape = "?"
        rows.append((layer.name, type(layer).__name__, shape))
    return rows


def plot_model(model, *, show_shapes: bool = True, dpi: int = 96, ax=None) -> Figure:
    """An architecture picture of the model.

    With pydot and Graphviz installed this is ``keras.utils.plot_model``'s graph. Without
    them it warns how to install them and draws a plain stack of the layers (name, type,
    output shape) in their order, so a notebook still runs and shows something true: the
    title says when the model has branches the stack cannot show, and a model of more than
    40 layers shows its first and last ones.

    Args:
        model: a built Keras model.
        show_shapes: write each layer's output shape.
        dpi: resolution of the Graphviz picture.
        ax: matplotlib Axes to draw on; a new (closed) figure when None.

    Returns:
        The matplotlib Figure.

    See notebooks/04_lenet_mnist.ipynb.
    """
    _ensure_called(model)
    if _has_graphviz():
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.png"
            keras.utils.plot_model(model, to_file=str(path), show_shapes=show_shapes, dpi=dpi)
            picture = plt.imread(path)
        height, width = picture.shape[:2]
        given = ax
        if ax is None:
            _, ax = plt.subplots(figsize=(width / dpi, height / dpi), layout="constrained")
        ax.imshow(picture)
        ax.set_axis_off()
        return _done(ax.figure, given)

    warnings.warn(
        "plot_model draws a simple layer stack: Graphviz pictures need pydot and Graphviz. "
        "Install them with `pip install pydot` and `apt-get install graphviz` "
        "(macOS: `brew install graphviz`; conda: `conda install graphviz pydot`).",
        stacklevel=2,
    )
    rows = _layer_rows(model)
    total = len(rows)
    if total > _MAX_STACK:  # a ResNet has hundreds: keep the two ends readable
        head = _MAX_STACK // 2
        tail = _MAX_STACK - head - 1
        rows = [*rows[:head], ("...", f"{total - head - tail} more layers", ""), *rows[-tail:]]
    merges = (
        keras.layers.Add,
        keras.layers.Concatenate,
        keras.layers.Multiply,
        keras.layers.Average,
        keras.layers.Maximum,
        keras.layers.Subtract,
    )
    branched = any(isinstance(layer, merges) for layer in model.layers)
    given = ax
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 0.42 * len(rows) + 0.8), layout="constrained")
    ax.set_xlim(0, 1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_axis_off()
    for i, (name, kind, shape) in enumerate(rows):
        ax.text(
            0.5,
            i,
            f"{name}  ({kind})" + (f"   {shape}" if show_shapes and shape else ""),
            ha="center",
            va="center",
            fontsize=9,
            family="monospace",
            bbox={"boxstyle": "round,pad=0.3", "fc": "#eef3fb", "ec": "#4a6fa5"},
        )
        if i:
            ax.annotate(
                "",
                xy=(0.5, i - 0.28),
                xytext=(0.5, i - 0.72),
                arrowprops={"arrowstyle": "->", "color": "#4a6fa5"},
            )
    title = f"{model.name}: {total} layers, {model.count_params():,} parameters"
    if branched:
        title += "\nlayers in order; branches and merges are not drawn"
    ax.set_title(title, fontsize=10)
    return _done(ax.figure, given)
