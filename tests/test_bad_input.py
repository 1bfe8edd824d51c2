"""Bad input over the public API: each probe gets a clear error naming the argument, or, where
the input is legitimate but unusual (16-bit and palette images), the right result.

The table is the list of probes; a new public function's likely mistakes belong here.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from cnnkit import conv, data, detect, models, report, train
from cnnkit.data import Dataset


def _tiny_data(x=None, y=None) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 8, 8, 1), dtype=np.uint8) if x is None else x
    y = np.arange(8) % 2 if y is None else y
    empty = np.zeros((0, *x.shape[1:]), x.dtype)
    return Dataset(
        name="tiny",
        x_train=x,
        y_train=y,
        x_val=empty,
        y_val=np.zeros(0, np.int64),
        x_test=empty,
        y_test=np.zeros(0, np.int64),
        class_names=["a", "b"],
        source="generated",
        description="random 8x8 images",
    )


def _tiny_model(outputs=2, activation="softmax") -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation=activation)(x))


class _NaNModel(keras.Model):
    """A stand-in for a diverged network: every probability is NaN."""

    def predict(self, x, **kwargs):
        return np.full((len(x), 2), np.nan, np.float32)


GOOD_BOX = np.array([[0.1, 0.1, 0.5, 0.5]], np.float32)

# (probe id, call, exception, message pattern)
PROBES = [
    (
        "report: string labels",
        lambda: report.classification_report(["cat", "dog"], [0, 1]),
        ValueError,
        r"`y_true` must hold integer class indices.*Received: y_true=array\(\['cat', 'dog'\]",
    ),
    (
        "report: lengths differ",
        lambda: report.classification_report([0, 1, 1], [0, 1]),
        ValueError,
        r"one label per sample each",
    ),
    (
        "report: NaN probabilities",
        lambda: report.evaluate(
            _NaNModel(), np.zeros((2, 8, 8, 1), np.uint8), np.array([0, 1]), class_names=["a", "b"]
        ),
        ValueError,
        r"not finite",
    ),
    (
        "grid: NaN box",
        lambda: detect.encode_grid([[np.nan, 0.1, 0.5, 0.5]], [0]),
        ValueError,
        r"`boxes` must be finite",
    ),
    (
        "grid: label out of range",
        lambda: detect.encode_grid(GOOD_BOX, [7], num_classes=3),
        ValueError,
        r"`labels`.*\[0, 3\)",
    ),
    (
        "iou: inverted box",
        lambda: detect.iou([[0.5, 0.5, 0.1, 0.1]], GOOD_BOX),
        ValueError,
        r"x_max >= x_min",
    ),
    (
        "nms: inverted box",
        lambda: detect.nms([[0.5, 0.5, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1]], [0.9, 0.8]),
        ValueError,
        r"x_max >= x_min",
    ),
    (
        "nms: scores length",
        lambda: detect.nms(np.vstack([GOOD_BOX, GOOD_BOX]), [0.9]),
        ValueError,
        r"`scores`",
    ),
    (
        "fit: fractional epochs",
        lambda: train.fit(_tiny_model(), _tiny_data(), epochs=2.5),
        ValueError,
        r"`epochs` must be a positive integer. Received: epochs=2.5",
    ),
    (
        "fit: zero epochs",
        lambda: train.fit(_tiny_model(), _tiny_data(), epochs=0),
        ValueError,
        r"`epochs` must be a positive integer",
    ),
    (
        "fit: labels out of range",
        lambda: train.fit(_tiny_model(), _tiny_data(y=np.arange(8) % 5), epochs=1),
        ValueError,
        r"`data.y_train` must hold class indices in \[0, 2\).*Received: labels from 0 to 4",
    ),
    (
        "fit: negative rate",
        lambda: train.fit(_tiny_model(), _tiny_data(), epochs=1, learning_rate=-0.1),
        ValueError,
        r"`learning_rate` must be a positive finite number.*Received: learning_rate=-0.1",
    ),
    (
        "fit: NaN rate",
        lambda: train.fit(_tiny_model(), _tiny_data(), epochs=1, learning_rate=math.nan),
        ValueError,
        r"`learning_rate` must be a positive finite number",
    ),
    (
        "fit: unknown optimizer",
        lambda: train.fit(_tiny_model(), _tiny_data(), epochs=1, optimizer="rmsprop"),
        ValueError,
        r"`optimizer` must be one of",
    ),
    (
        "tta: empty input",
        lambda: train.tta_predict(_tiny_model(), np.zeros((0, 8, 8, 1), np.uint8)),
        ValueError,
        r"`x` must hold at least one image",
    ),
    (
        "tta: one image without batch axis",
        lambda: train.tta_predict(_tiny_model(), np.zeros((8, 8, 1), np.uint8)),
        ValueError,
        r"`x` must be a batch",
    ),
    (
        "conv: kernel larger than input",
        lambda: conv.conv2d(np.zeros((3, 3)), np.ones((5, 5))),
        ValueError,
        r"kernel",
    ),
    (
        "lenet: input too small",
        lambda: models.lenet((3, 3, 1)),
        ValueError,
        r"`input_shape` is too small",
    ),
    ("load: unknown name", lambda: data.load("imagenet"), ValueError, r"Unknown dataset name"),
    (
        "load: bad val_split",
        lambda: data.load("digits", val_split=1.5),
        ValueError,
        r"`val_split` must be in \[0, 1\)",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "pattern"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES]
)
def test_bad_input_gets_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_fit_warns_about_images_that_are_not_uint8():
    floats = _tiny_data(x=np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 1)).astype(np.float32))
    with pytest.warns(UserWarning, match="float32 images in 0..255"):
        train.fit(_tiny_model(), floats, epochs=1, verbose=0)
    scaled = _tiny_data(x=np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 1)).astype(np.float32))
    with pytest.warns(UserWarning, match=r"already scaled to \[0, 1\]"):
        train.fit(_tiny_model(), scaled, epochs=1, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        train.fit(_tiny_model(), _tiny_data(), epochs=1, verbose=0)


def _folder(tmp_path, images: dict[str, list[Image.Image]]):
    for class_name, items in images.items():
        (tmp_path / class_name).mkdir(parents=True)
        for i, image in enumerate(items):
            image.save(tmp_path / class_name / f"{i}.png")
    return tmp_path


def test_sixteen_bit_pngs_keep_their_grey_levels(tmp_path):
    levels = np.array([[0, 16384], [32768, 65535]], np.uint16).repeat(4, 0).repeat(4, 1)
    image = Image.fromarray(levels)
    assert image.mode.startswith("I")
    loaded = data.from_directory(
        _folder(tmp_path, {"a": [image] * 3, "b": [image] * 3}), test_split=0.5
    )
    pixels = loaded.x_train[0, ..., 0]
    np.testing.assert_allclose(pixels[::4, ::4], np.round(levels[::4, ::4] / 257), atol=1)


def test_palette_pngs_load_as_their_colours(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :4] = (200, 30, 10)
    rgb[:, 4:] = (10, 40, 220)
    image = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    loaded = data.from_directory(
        _folder(tmp_path, {"a": [image] * 3, "b": [image] * 3}), test_split=0.5
    )
    np.testing.assert_array_equal(loaded.x_train[0], rgb)


def test_an_empty_class_folder_is_refused(tmp_path):
    grey = Image.fromarray(np.full((8, 8), 100, np.uint8))
    root = _folder(tmp_path, {"a": [grey] * 3, "b": [grey] * 3})
    (root / "c").mkdir()
    with pytest.raises(ValueError, match=r"class folder\(s\) hold no images: c \(in "):
        data.from_directory(root)
