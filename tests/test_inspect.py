"""Tests for cnnkit.inspect: MACs against hand counts and published figures, tables, compare."""

import keras
import pandas as pd
import pytest
from keras import layers

from cnnkit import inspect, models
from cnnkit.models import blocks


def _single(input_shape, layer):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize(
    "input_shape, layer, macs",
    [
        # H' * W' * kh * kw * C_in * C_out
        ((8, 8, 2), layers.Conv2D(4, 3), 6 * 6 * 3 * 3 * 2 * 4),
        ((8, 8, 2), layers.Conv2D(4, 3, strides=2, padding="same"), 4 * 4 * 3 * 3 * 2 * 4),
        ((8, 8, 4), layers.Conv2D(6, 3, padding="same", groups=2), 8 * 8 * 3 * 3 * 2 * 6),
        ((10, 3), layers.Conv1D(4, 3), 8 * 3 * 3 * 4),
        ((4, 4, 4, 1), layers.Conv3D(2, 2), 3 * 3 * 3 * 2 * 2 * 2 * 1 * 2),
        # depthwise: H' * W' * kh * kw * C_in * multiplier
        ((8, 8, 2), layers.DepthwiseConv2D(3, padding="same"), 8 * 8 * 3 * 3 * 2),
        # separable: depthwise plus 1x1 pointwise at every output position
        ((8, 8, 2), layers.SeparableConv2D(4, 3, padding="same"), 8 * 8 * (3 * 3 * 2 + 2 * 4)),
        # transposed: every input position spreads a kh x kw x C_out kernel
        ((4, 4, 2), layers.Conv2DTranspose(3, 3, strides=2), 4 * 4 * 3 * 3 * 2 * 3),
        ((10,), layers.Dense(5), 10 * 5),
        ((3, 10), layers.Dense(5), 3 * 10 * 5),
        ((8, 8, 2), layers.BatchNormalization(), 0),
        ((8, 8, 2), layers.MaxPooling2D(2), 0),
        ((8, 8, 2), layers.Activation("relu"), 0),
    ],
)
def test_count_macs_matches_hand_counts(input_shape, layer, macs):
    assert inspect.count_macs(_single(input_shape, layer)) == macs


def test_bottleneck_saving_of_the_course():
    # COURSE 08: a 3x3 conv 256 -> 256 costs 589,824 per position; the bottleneck
    # 1x1 to 64, 3x3 at 64, 1x1 to 256 costs 16,384 + 36,864 + 16,384.
    plain = _single((1, 1, 256), layers.Conv2D(256, 3, padding="same"))
    inputs = keras.Input((1, 1, 256))
    bottleneck = keras.Model(inputs, blocks.residual_module(inputs, 256))
    assert inspect.count_macs(plain) == 589_824
    assert inspect.count_macs(bottleneck) == 16_384 + 36_864 + 16_384


@pytest.mark.parametrize(
    "application, macs",
    [
        # Keras' ResNet50V2 puts the stride on the last block of a stage: about 3.48G.
        (keras.applications.ResNet50V2, 3.48e9),
        (keras.applications.MobileNet, 569e6),
    ],
)
def test_count_macs_on_keras_applications(application, macs):
    assert inspect.count_macs(application(weights=None)) == pytest.approx(macs, rel=0.02)


def test_layer_table_of_lenet():
    model = models.lenet()
    table = inspect.layer_table(model)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "name",
        "type",
        "output",
        "kernel",
        "stride",
        "padding",
        "params",
        "macs",
    ]
    assert len(table) == len(model.layers)
    conv1 = table.set_index("name").loc["conv1"]
    assert (conv1.type, conv1.output, conv1.kernel, conv1.stride, conv1.padding) == (
        "Conv2D",
        "28x28x20",
        "5x5",
        "1",
        "same",
    )
    assert (conv1.params, conv1.macs) == (5 * 5 * 20 + 20, 28 * 28 * 5 * 5 * 20)
    pool = table.set_index("name").loc["pool1"]
    assert (pool.kernel, pool.stride, pool.padding, pool.macs) == ("2x2", "2", "valid", 0)
    dense = table.set_index("name").loc["fc1"]
    assert (dense.kernel, dense.output, dense.macs) == ("", "500", 7 * 7 * 50 * 500)
    assert table.params.sum() == model.count_params()
    assert table.macs.sum() == inspect.count_macs(model)
    assert table.params.dtype.kind == "i" and table.macs.dtype.kind == "i"


def test_layer_table_of_sequential_and_nested_models():
    sequential = keras.Sequential(
        [keras.Input((8, 8, 1)), layers.Conv2D(2, 3, strides=(2, 1)), layers.Flatten()]
    )
    table = inspect.layer_table(sequential)
    assert list(table.output) == ["3x6x2", "36"]
    assert table.loc[0, "stride"] == "2x1"
    lenet = models.lenet()
    inputs = keras.Input((28, 28, 1))
    wrapper = keras.Model(inputs, layers.Dense(3)(lenet(inputs)))
    nested = inspect.layer_table(wrapper).set_index("name")
    assert nested.loc["lenet", "macs"] == inspect.count_macs(lenet)
    assert inspect.count_macs(wrapper) == inspect.count_macs(lenet) + 10 * 3
    assert inspect.compare([wrapper]).loc[wrapper.name, "depth"] == 4 + 1


def test_compare_side_by_side():
    lenet, vgg = models.lenet(), models.mini_vgg()
    table = inspect.compare([lenet, vgg])
    assert list(table.index) == ["lenet", "mini_vgg"]
    assert list(table.columns) == ["input", "params", "macs", "depth"]
    assert table.loc["lenet"].tolist() == [
        "28x28x1",
        lenet.count_params(),
        inspect.count_macs(lenet),
        4,
    ]
    assert table.loc["mini_vgg", "depth"] == 6
    renamed = inspect.compare({"LeNet": lenet, "MiniVGGNet": vgg})
    assert list(renamed.index) == ["LeNet", "MiniVGGNet"]
    # Depth counts the longest path: a 1x1-conv shortcut beside three convs adds nothing.
    inputs = keras.Input((8, 8, 8))
    residual = keras.Model(inputs, blocks.residual_module(inputs, 16, reduce=True))
    assert inspect.compare([residual]).loc[residual.name, "depth"] == 3
