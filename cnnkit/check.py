"""Checks for the "Check yourself" exercises: answers, whole models and blocks of layers.

Each checker prints one line and returns ``True`` when the answer is right, prints
"<name>: not answered yet" and returns ``False`` while the answer is still ``None``, and
raises ``AssertionError`` with what is wrong and how to fix it otherwise::

    check.answer("parameters of conv2", 25_050, conv2.count_params())
    check.model(my_lenet, models.lenet())
    check.block(my_inception, reference_inception, (32, 32, 96), filters=(32, 32))

`model` compares two Keras models layer by layer: the input shapes, then the layers that
hold weights in order (type, filters or units, kernel size, strides, padding, bias,
activation, output shape, parameters) together with the pooling, flatten and merge layers
between them, then the output shapes and parameter totals, and finally a forward pass with
the reference's weights copied in, which must give the reference's outputs. The first
difference is the message, e.g. "your 2nd Conv2D (conv2d_1) has 4,050 parameters, the
reference's has 25,050: its kernel is 2x2, the reference's is 5x5; pass kernel_size=5".

See notebooks/04_lenet_mnist.ipynb.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import layers

__all__ = ["answer", "block", "model"]

_REL_TOL = 1e-3
_THEIRS = "the reference's"
_ACTIVATION_LAYERS = (
    layers.Activation,
    layers.ReLU,
    layers.LeakyReLU,
    layers.ELU,
    layers.Softmax,
)
_PASS_THROUGH = (
    layers.Dropout,
    layers.SpatialDropout1D,
    layers.SpatialDropout2D,
    layers.SpatialDropout3D,
    layers.GaussianNoise,
    layers.GaussianDropout,
    layers.AlphaDropout,
)
_MERGE_LAYERS = (
    layers.Add,
    layers.Average,
    layers.Concatenate,
    layers.Dot,
    layers.Maximum,
    layers.Minimum,
    layers.Multiply,
    layers.Subtract,
)
# Options compared on layers with weights, in the order a learner should fix them.
_OPTIONS = (
    "filters",
    "units",
    "kernel_size",
    "depth_multiplier",
    "use_bias",
    "strides",
    "dilation_rate",
    "padding",
    "groups",
)
_POOL_OPTIONS = ("pool_size", "strides", "padding")


# ----------------------------------------------------------------------------- answers


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "True or False"
    if isinstance(value, numbers.Number):
        return "a number"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "a sequence"
    return f"a {type(value).__name__}"


def _same(given: Any, expected: Any) -> bool:
    if isinstance(expected, str):
        return isinstance(given, str) and given.strip().casefold() == expected.strip().casefold()
    if isinstance(expected, bool) or isinstance(given, bool):
        return given is expected or (isinstance(given, np.bool_) and bool(given) == expected)
    if isinstance(expected, numbers.Number):
        if not isinstance(given, numbers.Number):
            return False
        if isinstance(expected, numbers.Integral):
            return given == expected
        return math.isclose(given, expected, rel_tol=_REL_TOL, abs_tol=1e-12)
    if isinstance(expected, np.ndarray):
        given = np.asarray(given)
        return given.shape == expected.shape and bool(
            np.allclose(given, expected, rtol=_REL_TOL, atol=1e-12)
        )
    if isinstance(expected, Mapping):
        return (
            isinstance(given, Mapping)
            and set(given) == set(expected)
            and all(_same(given[k], expected[k]) for k in expected)
        )
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(given, (list, tuple, np.ndarray))
            and len(given) == len(expected)
            and all(_same(g, e) for g, e in zip(given, expected, strict=True))
        )
    return given == expected


def answer(name: str, answer: Any, expected: Any, *, hint: str | None = None) -> bool:
    """Check one answer of a "Check yourself" exercise.

    Numbers that are not integers match within a relative tolerance of 1e-3; integers must
    be equal; strings match without regard to case or surrounding spaces; lists, tuples,
    arrays and dicts match element by element.

    Args:
        name: what the answer is called, e.g. ``"parameters of conv2"``; starts each message.
        answer: the learner's answer; ``None`` means not answered yet.
        expected: the right answer (not ``None``).
        hint: a sentence added to the message of a wrong answer.

    Returns:
        ``True`` after printing "<name>: correct"; ``False`` after printing
        "<name>: not answered yet" when ``answer`` is ``None``.

    Raises:
        AssertionError: "<name>: <answer> is not it", then the hint, for a wrong answer.
        ValueError: if ``expected`` is ``None``.

    See notebooks/04_lenet_mnist.ipynb.
    """
    if expected is None:
        raise ValueError(
            f"`expected` must be the right answer, not None. Received: expected={expected!r}"
        )
    if answer is None:
        print(f"{name}: not answered yet")
        return False
    if not _same(answer, expected):
        message = f"{name}: {answer!r} is not it"
        if _kind(answer) != _kind(expected):
            message += f" (it is {_kind(answer)}; the answer is {_kind(expected)})"
        if hint:
            message += f". Hint: {hint}"
        raise AssertionError(message)
    print(f"{name}: correct")
    return True


# ----------------------------------------------------------------------------- models


@dataclass
class _Layer:
    """One layer as the checker sees it."""

    layer: Any
    kind: str  # "weights" or "shape"
    ordinal: int = 0  # 1-based among the layers of its type with weights
    shape: tuple | None = None  # output shape without the batch axis
    activations: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)
    feeds: tuple = ()  # what its inputs come from, see _feeds

    @property
    def type(self) -> str:
        return type(self.layer).__name__

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def params(self) -> int:
        return int(self.layer.count_params())


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _size(shape: tuple | None) -> str:
    if shape is None:
        return "an unknown shape"
    return "x".join("?" if s is None else str(s) for s in shape) or "a scalar"


def _tensors(value) -> list:
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return [value]


def _output_shape(layer) -> tuple | None:
    try:
        return tuple(_tensors(layer.output)[0].shape[1:])
    except (AttributeError, ValueError, IndexError):
        return None


def _input_shape(layer) -> tuple | None:
    try:
        return tuple(_tensors(layer.input)[0].shape[1:])
    except (AttributeError, ValueError, IndexError):
        return None


def _flat_layers(model: keras.Model) -> list:
    """Layers in graph order, nested models expanded, input layers left out."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(_flat_layers(layer))
        elif not isinstance(layer, layers.InputLayer):
            found.append(layer)
    return found


