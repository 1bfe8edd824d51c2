"""Tests for cnnkit.check: answers, models and blocks, right and wrong, with the messages pinned."""

import keras
import numpy as np
import pytest
from keras import layers

from cnnkit import check, models


def _lenet(
    *,
    kernel2=5,
    filters1=20,
    pool1=True,
    fc1=True,
    classes=10,
    activation="relu",
    pool=layers.MaxPooling2D,
    padding="same",
    bias2=True,
    flatten=True,
):
    """LeNet as a learner writes it, with one thing changeable at a time."""
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(filters1, 5, padding=padding, activation=activation, name="c1")(inputs)
    if pool1:
        x = pool(2)(x)
    x = layers.Conv2D(
        50, kernel2, padding="same", activation=activation, use_bias=bias2, name="c2"
    )(x)
    x = pool(2)(x)
    if flatten:
        x = layers.Flatten()(x)
    if fc1:
        x = layers.Dense(500, activation=activation, name="d1")(x)
    outputs = layers.Dense(classes, activation="softmax", name="d2")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def reference():
    return models.lenet()


def test_right_model_passes(reference, capsys):
    assert check.model(_lenet(), reference, name="my_lenet") is True
    assert capsys.readouterr().out == "my_lenet: correct\n"


def test_separate_activation_layers_and_dropout_are_the_same_network(reference):
    sequential = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(20, 5, padding="same"),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Conv2D(50, 5, padding="same"),
            layers.Activation("relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(500, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(10),
            layers.Softmax(),
        ]
    )
    assert check.model(sequential, reference)


def test_check_leaves_the_candidates_weights_alone(reference):
    candidate = _lenet()
    before = [w.copy() for w in candidate.get_weights()]
    check.model(candidate, reference)
    for mine, saved in zip(candidate.get_weights(), before, strict=True):
        np.testing.assert_array_equal(mine, saved)


def test_none_is_not_answered_yet(reference, capsys):
    assert check.model(None, reference) is False
    assert capsys.readouterr().out == "your model: not answered yet\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"kernel2": 2},
            r"^my_lenet: your 2nd Conv2D \(c2\) has 4,050 parameters, the reference's has "
            r"25,050: its kernel is 2x2, the reference's is 5x5; pass kernel_size=5$",
        ),
        (
            {"filters1": 16},
            r"your 1st Conv2D \(c1\) has 416 parameters, the reference's has 520: it has 16 "
            r"filters, the reference's has 20; pass filters=20",
        ),
        (
            {"fc1": False},
            r"your model has 3 layers with weights, the reference 4; the first difference: the "
            r"reference's 1st Dense \(fc1\) \(output 500\) is missing between your 2nd Conv2D "
            r"\(c2\) and your 1st Dense \(d2\); add layers.Dense\(500, activation=\"relu\"\)",
        ),
        (
            {"classes": 5},
            r"your 2nd Dense \(d2\) has 2,505 parameters, the reference's has 5,010: it has 5 "
            r"units, the reference's has 10; pass units=10 \(the output layer has one unit per",
        ),
        (
            {"pool1": False},
            r"your model has no MaxPooling2D between your 1st Conv2D \(c1\) and your 2nd Conv2D "
            r"\(c2\): the reference's MaxPooling2D \(pool1\) goes from 28x28x20 to 14x14x20 "
            r"there; add layers.MaxPooling2D\(2\)",
        ),
        (
            {"flatten": False},
            r"your model has no Flatten between your 2nd Conv2D \(c2\) and your 1st Dense "
            r"\(d1\): the reference's Flatten \(flatten\) goes from 7x7x50 to 2450",
        ),
        (
            {"padding": "valid"},
            r"your 1st Conv2D \(c1\) outputs 24x24x20, the reference's 28x28x20: its padding is "
            r"\"valid\", the reference's is \"same\"; pass padding=\"same\"",
        ),
        (
            {"bias2": False},
            r"your 2nd Conv2D \(c2\) has 25,000 parameters, the reference's has 25,050: it has "
            r"no bias, the reference's has one",
        ),
        (
            {"activation": "tanh"},
            r"your 1st Conv2D \(c1\) is followed by tanh, the reference's 1st Conv2D \(conv1\) "
            r"by relu; pass activation=\"relu\"",
        ),
        (
            {"pool": layers.AveragePooling2D},
            r"your AveragePooling2D \(\w+\) between your 1st Conv2D \(c1\) and your 2nd Conv2D "
            r"\(c2\) is a MaxPooling2D \(pool1\) in the reference; use layers.MaxPooling2D\(2\)",
        ),
    ],
)
def test_wrong_model_names_the_layer_and_the_fix(reference, change, message):
    with pytest.raises(AssertionError, match=message):
        check.model(_lenet(**change), reference, name="my_lenet")


def test_an_extra_layer_is_named():
    def net(extra):
        inputs = keras.Input((28, 28, 1))
        x = layers.Conv2D(20, 5, padding="same", activation="relu", name="a")(inputs)
        if extra:
            x = layers.Conv2D(20, 3, padding="same", activation="relu", name="extra")(x)
        x = layers.Flatten()(x)
        return keras.Model(inputs, layers.Dense(10, name="out")(x))

    with pytest.raises(
        AssertionError,
        match=r"your model has 3 layers with weights, the reference 2; the first difference: "
        r"your 2nd Conv2D \(extra\) is not in the reference \(it outputs 28x28x20\); remove it",
    ):
        check.model(net(True), net(False))


