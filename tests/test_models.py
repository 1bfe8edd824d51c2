"""Tests for cnnkit.models: shapes, published parameter counts, the slides' tables, bad input."""

import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import keras
import numpy as np
import pytest

from cnnkit import inspect, models
from cnnkit.models import blocks

SMALL = {
    "lenet": (28, 28, 1),
    "alexnet_cifar": (32, 32, 3),
    "mini_vgg": (32, 32, 3),
    "mini_googlenet": (32, 32, 3),
    "resnet": (32, 32, 3),
}

# (builder, kwargs, parameters, MACs per image or None, depth in weight layers)
PUBLISHED = [
    # keras.applications.VGG16(weights=None): 138,357,544; the paper's ~15.5G mult-adds.
    ("vgg16", {}, 138_357_544, 15.5e9, 16),
    # keras.applications.ResNet50: 25,636,712; about 3.86G MACs in its layout.
    ("resnet50", {}, 25_636_712, 3.86e9, 50),
    # keras.applications.MobileNet: 4,253,864; the paper: 569M mult-adds, 28 layers.
    ("mobilenet", {}, 4_253_864, 569e6, 28),
    # The paper's "Conv MobileNet": 29.3M parameters, 4,866M mult-adds (checked to 1% below).
    ("mobilenet", {"separable": False}, None, 4866e6, 15),
    # GoogLeNet's 22 layers; 1.5G in the paper's rounded table.
    ("googlenet", {}, 6_998_552, None, 22),
]


def _layer_outputs(model, names):
    table = inspect.layer_table(model).set_index("name")
    return [table.loc[name, "output"] for name in names]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_builders_shapes_and_names(name):
    model = getattr(models, name)(input_shape=SMALL[name], num_classes=7)
    assert model.name == name
    assert model.input_shape == (None, *SMALL[name])
    assert model.output_shape == (None, 7)
    x = np.random.default_rng(0).random((2, *SMALL[name]), dtype=np.float32)
    probabilities = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name, kwargs, params, macs, depth", PUBLISHED)
def test_published_figures(name, kwargs, params, macs, depth):
    model = getattr(models, name)(**kwargs)
    assert model.output_shape == (None, 1000)
    if params is not None:
        assert model.count_params() == params
    else:
        assert model.count_params() == pytest.approx(29.3e6, rel=0.01)
    if macs is not None:
        assert inspect.count_macs(model) == pytest.approx(macs, rel=0.02)
    assert inspect.compare([model]).loc[model.name, "depth"] == depth


def test_lenet_is_the_slides_table():
    model = models.lenet()
    table = inspect.layer_table(model)
    assert list(table.type) == [
        "InputLayer",
        "Conv2D",
        "Activation",
        "MaxPooling2D",
        "Conv2D",
        "Activation",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Activation",
        "Dense",
        "Activation",
    ]
    assert list(table.output) == [
        "28x28x1",
        "28x28x20",
        "28x28x20",
        "14x14x20",
        "14x14x50",
        "14x14x50",
        "7x7x50",
        "2450",
        "500",
        "500",
        "10",
        "10",
    ]
    # 5x5x1x20 + 20, 5x5x20x50 + 50, 2450x500 + 500, 500x10 + 10
    assert model.count_params() == 520 + 25_050 + 1_225_500 + 5_010


