"""cnnkit.widgets: the demos build, their callbacks redraw with changed values, and the
picture a widget leaves for front ends without widgets is the one it currently shows.

Run on ipywidgets 8 (the project's) and 7 (Colab's): ``PYTHONPATH=<ipywidgets 7.7 folder>``.
"""

import base64
import io

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


IPYWIDGETS_7 = not hasattr(ipywidgets.Widget, "_repr_mimebundle_")


def _display_data(box, monkeypatch) -> dict:
    """The display data a front end receives for `box` (ipywidgets 8 and 7 build it apart)."""
    import IPython.display

    if not IPYWIDGETS_7:
        return box._repr_mimebundle_()
    sent = []
    monkeypatch.setattr(IPython.display, "display", lambda data, **kwargs: sent.append(data))
    box._ipython_display_()
    (data,) = sent
    return data


def _fallback_png(box, monkeypatch) -> bytes:
    """The PNG that viewers without widget support show in place of `box`."""
    data = _display_data(box, monkeypatch)
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    return base64.b64decode(data["image/png"])


def _pixels(png_bytes: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB"), dtype=np.int16)


def _png_of(fig) -> bytes:
    from cnnkit.display import png

    return png(fig).data


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


def test_conv_explorer_leaves_a_picture_of_its_current_settings(monkeypatch):
    image = np.random.default_rng(3).random((24, 24))
    box = widgets.conv_explorer(image, static=False)
    sobel = widgets.KERNELS["sobel x"]
    first = _fallback_png(box, monkeypatch)
    expected = conv.conv2d(image, sobel, padding=1)
    assert first == _png_of(widgets._draw_conv(image, sobel, expected, None, "sobel x"))

    box.controls["stride"].value = 3
    after = _fallback_png(box, monkeypatch)
    strided = conv.conv2d(image, sobel, stride=3, padding=1)
    assert after == _png_of(widgets._draw_conv(image, sobel, strided, None, "sobel x"))
    before_px, after_px = _pixels(first), _pixels(after)
    assert before_px.shape == after_px.shape
    assert (np.abs(before_px - after_px).max(axis=-1) > 30).mean() > 0.05  # a visibly new picture


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


def test_feature_map_explorer_leaves_a_picture_of_the_chosen_map(model, monkeypatch):
    images = np.random.default_rng(4).integers(0, 256, (3, 10, 10, 1), dtype=np.uint8)
    box = widgets.feature_map_explorer(model, images, static=False)
    first = _fallback_png(box, monkeypatch)
    box.controls["layer"].value = "conv_b"
    box.controls["channel"].value = 5
    after = _fallback_png(box, monkeypatch)
    maps = widgets.viz.feature_maps(model, images[0], layers=["conv_b"])["conv_b"]
    assert after == _png_of(widgets._draw_map(images[0], maps, "conv_b", 5))
    assert after != first


def test_feature_map_explorer_static_and_errors(model):
    images = np.zeros((2, 10, 10, 1), dtype=np.uint8)
    fig = widgets.feature_map_explorer(model, images, static=True)
    assert fig.axes[1].get_title() == "conv_a: channel 0 of 3 (10x10)"
    with pytest.raises(ValueError, match=r"`images` must be a non-empty batch.*\(10, 10, 1\)"):
        widgets.feature_map_explorer(model, images[0])


# --------------------------------------------------------------------------- digit pad


def _stroke_image(strokes) -> np.ndarray:
    from cnnkit.widgets import _render_strokes

    return _render_strokes(strokes)


_BAR = [[(140, 40), (140, 240)]]  # a "1": one vertical stroke
_RING = [[(140 + 80 * np.cos(t), 140 + 100 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]]


def test_to_mnist_follows_the_mnist_recipe():
    from scipy import ndimage

    drawing = np.zeros((200, 300), np.uint8)
    drawing[20:180, 200:230] = 255  # a tall bar far off-centre
    digit = widgets.to_mnist(drawing)
    assert digit.shape == (28, 28, 1) and digit.dtype == np.uint8
    rows, cols = np.nonzero(digit[..., 0])
    assert np.ptp(rows) + 1 in (20, 21)  # the long side fills the 20x20 box (+1 of LANCZOS halo)
    assert np.ptp(cols) + 1 <= 6  # the aspect ratio is kept: 160x30 -> about 20x4
    centre = ndimage.center_of_mass(digit[..., 0].astype(np.float64))
    np.testing.assert_allclose(centre, (13.5, 13.5), atol=0.5)
    # Dark ink on white paper, or an RGB or RGBA picture, gives the same digit.
    np.testing.assert_array_equal(widgets.to_mnist(255 - drawing), digit)
    np.testing.assert_array_equal(widgets.to_mnist(np.dstack([drawing] * 3)), digit)
    rgba = np.zeros((200, 300, 4), np.uint8)
    rgba[..., 3] = drawing
    np.testing.assert_array_equal(widgets.to_mnist(rgba), digit)
    # A grey photo: the background level is removed, so the paper becomes black.
    photo = (0.4 * 255 + 0.6 * drawing).astype(np.uint8)
    assert widgets.to_mnist(photo)[digit[..., 0] == 0].max() == 0


def test_to_mnist_of_nothing_and_bad_arguments():
    np.testing.assert_array_equal(widgets.to_mnist(np.zeros((50, 50))), np.zeros((28, 28, 1)))
    assert widgets.to_mnist(np.full((50, 50), 200, np.uint8)).max() == 0
    assert widgets.to_mnist(_stroke_image(_BAR), size=16).shape == (16, 16, 1)
    with pytest.raises(ValueError, match=r"`size` must be at least 8 pixels. Received: size=4"):
        widgets.to_mnist(np.zeros((50, 50)), size=4)
    with pytest.raises(ValueError, match=r"Received: image.shape=\(5, 5, 2\)"):
        widgets.to_mnist(np.zeros((5, 5, 2)))


@pytest.fixture(scope="module")
def template_model():
    """A linear "reader" whose class 1 is the MNIST-style bar and class 0 the ring.

    Every other class scores 0, so the model says "1" for a vertical stroke and "0" for a
    ring if, and only if, the pad hands it the drawing prepared as MNIST (scaled to [0, 1]).
    """
    templates = np.zeros((28 * 28, 10), np.float32)
    for label, strokes in ((1, _BAR), (0, _RING)):
        digit = widgets.to_mnist(_stroke_image(strokes)).astype(np.float32).ravel() / 255
        templates[:, label] = 30 * digit / np.sum(digit**2)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    model.layers[-1].set_weights([templates, np.zeros(10, np.float32)])
    return model


def _send(canvas, event, x, y):
    """What the browser sends when the pen moves on an ipycanvas Canvas."""
    canvas._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def test_digit_pad_predicts_what_is_drawn(template_model):
    from cnnkit.train import prepare

    pad = widgets.digit_pad(template_model, static=False)
    assert isinstance(pad, ipywidgets.VBox)
    assert len(pad.state["strokes"]) == 1 and len(pad.state["top3"]) == 3  # the sample "3"
    sample_png = pad.state["png"]
    pad.controls["clear"].click()
    assert pad.state["strokes"] == [] and pad.state["top3"] == []
    assert not pad.state["image"].any()
    empty = np.zeros((280, 280), np.uint8)
    blank = widgets._draw_pad(empty, pad.state["image"], [], [str(k) for k in range(10)])
    assert pad.state["png"] == _png_of(blank) != sample_png

    canvas = pad.controls["canvas"]
    _send(canvas, "mouse_move", 10, 10)  # moving without the button down draws nothing
    assert pad.state["strokes"] == []
    _send(canvas, "mouse_down", 140, 40)
    for y in range(50, 241, 10):
        _send(canvas, "mouse_move", 141, y)
    _send(canvas, "mouse_up", 141, 240)
    assert len(pad.state["strokes"]) == 1 and len(pad.state["strokes"][0]) == 21
    assert pad.state["image"].shape == (28, 28, 1)
    labels = [label for label, _ in pad.state["top3"]]
    probabilities = [p for _, p in pad.state["top3"]]
    assert labels[0] == 1 and probabilities == sorted(probabilities, reverse=True)
    expected = template_model.predict(prepare(pad.state["image"][None]), verbose=0)[0]
    np.testing.assert_allclose(probabilities[0], expected.max(), rtol=1e-6)
    drawn = widgets._draw_pad(
        pad.state["drawing"], pad.state["image"], pad.state["top3"], [str(k) for k in range(10)]
    )
    assert pad.state["png"] == _png_of(drawn)

    pad.controls["clear"].click()
    (ring,) = _RING
    _send(canvas, "mouse_down", *ring[0])
    for x, y in ring[1:]:
        _send(canvas, "mouse_move", x, y)
    _send(canvas, "mouse_out", *ring[-1])  # leaving the canvas lifts the pen too
    assert pad.state["top3"][0][0] == 0


def test_digit_pad_reads_an_uploaded_photo(template_model):
    import datetime
    import io

    from PIL import Image

    pad = widgets.digit_pad(template_model, static=False)
    buffer = io.BytesIO()
    Image.fromarray(255 - _stroke_image(_BAR)).save(buffer, format="png")  # dark ink on white
    content = buffer.getvalue()
    upload = pad.controls["upload"]
    if IPYWIDGETS_7:  # what the browser sends: the files' metadata and bytes, then a counter
        upload.metadata = [{"name": "one.png", "type": "image/png", "size": len(content)}]
        upload.data = [content]
        upload._counter += 1
    else:
        upload.value = (
            {
                "name": "one.png",
                "type": "image/png",
                "size": len(content),
                "content": memoryview(content),
                "last_modified": datetime.datetime.now(tz=datetime.timezone.utc),
            },
        )
    assert pad.state["strokes"] == []
    np.testing.assert_array_equal(pad.state["image"], widgets.to_mnist(_stroke_image(_BAR)))
    assert pad.state["top3"][0][0] == 1


def test_digit_pad_static_and_errors(template_model):
    fig = widgets.digit_pad(template_model, static=True)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[1].get_title().startswith("what the model sees (28x28)")
    with pytest.raises(ValueError, match=r"must take \(32, 32, 1\) images.*Received: a model"):
        widgets.digit_pad(template_model, size=32)


def test_digit_pad_in_colab_falls_back_to_a_picture_and_predict_digit(
    template_model, monkeypatch, capsys, tmp_path
):
    from PIL import Image

    from cnnkit import env

    monkeypatch.setattr(env, "in_colab", lambda: True)
    fig = widgets.digit_pad(template_model, static=False)
    assert isinstance(fig, Figure)
    assert "Colab cannot show the drawing pad" in capsys.readouterr().out

    photo = tmp_path / "one.png"
    Image.fromarray(255 - _stroke_image(_BAR)).save(photo)  # dark ink on white paper
    from_file = widgets.predict_digit(template_model, str(photo))
    shown = from_file.axes[1].images[0].get_array()
    np.testing.assert_array_equal(shown, widgets.to_mnist(_stroke_image(_BAR))[..., 0])
    assert [t.get_text() for t in from_file.axes[2].get_yticklabels()][-1] == "1"  # top: "1"
    from_array = widgets.predict_digit(template_model, _stroke_image(_RING))
    assert [t.get_text() for t in from_array.axes[2].get_yticklabels()][-1] == "0"
    with pytest.raises(ValueError, match=r"`image` must be an image file or an array.*nope.png"):
        widgets.predict_digit(template_model, str(tmp_path / "nope.png"))
