"""The CIFAR-10 speed run: its network, whitening initialisation, flip schedule and recipe."""

import numpy as np
import pytest

from cnnkit import data as cdata
from cnnkit.inspect import count_macs
from cnnkit.models.speedrun import init_whitening, speedrun, whitening_filters
from cnnkit.train.speedrun import flip_schedule, triangle
from cnnkit.train.speedrun import speedrun as train_speedrun


def test_builder_shapes_parameters_and_macs():
    model = speedrun()
    assert model.name == "speedrun"
    assert model.input_shape == (None, 32, 32, 3)
    assert model.get_layer("whiten").output.shape == (None, 31, 31, 24)
    assert model.get_layer("block1_gelu2").output.shape == (None, 15, 15, 64)
    assert model.get_layer("block3_gelu2").output.shape == (None, 3, 3, 256)
    assert model.outputs[0].shape == (None, 10)
    assert model.count_params() == 1_973_944
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1_971_640
    # airbench94's network: about 118M multiply-accumulates per image.
    assert count_macs(model) == 118_147_360
    probs = model.predict(
        np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32"), verbose=0
    )
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_builder_narrow_widths_and_dirac_init():
    model = speedrun(widths=(16, 32, 32), num_classes=5)
    assert model.outputs[0].shape == (None, 5)
    kernel = model.get_layer("block2_conv1").kernel.numpy()  # 3x3x16x32
    identity = np.zeros((3, 3, 16, 16), "float32")
    identity[1, 1, np.arange(16), np.arange(16)] = 1
    np.testing.assert_array_equal(kernel[:, :, :, :16], identity)
    assert np.abs(kernel[:, :, :, 16:]).sum() > 0  # the other filters keep their random init


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"widths": (16, 32)}, "`widths` must be three positive integers"),
        ({"input_shape": (8, 8, 3)}, "`input_shape` is too small"),
        ({"mean": (0.5,)}, "`mean` and `std` must have one value per input channel"),
    ],
)
def test_builder_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        speedrun(**kwargs)


def _correlated_images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 17, 17, 1))
    smooth = base[:, :-1, :-1] + base[:, 1:, 1:]  # neighbouring pixels correlate
    mix = np.array([[1.0, 0.8, 0.3]])  # and so do the channels
    return (smooth * mix + 0.3 * rng.normal(size=(n, 16, 16, 3))).astype("float32")


def test_whitening_filters_match_numpy_eigendecomposition():
    x = _correlated_images()
    kernel, eigenvalues = whitening_filters(x, kernel_size=2, eps=5e-4)
    assert kernel.shape == (2, 2, 3, 24)
    # The oracle: every 2x2x3 patch as a row, covariance eigen-decomposed by NumPy.
    patches = np.stack(
        [x[:, i : i + 15, j : j + 15, :] for i in range(2) for j in range(2)], axis=3
    ).reshape(-1, 12)
    covariance = patches.T.astype("float64") @ patches / len(patches)
    values, vectors = np.linalg.eigh(covariance)
    np.testing.assert_allclose(eigenvalues, values[::-1], rtol=1e-4)
    filters = kernel.reshape(12, 24)
    np.testing.assert_allclose(filters[:, 12:], -filters[:, :12])
    # Each filter is an eigenvector (up to sign) divided by sqrt(eigenvalue + eps).
    expected = vectors[:, ::-1] / np.sqrt(values[::-1] + 5e-4)
    np.testing.assert_allclose(np.abs(filters[:, :12]), np.abs(expected), rtol=1e-3, atol=1e-4)
    # ... so the whitened patches are uncorrelated with (nearly) unit variance.
    whitened = patches @ filters[:, :12]
    np.testing.assert_allclose(
        whitened.T @ whitened / len(patches),
        np.diag(values[::-1] / (values[::-1] + 5e-4)),
        atol=1e-3,
    )


def test_init_whitening_sets_the_layer():
    model = speedrun(widths=(8, 16, 16))
    images = np.random.default_rng(1).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    eigenvalues = init_whitening(model, images)
    normalized = model.get_layer("normalize")(images.astype("float32") / 255).numpy()
    kernel, expected = whitening_filters(normalized, kernel_size=2)
    np.testing.assert_allclose(eigenvalues, expected, rtol=1e-5)
    np.testing.assert_allclose(model.get_layer("whiten").kernel.numpy(), kernel, rtol=1e-5)
    assert not model.get_layer("whiten").bias.numpy().any()