def _consumers(flat: list) -> dict[int, list]:
    """id(layer) -> the layers that take its output (each once, at any of their calls)."""
    taken: dict[int, list] = {}
    for layer in flat:
        for node in getattr(layer, "_inbound_nodes", []):
            for tensor in _tensors(list(node.input_tensors)):
                history = getattr(tensor, "_keras_history", None)
                if history is None:
                    continue
                users = taken.setdefault(id(history.operation), [])
                if all(user is not layer for user in users):
                    users.append(layer)
    return taken


def _activation_name(layer) -> str | None:
    """The activation a layer applies, e.g. ``"relu"``, or None for a linear one."""
    if isinstance(layer, layers.ReLU):
        config = layer.get_config()
        if config.get("max_value") is None and not config.get("negative_slope"):
            return "relu"
        return "relu(max_value={max_value}, negative_slope={negative_slope})".format(**config)
    if isinstance(layer, layers.LeakyReLU):
        return "leaky_relu"
    if isinstance(layer, layers.ELU):
        return "elu"
    if isinstance(layer, layers.Softmax):
        return "softmax"
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    label = getattr(function, "__name__", None) or str(function)
    return None if label == "linear" else label


def _activations(layer, consumers: dict[int, list]) -> tuple[str, ...]:
    """The activations applied to a layer's output: its own, then activation layers after it."""
    found = [name for name in [_activation_name(layer)] if name]
    current = layer
    while True:
        after = consumers.get(id(current), [])
        if len(after) != 1 or not isinstance(after[0], _ACTIVATION_LAYERS + _PASS_THROUGH):
            break
        current = after[0]
        name = _activation_name(current) if isinstance(current, _ACTIVATION_LAYERS) else None
        if name:
            found.append(name)
    return tuple(found)


def _is_structural(layer) -> bool:
    if isinstance(layer, _ACTIVATION_LAYERS + _PASS_THROUGH):
        return False
    if isinstance(layer, _MERGE_LAYERS) or "Pooling" in type(layer).__name__:
        return True
    return _output_shape(layer) != _input_shape(layer)


def _options(layer, names: Sequence[str]) -> dict:
    config = layer.get_config()
    return {key: config[key] for key in names if key in config}