def test_alexnet_is_the_slides_table():
    model = models.alexnet()
    names = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5"]
    assert _layer_outputs(model, names) == [
        "55x55x96",
        "27x27x96",
        "27x27x256",
        "13x13x256",
        "13x13x384",
        "13x13x384",
        "13x13x256",
        "6x6x256",
    ]
    table = inspect.layer_table(model)
    assert (table.type == "Conv2D").sum() == 5
    assert (table.type == "Dense").sum() == 3
    assert (table.type == "BatchNormalization").sum() == 7
    assert (table.type == "Dropout").sum() == 5
    conv1 = table.set_index("name").loc["conv1"]
    assert (conv1.kernel, conv1.stride, conv1.padding) == ("11x11", "4", "valid")
    weights = [
        11 * 11 * 3 * 96 + 96,
        5 * 5 * 96 * 256 + 256,
        3 * 3 * 256 * 384 + 384,
        3 * 3 * 384 * 384 + 384,
        3 * 3 * 384 * 256 + 256,
        6 * 6 * 256 * 4096 + 4096,
        4096 * 4096 + 4096,
        4096 * 1000 + 1000,
    ]
    batch_norm = 4 * (96 + 256 + 384 + 384 + 256 + 4096 + 4096)
    assert model.count_params() == sum(weights) + batch_norm == 62_416_616


def test_alexnet_cifar_is_cheaper_than_mini_vgg():
    small, vgg = models.alexnet_cifar(), models.mini_vgg()
    table = inspect.layer_table(small)
    assert (table.type == "Conv2D").sum() == 5
    assert (table.type == "Dense").sum() == 3
    names = ["conv1", "pool1", "conv2", "pool2", "conv5", "pool5"]
    assert _layer_outputs(small, names) == [
        "32x32x32",
        "16x16x32",
        "16x16x64",
        "8x8x64",
        "8x8x64",
        "4x4x64",
    ]
    assert inspect.count_macs(small) < inspect.count_macs(vgg)
    assert small.count_params() < vgg.count_params() < models.alexnet().count_params()


def test_mini_vgg_is_the_slides_table():
    model = models.mini_vgg()
    table = inspect.layer_table(model)
    pattern = ["Conv2D", "Activation", "BatchNormalization"] * 2 + ["MaxPooling2D", "Dropout"]
    head = ["Flatten", "Dense", "Activation", "BatchNormalization", "Dropout", "Dense"]
    assert list(table.type) == ["InputLayer", *pattern, *pattern, *head, "Activation"]
    names = ["block1_conv2", "block1_pool", "block2_conv2", "block2_pool", "fc1", "fc2"]
    outputs = ["32x32x32", "16x16x32", "16x16x64", "8x8x64", "512", "10"]
    assert _layer_outputs(model, names) == outputs
    dropout = table.set_index("name").loc[["block1_dropout", "block2_dropout", "fc1_dropout"]]
    rates = [model.get_layer(name).rate for name in dropout.index]
    assert rates == [0.25, 0.25, 0.5]
    # Moving statistics that settle within a short workshop run (Keras' default is 0.99).
    assert {layer.momentum for layer in model.layers if "_bn" in layer.name} == {0.9}


def test_mini_vgg_ablations_drop_batch_norm_and_dropout():
    plain = models.mini_vgg(batch_norm=False, conv_dropout=0.0, dropout=0.0)
    full = models.mini_vgg()
    types = [type(layer).__name__ for layer in plain.layers]
    assert "BatchNormalization" not in types
    # each BN holds 4 weights per channel: 2 * 32 + 2 * 64 + 512 channels
    assert full.count_params() - plain.count_params() == 4 * (2 * 32 + 2 * 64 + 512) == 2_816
    assert [layer.rate for layer in plain.layers if type(layer).__name__ == "Dropout"] == [0.0] * 3
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(plain(x, training=True), plain(x, training=False), atol=1e-6)


def test_mini_googlenet_is_the_slides_table():
    model = models.mini_googlenet()
    names = [f"inception{i}_concat" for i in (1, 2)] + ["downsample1_concat"]
    names += [f"inception{i}_concat" for i in (3, 4, 5, 6)] + ["downsample2_concat"]
    names += ["inception7_concat", "inception8_concat", "avg_pool"]
    assert _layer_outputs(model, ["conv1_relu", *names]) == [
        "32x32x96",
        "32x32x64",  # 32 + 32
        "32x32x80",  # 32 + 48
        "15x15x160",  # 80 + 80 (pool passes the 80 channels)
        "15x15x160",
        "15x15x160",
        "15x15x160",
        "15x15x144",
        "7x7x240",  # 96 + 144
        "7x7x336",
        "7x7x336",
        "1x1x336",
    ]