def test_alternating_flip_schedule():
    flips = flip_schedule(1000, 5, seed=0, mode="alternating")
    assert flips.shape == (5, 1000)
    assert 400 < flips[0].sum() < 600  # a random half in the first epoch
    for e in range(4):  # then each epoch mirrors exactly the images the last one did not
        np.testing.assert_array_equal(flips[e + 1], ~flips[e])
    random = flip_schedule(1000, 2, seed=0, mode="random")
    assert 0 < (random[1] == random[0]).sum() < 1000
    assert not flip_schedule(10, 3, mode=None).any()
    with pytest.raises(ValueError, match="`flip` must be one of"):
        flip_schedule(10, 2, mode="sometimes")


def test_triangle_schedule():
    lr = triangle(100)
    assert lr.shape == (101,)
    assert lr[0] == pytest.approx(0.2)
    assert lr.argmax() == 23 and lr.max() == pytest.approx(1.0)
    assert lr[-1] == pytest.approx(0.07)


def test_recipe_end_to_end_on_standins():
    data = cdata.load("cifar10", offline=True, limit=600, seed=0)
    seen = []
    result = train_speedrun(
        data,
        epochs=3,
        batch_size=100,
        widths=(8, 16, 16),
        whiten_bias_epochs=0,
        eval_every_epoch=True,
        on_epoch_end=seen.append,
    )
    steps_per_epoch = len(data.x_train) // 100
    assert result.images_seen == 3 * steps_per_epoch * 100
    assert [e["epoch"] for e in result.history] == [1, 2, 3] and seen == result.history
    assert result.eval_split == "test"
    assert result.train_cpu_seconds > 0
    assert result.history[-1]["seconds"] == pytest.approx(result.train_seconds, abs=0.01)
    # The whitening kernel is never trained, and its bias not after whiten_bias_epochs (0).
    model = result.model
    assert not model.get_layer("whiten").bias.numpy().any()
    x = data.x_train.astype("float32") / 255  # fewer than 5,000: all of them set the filters
    kernel, _ = whitening_filters(model.get_layer("normalize")(x).numpy(), kernel_size=2)
    np.testing.assert_allclose(
        np.abs(model.get_layer("whiten").kernel.numpy()), np.abs(kernel), rtol=1e-3, atol=1e-3
    )
    # Training moved the other weights, and the loss went down.
    assert np.abs(model.get_layer("fc").kernel.numpy()).sum() > 0
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert 0 <= result.accuracy <= 1 and 0 <= result.accuracy_plain <= 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tta_level": 3}, "`tta_level` must be 0, 1 or 2"),
        ({"batch_size": 10_000}, "`batch_size` must be between 1 and"),
        ({"eval_split": "train"}, "`eval_split` must be 'test' or 'val'"),
    ],
)
def test_recipe_rejects_bad_arguments(kwargs, match):
    data = cdata.load("cifar10", offline=True, limit=200, seed=0)
    with pytest.raises(ValueError, match=match):
        train_speedrun(data, **kwargs)


def test_bench_speedrun_fast_on_standins():
    from cnnkit import bench

    [record] = bench.run(["speedrun"], budget="fast", data_dir=None)
    assert record["model"] == "speedrun" and record["eval_split"] == "test"
    assert record["train_images"] == 256 and len(record["history"]) == 2
    images_seen = 2 * (256 // 64) * 64
    assert record["train_pflops"] == round(3 * 2 * record["macs"] * images_seen / 1e15, 4)
    assert 0 <= record["test_accuracy"] <= 1 and record["peak_rss_mb"] > 0
    # the curve: every epoch is evaluated off the training clock
    assert all(0 <= entry["accuracy"] <= 1 for entry in record["history"])
    assert record["eval_images"] == 256


def test_bench_cpu_recipe_is_the_notebooks_recipe():
    from cnnkit import bench
    from cnnkit.train.speedrun import SPEEDRUN_CPU

    plan = bench.recipe("speedrun", "cpu")
    assert plan["epochs"] == SPEEDRUN_CPU["epochs"]
    assert plan["batch_size"] == SPEEDRUN_CPU["batch_size"]
    assert tuple(plan["model_args"]["widths"]) == SPEEDRUN_CPU["widths"]
