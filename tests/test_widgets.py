"""cnnkit.widgets: the demos build, and their callbacks redraw with changed values."""

import ipywidgets
import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnkit import conv, widgets


@pytest.fixture(autouse=True)
def _quiet_display(monkeypatch):
    """Outside a kernel IPython's display prints a repr; keep test output clean."""
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *objects, **kwargs: None)


def test_parse_kernel_reads_rows_and_fractions():
    np.testing.assert_array_equal(
        widgets.parse_kernel("-1 0 1; -2 0 2\n-1, 0, 1"), widgets.KERNELS["sobel x"]
    )
    np.testing.assert_allclose(widgets.parse_kernel("1/9 1/9\n1/9 1/9"), np.full((2, 2), 1 / 9))
    with pytest.raises(ValueError, match=r"a rectangle of numbers.*Received: text='1 2; 3'"):
        widgets.parse_kernel("1 2; 3")
    with pytest.raises(ValueError, match=r"must hold numbers.*Received: text='1 a'"):
        widgets.parse_kernel("1 a")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((7, 3), 5),
        ((7, 3, 2), 3),
        ((7, 3, 1, 1), 7),
        ((32, 5), 28),
        ((227, 11, 4), 55),
        ((224, 7, 1, 3), 224),
        ((256, 3, 2, 1, 3), 126),
    ],
)
def test_conv_formula_ends_with_the_output_size(args, expected):
    text = widgets.conv_formula(*args)
    assert text.split("\n")[0].endswith(f"= {expected}")
    assert expected == conv.output_size(*args)


def test_conv_formula_says_when_the_stride_does_not_fit():
    assert widgets.conv_formula(7, 3, 3) == (
        "n_out = floor((7 + 2*0 - 3) / 3) + 1 = floor(4 / 3) + 1 = 2\n"
        "(1 px left over: stride 3 does not fit exactly)"
    )


def test_conv_explorer_static_draws_the_default_photograph():
    fig = widgets.conv_explorer(static=True)
    assert isinstance(fig, Figure)
    photo, kernel, output = (ax.images[0].get_array() for ax in fig.axes[:3])
    assert photo.shape == (256, 256) and photo.std() > 0.1  # a real photograph, not a blank
    np.testing.assert_array_equal(kernel, widgets.KERNELS["sobel x"])
    np.testing.assert_allclose(output, conv.conv2d(photo, kernel, padding=1))
    assert "= 256" in fig.texts[0].get_text()


def test_conv_explorer_redraws_when_the_controls_change():
    image = np.random.default_rng(0).random((20, 24))
    box = widgets.conv_explorer(image, static=False)
    assert isinstance(box, ipywidgets.VBox)
    np.testing.assert_allclose(
        box.state["output"], conv.conv2d(image, widgets.KERNELS["sobel x"], padding=1)
    )

    box.controls["kernel"].value = "box blur"
    box.controls["stride"].value = 2
    box.controls["padding"].value = 0
    expected = conv.conv2d(image, np.full((3, 3), 1 / 9), stride=2)
    np.testing.assert_allclose(box.state["output"], expected)
    assert box.state["output"].shape == (9, 11)
    assert box.state["formula"] == (
        "rows: n_out = floor((20 + 2*0 - 3) / 2) + 1 = floor(17 / 2) + 1 = 9\n"
        "(1 px left over: stride 2 does not fit exactly)\n"
        "columns: n_out = floor((24 + 2*0 - 3) / 2) + 1 = floor(21 / 2) + 1 = 11\n"
        "(1 px left over: stride 2 does not fit exactly)"
    )

    box.controls["dilation"].value = 2
    assert box.state["output"].shape == (conv.output_size(20, 3, 2, 0, 2), 10)


def test_conv_explorer_takes_typed_kernels_and_reports_bad_ones():
    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    box = widgets.conv_explorer(image, static=False)
    box.controls["kernel"].value = box.controls["kernel"].options[-1]  # custom
    box.controls["custom"].value = "0 0; 0 1"
    gray = image.astype(float) @ np.array([0.2125, 0.7154, 0.0721]) / 255
    np.testing.assert_allclose(box.state["output"], conv.conv2d(gray, [[0, 0], [0, 1]], padding=1))

    box.controls["custom"].value = "1 2; 3"
    assert box.state["output"] is None
    assert "rectangle of numbers" in box.state["formula"]

    box.controls["custom"].value = "1 1 1 1 1 1 1 1 1"
    box.controls["padding"].value = 0
    box.controls["dilation"].value = 3  # span 25 px on a 16 px image: no output
    assert box.state["output"] is None
    assert "does not fit" in box.state["formula"]


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 1))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv_a")(inputs)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv_b")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


def test_feature_map_explorer_shows_the_chosen_map(model):
    images = np.random.default_rng(2).integers(0, 256, (4, 10, 10, 1), dtype=np.uint8)
    box = widgets.feature_map_explorer(model, images, static=False)
    assert box.controls["layer"].options == ("conv_a", "pool", "conv_b")
    assert box.controls["channel"].max == 2

    box.controls["image"].value = 3
    box.controls["layer"].value = "conv_b"
    assert box.controls["channel"].max == 5
    box.controls["channel"].value = 4
    x = images[3:4].astype("float32") / 255
    probe = keras.Model(model.input, model.get_layer("conv_b").output)
    np.testing.assert_allclose(box.state["map"], probe(x)[0, ..., 4].numpy(), atol=1e-5)
    assert box.state["title"] == "conv_b: channel 4 of 6 (3x3)"

    box.controls["layer"].value = "conv_a"  # fewer channels: the slider follows
    assert box.controls["channel"].max == 2 and box.controls["channel"].value == 2
    assert box.state["title"] == "conv_a: channel 2 of 3 (10x10)"


def test_feature_map_explorer_static_and_errors(model):
    images = np.zeros((2, 10, 10, 1), dtype=np.uint8)
    fig = widgets.feature_map_explorer(model, images, static=True)
    assert fig.axes[1].get_title() == "conv_a: channel 0 of 3 (10x10)"
    with pytest.raises(ValueError, match=r"`images` must be a non-empty batch.*\(10, 10, 1\)"):
        widgets.feature_map_explorer(model, images[0])