def test_googlenet_modules_have_the_paper_widths():
    model = models.googlenet()
    names = [f"inception{key}_concat" for key in ("3a", "3b", "4a", "4b", "4c", "4d", "4e")]
    names += ["inception5a_concat", "inception5b_concat", "pool1", "pool2"]
    assert _layer_outputs(model, names) == [
        "28x28x256",
        "28x28x480",
        "14x14x512",
        "14x14x512",
        "14x14x512",
        "14x14x528",
        "14x14x832",
        "7x7x832",
        "7x7x1024",
        "56x56x64",
        "28x28x192",
    ]
    with_heads = models.googlenet(aux_heads=True)
    assert [tuple(o.shape) for o in with_heads.outputs] == [(None, 1000)] * 3
    assert _layer_outputs(with_heads, ["aux1_avg_pool", "aux2_avg_pool"]) == [
        "4x4x512",
        "4x4x528",
    ]


def test_resnet_is_the_slides_network():
    model = models.resnet()
    stage_ends = ["stage1_block9_add", "stage2_block9_add", "stage3_block9_add", "avg_pool"]
    assert _layer_outputs(model, stage_ends) == ["32x32x64", "16x16x128", "8x8x256", "1x1x256"]
    first = model.get_layer("stage2_block1_conv2")
    assert (first.strides, first.filters, first.use_bias) == ((2, 2), 32, False)
    assert model.get_layer("stage2_block1_shortcut").strides == (2, 2)
    assert model.get_layer("stage1_block1_shortcut").strides == (1, 1)
    with pytest.raises(ValueError):
        model.get_layer("stage1_block2_shortcut")
    # L2 of 5e-4 on every kernel, the final classifier included.
    assert model.get_layer("fc").kernel_regularizer.l2 == pytest.approx(5e-4)
    bn = model.get_layer("stage3_block4_bn2")
    assert (bn.epsilon, bn.momentum) == (2e-5, 0.9)
    assert inspect.compare([model]).loc["resnet", "depth"] == 3 * 9 * 3 + 1


def test_resnet50_matches_keras_application():
    ours = models.resnet50(input_shape=(64, 64, 3), num_classes=10)
    reference = keras.applications.ResNet50(
        weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation="softmax"
    )
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    ours.set_weights(reference.get_weights())
    x = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x, training=False)),
        keras.ops.convert_to_numpy(reference(x, training=False)),
        rtol=1e-4,
        atol=1e-6,
    )
    full = models.resnet50()
    ends = [f"conv{stage}_block{n}_out" for stage, n in ((2, 3), (3, 4), (4, 6), (5, 3))]
    outputs = ["56x56x256", "28x28x512", "14x14x1024", "7x7x2048"]
    assert _layer_outputs(full, ["pool1_pool", *ends]) == ["56x56x64", *outputs]


def test_vgg16_matches_keras_application():
    # At 32x32 the five poolings leave 1x1x512, so both FC stacks are small and cheap.
    ours = models.vgg16(input_shape=(32, 32, 3), num_classes=10)
    reference = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    ours_names = [layer.name for layer in ours.layers[1:]]
    assert ours_names == [layer.name for layer in reference.layers[1:]]
    ours.set_weights(reference.get_weights())
    x = np.random.default_rng(4).random((2, 32, 32, 3), dtype=np.float32) * 255
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x)),
        keras.ops.convert_to_numpy(reference(x)),
        rtol=1e-4,
        atol=1e-6,
    )