def test_wrong_input_shape_and_unbuilt_models(reference):
    inputs = keras.Input((32, 32, 3))
    with pytest.raises(AssertionError, match=r"takes inputs of 32x32x3, the reference 28x28x1"):
        check.model(keras.Model(inputs, layers.Flatten()(inputs)), reference)
    with pytest.raises(AssertionError, match=r"no input shape yet: start it with keras.Input"):
        check.model(keras.Sequential([layers.Dense(3)]), reference)
    with pytest.raises(AssertionError, match=r"is a number, not a Keras model"):
        check.model(3, reference)
    with pytest.raises(ValueError, match=r"`reference` must be a built Keras model"):
        check.model(reference, keras.Sequential([layers.Dense(3)]))


def test_same_layers_in_another_order_fail_the_forward_pass():
    def residual(x, *, relu_before_add):
        y = layers.Conv2D(4, 3, padding="same")(x)
        y = layers.Add()([x, y])
        return y if relu_before_add else layers.Activation("relu")(y)

    def relu_first(x, *, relu_before_add):
        y = layers.Conv2D(4, 3, padding="same")(x)
        y = layers.Activation("relu")(y)
        y = layers.Add()([x, y])
        return y

    with pytest.raises(AssertionError, match=r"1st Conv2D \(\w+\) is followed by relu"):
        check.block(relu_first, residual, (8, 8, 4), relu_before_add=False)

    def scaled(x, *, relu_before_add):
        return layers.Rescaling(2.0)(residual(x, relu_before_add=relu_before_add))

    with pytest.raises(AssertionError, match=r"with the reference's weights copied in"):
        check.block(scaled, residual, (8, 8, 4), relu_before_add=False)


def _inception(x, *, filters):
    a = layers.Conv2D(filters, 1, activation="relu")(x)
    b = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.Concatenate()([a, b])


def test_block_passes_with_branches_in_another_order_and_names_a_wrong_branch(capsys):
    def swapped(x, *, filters):
        b = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        a = layers.Conv2D(filters, 1, activation="relu")(x)
        return layers.Concatenate()([a, b])

    assert check.block(swapped, _inception, (8, 8, 4), name="inception", filters=6)
    assert capsys.readouterr().out == "inception: correct\n"

    def narrow(x, *, filters):
        return _inception(x, filters=filters - 2)

    with pytest.raises(AssertionError, match=r"^inception: your 1st Conv2D .* pass filters=6$"):
        check.block(narrow, _inception, (8, 8, 4), name="inception", filters=6)


def test_block_template_and_none_are_not_answered(capsys):
    assert check.block(None, _inception, (8, 8, 4), filters=2) is False
    assert check.block(lambda x, filters: None, _inception, (8, 8, 4), filters=2) is False
    assert capsys.readouterr().out == "your block: not answered yet\n" * 2
    with pytest.raises(ValueError, match=r"`input_shape` must be a tuple of positive integers"):
        check.block(None, _inception, (8, -8, 4))


@pytest.mark.parametrize(
    ("given", "expected"),
    [(25_050, 25_050), (np.int64(3), 3), ("Same ", "same"), (0.3334, 1 / 3), ((5, 5), (5, 5))],
)
def test_right_answers(given, expected, capsys):
    assert check.answer("q", given, expected) is True
    assert capsys.readouterr().out == "q: correct\n"


def test_unanswered_and_wrong_answers(capsys):
    assert check.answer("q", None, 4) is False
    assert capsys.readouterr().out == "q: not answered yet\n"
    with pytest.raises(AssertionError, match=r"^q: 0\.334 is not it\. Hint: a third$"):
        check.answer("q", 0.334, 1 / 3, hint="a third")
    with pytest.raises(AssertionError, match=r"^q: 25051 is not it$"):
        check.answer("q", 25_051, 25_050)
    with pytest.raises(AssertionError, match=r"'25050' is not it \(it is a string; the answer"):
        check.answer("q", "25050", 25_050)
    with pytest.raises(AssertionError, match=r"'valid' is not it"):
        check.answer("q", "valid", "same")
    with pytest.raises(ValueError, match=r"`expected` must be the right answer"):
        check.answer("q", 1, None)


def _projection(x, *, source="activated", shortcut_first=False):
    activated = layers.Activation("relu")(layers.BatchNormalization()(x))
    project = layers.Conv2D(8, 1, strides=2, use_bias=False)
    shortcut = project(activated if source == "activated" else x) if shortcut_first else None
    y = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(activated)
    if shortcut is None:
        shortcut = project(activated if source == "activated" else x)
    return layers.Add()([y, shortcut])


def test_block_with_branches_in_another_order_must_still_be_wired_the_same(capsys):
    def swapped(x):
        return _projection(x, shortcut_first=True)

    def from_input(x):
        return _projection(x, source="input", shortcut_first=True)

    assert check.block(swapped, _projection, (8, 8, 4))
    assert capsys.readouterr().out == "your block: correct\n"
    with pytest.raises(
        AssertionError,
        match=r"^your block: your \d\w\w Conv2D \(\w+\) takes the model's input, while the "
        r"reference's Conv2D with the same settings takes a BatchNormalization after relu: "
        r"check which tensor you call it on$",
    ):
        check.block(from_input, _projection, (8, 8, 4))