def _producer(tensor) -> tuple[Any, tuple[str, ...]]:
    """The layer a tensor comes from (looking through activations and dropout) and the
    activations applied to it on the way, its own ``activation=`` first."""
    applied: list[str] = []
    while True:
        history = getattr(tensor, "_keras_history", None)
        operation = None if history is None else history.operation
        if not isinstance(operation, _ACTIVATION_LAYERS + _PASS_THROUGH):
            own = None if operation is None else _activation_name(operation)
            return operation, tuple(([own] if own else []) + applied[::-1])
        name = _activation_name(operation) if isinstance(operation, _ACTIVATION_LAYERS) else None
        if name:
            applied.append(name)
        try:  # the node this tensor came from, also for a layer called more than once
            tensor = operation._inbound_nodes[history.node_index].input_tensors[0]
        except (AttributeError, IndexError):
            return operation, tuple(applied[::-1])


def _feeds(layer) -> tuple:
    """What feeds a layer: per input, the producing layer's kind and the activations between."""
    try:
        inputs = _tensors(layer.input)
    except (AttributeError, ValueError):
        return ()
    found = []
    for tensor in inputs:
        producer, applied = _producer(tensor)
        if producer is None or isinstance(producer, layers.InputLayer):
            kind = ("input",)
        else:
            kind = (type(producer).__name__, repr(sorted(_options(producer, _OPTIONS).items())))
        found.append((kind, applied))
    return tuple(sorted(found))


def _feed_text(item: _Layer) -> str:
    parts = []
    for kind, applied in item.feeds:
        source = "the model's input" if kind == ("input",) else f"a {kind[0]}"
        parts.append(f"{source} after {' then '.join(applied)}" if applied else source)
    return " and ".join(parts) or "nothing"


def _describe(model: keras.Model) -> list[_Layer]:
    """The layers with weights and the shape-changing layers of a model, in graph order."""
    flat = _flat_layers(model)
    consumers = _consumers(flat)
    seen: dict[str, int] = {}
    described = []
    for layer in flat:
        if layer.weights:
            seen[type(layer).__name__] = seen.get(type(layer).__name__, 0) + 1
            described.append(
                _Layer(
                    layer,
                    "weights",
                    ordinal=seen[type(layer).__name__],
                    shape=_output_shape(layer),
                    activations=_activations(layer, consumers),
                    options=_options(layer, _OPTIONS),
                    feeds=_feeds(layer),
                )
            )
        elif _is_structural(layer):
            described.append(
                _Layer(
                    layer,
                    "shape",
                    shape=_output_shape(layer),
                    options=_options(layer, _POOL_OPTIONS),
                    feeds=_feeds(layer),
                )
            )
    return described


def _label(item: _Layer, whose: str) -> str:
    """'your 2nd Conv2D (conv2d_1)' or "the reference's 2nd Conv2D (conv2)"."""
    if item.kind == "weights":
        return f"{whose} {_ordinal(item.ordinal)} {item.type} ({item.name})"
    return f"{whose} {item.type} ({item.name})"


def _value(option: str, value) -> str:
    if option in ("kernel_size", "strides", "dilation_rate", "pool_size") and isinstance(
        value, (list, tuple)
    ):
        return "x".join(str(v) for v in value)
    if option == "padding":
        return f'"{value}"'
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _argument(option: str, value) -> str:
    if isinstance(value, (list, tuple)) and len(set(value)) == 1:
        value = value[0]
    if isinstance(value, list):
        value = tuple(value)
    return f"{option}={value!r}".replace("'", '"')


_PHRASES = {
    "filters": "it has {mine} filters, the reference's has {theirs}",
    "units": "it has {mine} units, the reference's has {theirs}",
    "kernel_size": "its kernel is {mine}, the reference's is {theirs}",
    "depth_multiplier": "its depth_multiplier is {mine}, the reference's is {theirs}",
    "strides": "its strides are {mine}, the reference's are {theirs}",
    "dilation_rate": "its dilation_rate is {mine}, the reference's is {theirs}",
    "padding": "its padding is {mine}, the reference's is {theirs}",
    "groups": "its groups is {mine}, the reference's is {theirs}",
    "pool_size": "its pool_size is {mine}, the reference's is {theirs}",
}