def test_mobilenet_strides_width_multiplier_and_names():
    model = models.mobilenet()
    names = ["conv1", "block1_pw", "block2_pw", "block4_pw", "block6_pw", "block12_pw"]
    outputs = ["112x112x32", "112x112x64", "56x56x128", "28x28x256", "14x14x512", "7x7x1024"]
    assert _layer_outputs(model, names) == outputs
    half = models.mobilenet(alpha=0.5)
    # The paper's Table 6: 0.50 MobileNet-224 has 1.3M parameters and 149M mult-adds.
    assert half.count_params() == pytest.approx(1.3e6, rel=0.05)
    assert inspect.count_macs(half) == pytest.approx(149e6, rel=0.02)
    assert models.mobilenet(separable=False).name == "conv_mobilenet"


def test_blocks_shapes_and_parameters():
    x = keras.Input((15, 15, 8))
    y = blocks.inception_module(
        x, 4, 6, num3x3_reduce=3, num5x5_reduce=2, num5x5=5, pool_proj=7, name="inc"
    )
    assert tuple(y.shape) == (None, 15, 15, 4 + 6 + 5 + 7)
    assert tuple(blocks.downsample_module(x, 10).shape) == (None, 7, 7, 18)
    assert tuple(blocks.conv_module(x, 5, 3, strides=2).shape) == (None, 8, 8, 5)
    # Depthwise separable: 3x3x8 depthwise + 8x16 pointwise, each followed by BN (4 per channel).
    separable = keras.Model(x, blocks.depthwise_separable(x, 16, strides=2))
    assert separable.output_shape == (None, 8, 8, 16)
    assert separable.count_params() == 9 * 8 + 4 * 8 + 8 * 16 + 4 * 16
    full = keras.Model(x, blocks.depthwise_separable(x, 16, separable=False))
    assert full.count_params() == 9 * 8 * 16 + 4 * 16
    square = keras.Input((16, 16, 8))
    residual = keras.Model(
        square, blocks.residual_module(square, 32, strides=2, reduce=True, name="r")
    )
    assert residual.output_shape == (None, 8, 8, 32)
    convs = [layer.name for layer in residual.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == ["r_conv1", "r_conv2", "r_conv3", "r_shortcut"]
    identity = keras.Model(square, blocks.residual_module(square, 8, name="i"))
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in identity.layers) == 3
    # The identity shortcut adds the input itself to the last 1x1 conv's output.
    x0 = np.random.default_rng(3).random((1, 16, 16, 8), dtype=np.float32)
    branch = keras.Model(square, identity.get_layer("i_conv3").output)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(identity(x0)),
        x0 + keras.ops.convert_to_numpy(branch(x0)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: models.lenet((3, 3, 1)), r"too small for lenet.*at least 4x4.*\(3, 3, 1\)"),
        (lambda: models.alexnet((66, 66, 3)), r"too small for alexnet.*at least 67x67"),
        (lambda: models.mini_vgg((3, 32, 3)), r"too small for mini_vgg.*at least 4x4"),
        (lambda: models.vgg16((31, 31, 3)), r"too small for vgg16.*at least 32x32"),
        (lambda: models.mini_googlenet((30, 30, 3)), r"mini_googlenet.*at least 31x31"),
        (lambda: models.googlenet((64, 64, 3), aux_heads=True), r"googlenet.*at least 65x65"),
        (lambda: models.vgg16((224, 224, 1)), r"must have 3 channels for vgg16"),
        (lambda: models.alexnet((227, 227, 4)), r"must have 3 channels for alexnet"),
        (lambda: models.resnet50((224, 224, 1)), r"must have 3 channels for resnet50"),
        (lambda: models.mobilenet((224, 224, 2)), r"must have 3 channels for mobilenet"),
        (lambda: models.googlenet((224, 224, 1)), r"must have 3 channels for googlenet"),
        (lambda: models.lenet((28, 28)), r"`input_shape` must be \(height, width, channels\)"),
        (lambda: models.lenet((28, 28.0, 1)), r"three positive integers.*28\.0"),
        (lambda: models.lenet(num_classes=1), r"`num_classes` must be an integer >= 2"),
        (lambda: models.resnet50(num_classes=0), r"Received: num_classes=0"),
        (
            lambda: models.resnet(stages=(3, 3), filters=(16, 32, 64)),
            r"`stages` and `filters` must have the same.*Received: stages=\(3, 3\)",
        ),
        (lambda: models.resnet((30, 30, 3)), r"divisible by 4.*Received: input_shape=\(30, 30"),
        (lambda: models.mobilenet(alpha=0), r"`alpha` must be a positive width multiplier"),
        (
            lambda: blocks.residual_module(keras.Input((15, 15, 8)), 16, strides=2, reduce=True),
            r"`strides` must divide.*multiples of 2.*Received: strides=2",
        ),
        (
            lambda: blocks.residual_module(keras.Input((16, 16, 8)), 16),
            r"`reduce` must be True.*Received: reduce=False",
        ),
        (
            lambda: blocks.inception_module(keras.Input((8, 8, 4)), 4, 4, num5x5=8),
            r"none or all four.*missing: num3x3_reduce, num5x5_reduce, pool_proj",
        ),
        (
            lambda: blocks.downsample_module(keras.Input((2, 8, 4)), 4),
            r"too small for `downsample_module`.*at least 3x3",
        ),
    ],
)
def test_bad_input_says_what_would_work(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_num_classes_below_two_is_refused(name):
    with pytest.raises(ValueError, match=r"`num_classes` must be an integer >= 2.*=1$"):
        getattr(models, name)(num_classes=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_one_epoch_smoke_fit(name):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (256, *SMALL[name]), dtype=np.uint8).astype("float32") / 255.0
    y = rng.integers(0, 10, 256)
    # The slides' 82-layer ResNet takes minutes to trace on 2 cores; a 2-2-2 stack runs the
    # same builder code (reducing and identity modules in every stage) in seconds.
    kwargs = {"stages": (2, 2, 2), "filters": (16, 32, 64)} if name == "resnet" else {}
    model = getattr(models, name)(**kwargs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


_JAX_SCRIPT = textwrap.dedent(
    """
    import sys

    import keras
    import numpy as np

    from cnnkit import models

    folder, backend = sys.argv[1], sys.argv[2]
    assert keras.backend.backend() == backend, keras.backend.backend()
    for name, kwargs in {specs!r}:
        model = getattr(models, name)(**kwargs)
        model.load_weights(f"{{folder}}/{{name}}.weights.h5")
        x = np.load(f"{{folder}}/{{name}}_x.npy")
        np.save(f"{{folder}}/{{name}}_{{backend}}.npy", np.asarray(model.predict(x, verbose=0)))
    """
)


@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_small_builders_run_on_other_backends(backend, module, tmp_path):
    # The same weights give the same probabilities on JAX (or PyTorch) as on TensorFlow.
    if find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install {module}); TensorFlow ran the rest")
    specs = [
        ("lenet", {}),
        ("alexnet_cifar", {}),
        ("mini_vgg", {}),
        ("mini_googlenet", {}),
        ("resnet", {"stages": (2, 2, 2), "filters": (16, 32, 64)}),
    ]
    expected = {}
    for name, kwargs in specs:
        model = getattr(models, name)(**kwargs)
        x = np.random.default_rng(2).random((2, *model.input_shape[1:]), dtype=np.float32)
        model.save_weights(tmp_path / f"{name}.weights.h5")
        np.save(tmp_path / f"{name}_x.npy", x)
        expected[name] = model.predict(x, verbose=0)
    env = {**os.environ, "KERAS_BACKEND": backend}
    script = _JAX_SCRIPT.format(specs=specs)
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name, _ in specs:
        got = np.load(tmp_path / f"{name}_{backend}.npy")
        np.testing.assert_allclose(got, expected[name], rtol=1e-4, atol=1e-5)