def _option_difference(mine: _Layer, theirs: _Layer, names: Sequence[str]) -> str | None:
    """'its kernel is 2x2, the reference's is 5x5; pass kernel_size=5' or None."""
    for option in names:
        if option not in theirs.options or mine.options.get(option) == theirs.options[option]:
            continue
        want = theirs.options[option]
        if option == "use_bias":
            if want:
                return "it has no bias, the reference's has one; leave out use_bias=False"
            return "it has a bias, the reference's has none; pass use_bias=False"
        phrase = _PHRASES[option].format(
            mine=_value(option, mine.options.get(option)), theirs=_value(option, want)
        )
        return f"{phrase}; pass {_argument(option, want)}"
    return None


def _input_depth(item: _Layer) -> int | None:
    shape = _input_shape(item.layer)
    return None if not shape else shape[-1]


def _compare_weight_layers(mine: _Layer, theirs: _Layer, last: bool) -> str | None:
    you, ref = _label(mine, "your"), _label(theirs, _THEIRS)
    if mine.type != theirs.type:
        return f"{you} is a {mine.type}; {_THEIRS} layer there is a {theirs.type} ({theirs.name})"
    lead = f"{you} has {mine.params:,} parameters, the reference's has {theirs.params:,}"
    if mine.params == theirs.params:
        lead = f"{you} outputs {_size(mine.shape)}, the reference's {_size(theirs.shape)}"
    fix = _option_difference(mine, theirs, _OPTIONS)
    if fix:
        if "units" in fix and last:
            fix += " (the output layer has one unit per class)"
        if mine.params == theirs.params and mine.shape == theirs.shape:
            lead = f"{you} differs from {ref}"
        return f"{lead}: {fix}"
    depth_mine, depth_theirs = _input_depth(mine), _input_depth(theirs)
    if depth_mine != depth_theirs:
        return (
            f"{lead}: its input has depth {depth_mine}, the reference's {depth_theirs}; "
            "check the layers before it"
        )
    if mine.params != theirs.params or mine.shape != theirs.shape:
        return f"{lead}; compare it with {ref}"
    if mine.activations != theirs.activations:
        said = " then ".join(mine.activations) or "no activation"
        wanted = " then ".join(theirs.activations) or "no activation"
        fix = "apply the reference's activations in its order"
        if not theirs.activations:
            fix = "remove the activation after it"
        elif len(theirs.activations) == 1:
            fix = f'pass activation="{theirs.activations[0]}" or put that activation right after it'

        return f"{you} is followed by {said}, {ref} by {wanted}; {fix}"
    return None


def _advice(item: _Layer) -> str:
    if "Pooling" in item.type and "Global" not in item.type:
        arguments = [_argument("pool_size", item.options.get("pool_size", (2, 2)))]
        strides = item.options.get("strides")
        if strides is not None and tuple(strides) != tuple(item.options.get("pool_size", ())):
            arguments.append(_argument("strides", strides))
        if item.options.get("padding", "valid") != "valid":
            arguments.append(_argument("padding", item.options["padding"]))
        return f"layers.{item.type}({', '.join(arguments).replace('pool_size=', '')})"
    return f"layers.{item.type}()"


def _where(before: _Layer | None, after: _Layer | None) -> str:
    if before is None and after is None:
        return "in your model"
    if before is None:
        return f"before {_label(after, 'your')}"
    if after is None:
        return f"after {_label(before, 'your')}"
    return f"between {_label(before, 'your')} and {_label(after, 'your')}"


def _compare_segment(
    mine: list[_Layer], theirs: list[_Layer], before: _Layer | None, after: _Layer | None
) -> str | None:
    """Compare the shape-changing layers between two layers with weights."""
    where = _where(before, after)
    for i in range(max(len(mine), len(theirs))):
        m = mine[i] if i < len(mine) else None
        t = theirs[i] if i < len(theirs) else None
        if m is not None and t is not None and m.type == t.type:
            fix = _option_difference(m, t, _POOL_OPTIONS)
            if m.shape != t.shape or fix:
                text = (
                    f"your {m.type} ({m.name}) {where} outputs {_size(m.shape)}, "
                    f"{_THEIRS} {_size(t.shape)}"
                )
                return f"{text}: {fix}" if fix else f"{text}; check the layers before it"
            continue
        missing = t is not None and (
            m is None
            or (len(mine) < len(theirs) and i + 1 < len(theirs) and theirs[i + 1].type == m.type)
        )
        if missing:
            came = f"from {_size(_input_shape(t.layer))} to {_size(t.shape)}"
            return (
                f"your model has no {t.type} {where}: the reference's {t.type} ({t.name}) goes "
                f"{came} there; add {_advice(t)}"
            )
        if t is None or len(mine) > len(theirs):
            return (
                f"your {m.type} ({m.name}) {where} is not in the reference (it goes from "
                f"{_size(_input_shape(m.layer))} to {_size(m.shape)}); remove it"
            )
        return (
            f"your {m.type} ({m.name}) {where} is a {t.type} ({t.name}) in the reference; "
            f"use {_advice(t)}"
        )
    return None


def _segments(described: list[_Layer]) -> tuple[list[_Layer], list[list[_Layer]]]:
    """Layers with weights, and the shape layers before each of them (one more at the end)."""
    weights, segments, current = [], [], []
    for item in described:
        if item.kind == "weights":
            weights.append(item)
            segments.append(current)
            current = []
        else:
            current.append(item)
    segments.append(current)
    return weights, segments


def _wiring_difference(mine: list[_Layer], theirs: list[_Layer]) -> str | None:
    """For the same layers in another order: the first layer fed differently, if any."""
    unmatched = Counter((_signature(t), t.feeds) for t in theirs)
    for item in mine:
        key = (_signature(item), item.feeds)
        if unmatched[key]:
            unmatched[key] -= 1
            continue
        other = next(t for t in theirs if _signature(t) == _signature(item))
        whose = _label(item, "your")
        return (
            f"{whose} takes {_feed_text(item)}, while the reference's {item.type} with the "
            f"same settings takes {_feed_text(other)}: check which tensor you call it on"
        )
    return None


def _signature(item: _Layer) -> tuple:
    return (
        item.type,
        repr(sorted(item.options.items())),
        item.params,
        item.shape,
        item.activations,
    )


def _key(item: _Layer) -> tuple:
    return (
        item.type,
        item.options.get("filters"),
        item.options.get("units"),
        repr(item.options.get("kernel_size")),
    )


def _constructor(item: _Layer) -> str:
    """The Keras call that builds ``item``, e.g. ``layers.Dense(500, activation="relu")``."""
    arguments = []
    for option in ("filters", "units", "kernel_size"):
        if option in item.options:
            value = item.options[option]
            arguments.append(_argument(option, value).split("=", 1)[1])
    defaults = {"strides": (1,), "padding": "valid", "use_bias": True, "dilation_rate": (1,)}
    for option, default in defaults.items():
        value = item.options.get(option)
        if value is None:
            continue
        plain = tuple(set(value)) if isinstance(value, (list, tuple)) else value
        if plain != default:
            arguments.append(_argument(option, value))
    if len(item.activations) == 1:
        arguments.append(f'activation="{item.activations[0]}"')
    return f"layers.{item.type}({', '.join(arguments)})"


def _missing_or_extra(my_weights: list[_Layer], their_weights: list[_Layer], i: int) -> str | None:
    """A layer with weights the candidate lacks or has in excess at position ``i``, if any."""
    m = my_weights[i] if i < len(my_weights) else None
    t = their_weights[i] if i < len(their_weights) else None
    before = my_weights[i - 1] if 0 < i <= len(my_weights) else None
    if t is not None and (
        m is None
        or (
            len(my_weights) < len(their_weights)
            and _key(t) != _key(m)
            and i + 1 < len(their_weights)
            and _key(their_weights[i + 1]) == _key(m)
        )
    ):
        place = _where(before, m)
        return (
            f"{_label(t, _THEIRS)} (output {_size(t.shape)}) is missing {place}; "
            f"add {_constructor(t)}"
        )
    if m is not None and (
        t is None
        or (
            len(my_weights) > len(their_weights)
            and _key(t) != _key(m)
            and i + 1 < len(my_weights)
            and _key(my_weights[i + 1]) == _key(t)
        )
    ):
        return (
            f"{_label(m, 'your')} is not in the reference (it outputs {_size(m.shape)}); remove it"
        )
    return None


def _first_difference(mine: list[_Layer], theirs: list[_Layer]) -> str | None:
    my_weights, my_segments = _segments(mine)
    their_weights, their_segments = _segments(theirs)
    count = ""
    if len(my_weights) != len(their_weights):
        count = (
            f"your model has {len(my_weights)} layers with weights, the reference "
            f"{len(their_weights)}; the first difference: "
        )
    for i in range(max(len(my_weights), len(their_weights)) + 1):
        problem = None
        if i < max(len(my_weights), len(their_weights)):
            problem = _missing_or_extra(my_weights, their_weights, i)
        if problem is None:
            problem = _compare_segment(
                my_segments[i] if i < len(my_segments) else [],
                their_segments[i] if i < len(their_segments) else [],
                my_weights[i - 1] if 0 < i <= len(my_weights) else None,
                my_weights[i] if i < len(my_weights) else None,
            )
        if problem is None and i < min(len(my_weights), len(their_weights)):
            problem = _compare_weight_layers(
                my_weights[i], their_weights[i], last=i == len(their_weights) - 1
            )
        if problem:
            return count + problem
    return None


def _shapes(tensors) -> list[tuple]:
    return [tuple(t.shape[1:]) for t in _tensors(tensors)]


def _forward(
    candidate: keras.Model, reference: keras.Model, mine: list[_Layer], theirs: list[_Layer]
) -> str | None:
    """Run both models on the same random batch with the reference's weights in the candidate."""
    rng = np.random.default_rng(0)
    # Normal, not uniform in [0, 1): negative inputs tell a ReLU from no activation.
    batch = [
        rng.standard_normal((2, *shape), dtype=np.float32) for shape in _shapes(reference.inputs)
    ]
    feed = batch[0] if len(batch) == 1 else batch
    pairs = [(m.layer, t.layer) for m, t in zip(mine, theirs, strict=True) if m.kind == "weights"]
    saved = [layer.get_weights() for layer, _ in pairs]
    try:
        for layer, source in pairs:
            layer.set_weights(source.get_weights())
        got = [keras.ops.convert_to_numpy(t) for t in _tensors(candidate(feed, training=False))]
    except Exception as error:  # the learner's model failing on a batch is the message
        return f"your model fails on a batch of 2 inputs: {type(error).__name__}: {error}"
    finally:
        for (layer, _), weights in zip(pairs, saved, strict=True):
            layer.set_weights(weights)
    want = [keras.ops.convert_to_numpy(t) for t in _tensors(reference(feed, training=False))]
    for g, w in zip(got, want, strict=True):
        scale = max(1.0, float(np.abs(w).max()))
        if g.shape != w.shape or not np.allclose(g, w, rtol=_REL_TOL, atol=1e-4 * scale):
            gap = float(np.abs(g - w).max()) if g.shape == w.shape else float("nan")
            return (
                "with the reference's weights copied in, your model computes other outputs "
                f"(largest difference {gap:.3g}): its layers match, so check the activations, "
                "the order of the layers and how branches are merged"
            )
    return None


def _graph_inputs(candidate: Any, what: str) -> list:
    if not isinstance(candidate, keras.Model):
        raise AssertionError(
            f"{what} is {_kind(candidate)}, not a Keras model: build it with "
            "keras.Model(inputs, outputs) or keras.Sequential([keras.Input(...), ...])"
        )
    try:
        inputs = candidate.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise AssertionError(f"{what} has no input shape yet: start it with keras.Input(shape=...)")
    return inputs


def _compare(candidate: keras.Model, reference: keras.Model) -> None:
    mine_in = _shapes(_graph_inputs(candidate, "your model"))
    theirs_in = _shapes(reference.inputs)
    if mine_in != theirs_in:
        shown = ", ".join(_size(s) for s in mine_in)
        wanted = ", ".join(_size(s) for s in theirs_in)
        raise AssertionError(
            f"your model takes inputs of {shown}, the reference {wanted}: "
            f"pass shape={theirs_in[0]} to keras.Input"
        )
    mine, theirs = _describe(candidate), _describe(reference)
    problem = _first_difference(mine, theirs)
    aligned = problem is None
    if aligned or sorted(map(_signature, mine)) == sorted(map(_signature, theirs)):
        # The same layers, maybe in another graph order (branches written in another
        # order): equal when every layer is also fed the same way.
        problem = _wiring_difference(mine, theirs)
    if problem:
        raise AssertionError(problem)
    mine_out, theirs_out = _shapes(candidate.outputs), _shapes(reference.outputs)
    if mine_out != theirs_out:
        raise AssertionError(
            f"your model outputs {', '.join(map(_size, mine_out))} per input, the reference "
            f"{', '.join(map(_size, theirs_out))}"
        )
    if candidate.count_params() != reference.count_params():
        raise AssertionError(
            f"your model has {candidate.count_params():,} parameters, the reference "
            f"{reference.count_params():,}"
        )
    if aligned:
        problem = _forward(candidate, reference, mine, theirs)
        if problem:
            raise AssertionError(problem)


def model(
    candidate: keras.Model | None, reference: keras.Model, *, name: str = "your model"
) -> bool:
    """Check a learner's Keras model against a reference network.

    Compared, in this order (the first difference is the message): the input shapes; the
    layers that hold weights in graph order (type; filters or units; kernel size; bias;
    strides; padding; input depth; output shape; parameters; the activation that follows)
    with the pooling, flatten and merge layers between them (type, pool size, output shape);
    which layer feeds each of them (so a branch called on the wrong tensor is named);
    the output shapes; the parameter totals; and a forward pass on a random batch of 2 with
    the reference's weights copied into the candidate (its own weights are put back after),
    whose outputs must equal the reference's within a relative 1e-3. An activation may be a
    layer's ``activation=`` or a separate ``Activation``/``ReLU`` layer after it; dropout
    layers are ignored. When only the order of parallel branches differs, the model passes.

    Args:
        candidate: the learner's model (functional or ``Sequential`` started with
            ``keras.Input``), or ``None`` while not answered.
        reference: the network to match, a built Keras model.
        name: what the answer is called; starts each message.

    Returns:
        ``True`` after printing "<name>: correct"; ``False`` after printing
        "<name>: not answered yet" when ``candidate`` is ``None``.

    Raises:
        AssertionError: "<name>: " and the first difference, naming the layer (ordinal, type
            and name), what it has, what the reference has and the likely fix.
        ValueError: if ``reference`` is not a built Keras model.

    See notebooks/04_lenet_mnist.ipynb.
    """
    if not isinstance(reference, keras.Model) or not _safe_inputs(reference):
        raise ValueError(
            "`reference` must be a built Keras model (functional, or Sequential started with "
            f"keras.Input). Received: reference={reference!r}"
        )
    if candidate is None:
        print(f"{name}: not answered yet")
        return False
    try:
        _compare(candidate, reference)
    except AssertionError as error:
        raise AssertionError(f"{name}: {error}") from None
    print(f"{name}: correct")
    return True


def _safe_inputs(reference: keras.Model) -> bool:
    try:
        return bool(reference.inputs)
    except AttributeError:
        return False


def block(
    candidate_fn: Callable | None,
    reference_fn: Callable,
    input_shape: Sequence[int],
    *,
    name: str = "your block",
    **kwargs: Any,
) -> bool:
    """Check a learner's block function (a tensor in, a tensor out) against a reference one.

    Both functions are called on ``keras.Input(input_shape)`` with ``**kwargs``, wrapped in
    ``keras.Model(inputs, fn(inputs, **kwargs))`` and compared as `model` compares models.

    Args:
        candidate_fn: the learner's function, or ``None``; a function that still returns
            ``None`` (the exercise template) counts as not answered.
        reference_fn: the block to match.
        input_shape: (height, width, channels) of the block's input, without the batch axis.
        name: what the answer is called; starts each message.
        **kwargs: passed to both functions (e.g. ``filters=64``).

    Returns:
        ``True`` after printing "<name>: correct"; ``False`` after printing
        "<name>: not answered yet".

    Raises:
        AssertionError: "<name>: " and the first difference, as in `model`.
        ValueError: if ``reference_fn`` is not callable or ``input_shape`` is not a sequence
            of positive integers.

    See notebooks/07_googlenet.ipynb.
    """
    if not callable(reference_fn):
        raise ValueError(
            "`reference_fn` must be a function from a tensor to a tensor. "
            f"Received: reference_fn={reference_fn!r}"
        )
    if (
        not isinstance(input_shape, Sequence)
        or not input_shape
        or not all(isinstance(s, numbers.Integral) and s > 0 for s in input_shape)
    ):
        raise ValueError(
            "`input_shape` must be a tuple of positive integers without the batch axis, e.g. "
            f"(32, 32, 3). Received: input_shape={input_shape!r}"
        )
    if candidate_fn is None:
        print(f"{name}: not answered yet")
        return False
    inputs = keras.Input(tuple(input_shape))
    outputs = candidate_fn(inputs, **kwargs)
    if outputs is None:
        print(f"{name}: not answered yet")
        return False
    candidate = keras.Model(inputs, outputs, name="candidate")
    reference_inputs = keras.Input(tuple(input_shape))
    reference = keras.Model(
        reference_inputs, reference_fn(reference_inputs, **kwargs), name="reference"
    )
    return model(candidate, reference, name=name)
