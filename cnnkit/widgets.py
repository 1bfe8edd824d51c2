"""Live demos with ipywidgets: convolution on a photograph, and a network's feature maps.

Each demo is a function that returns a widget (sliders and drop-downs above the picture they
drive) in a notebook kernel. Without a widget frontend (a script, a test, ``static=True``) it
draws once with the default settings and returns that Figure instead, so notebooks run
headless under the test suite and still show something.

A widget's output also carries a PNG of what it shows at the moment it is displayed (the
``image/png`` next to the widget view in its display data): JupyterLab, Notebook, VS Code and
Colab draw the live widget, while exported HTML without widget state, GitHub's viewer and other
front ends without widget support show the picture instead of a blank. In Colab, where
third-party widgets such as ipycanvas do not run, the digit pad falls back to a picture and
:func:`predict_digit`, which reads an uploaded file.

The interactive widget keeps what it last drew in ``widget.state`` (a dict), and its controls
in ``widget.controls`` (name -> ipywidget), so a test or a curious learner can set
``widget.controls["stride"].value = 2`` and read ``widget.state["output"]``.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence

import ipywidgets as widgets
import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from . import conv, viz
from .display import displayable, in_notebook, png
from .inspect import CONV_TYPES, activated_layer

__all__ = [
    "KERNELS",
    "conv_explorer",
    "conv_formula",
    "digit_pad",
    "feature_map_explorer",
    "parse_kernel",
    "predict_digit",
    "to_mnist",
]

KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64),
    "box blur": np.full((3, 3), 1 / 9),
    "gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
    "sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
    "sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
    "edge (laplacian)": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64),
    "course example": np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float64) / 9,
}
"""Classic 3x3 kernels by name; ``conv_explorer`` also takes typed numbers ("custom")."""

_CUSTOM = "custom (type below)"
_DEFAULT_TEXT = "-1 0 1\n-2 0 2\n-1 0 1"


class _Demo(widgets.VBox):
    """A VBox whose display data also holds ``state["png"]``, a picture of what it shows.

    Front ends that render widgets pick the widget view; the others (GitHub, HTML exported
    without widget state) fall back to the ``image/png``. ipywidgets 8 builds the display data
    in ``_repr_mimebundle_``, ipywidgets 7 in ``_ipython_display_``: both are covered.
    """

    def _picture(self) -> dict:
        data = getattr(self, "state", {}).get("png")
        return {"image/png": base64.b64encode(data).decode("ascii")} if data else {}

    if hasattr(widgets.Widget, "_repr_mimebundle_"):  # ipywidgets 8

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            return data if data is None else {**data, **self._picture()}

    else:  # ipywidgets 7: Widget._ipython_display_ sends this bundle itself

        def _ipython_display_(self, **kwargs):
            from IPython.display import display

            text = repr(self)
            data = {
                "text/plain": text if len(text) <= 110 else text[:110] + "\u2026",
                "application/vnd.jupyter.widget-view+json": {
                    "version_major": 2,
                    "version_minor": 0,
                    "model_id": self._model_id,
                },
                **self._picture(),
            }
            display(data, raw=True)
            self._handle_displayed(**kwargs)


def _show(state: dict, fig: Figure) -> None:
    """Display ``fig`` as a PNG (in the widget's output area) and keep its bytes in ``state``."""
    from IPython.display import display

    picture = png(fig)
    state["png"] = picture.data
    display(picture)


def parse_kernel(text: str) -> np.ndarray:
    """Read a kernel typed as rows of numbers.

    Rows are separated by new lines or ``;``, numbers by spaces or commas; a fraction such
    as ``1/9`` is allowed. ``"-1 0 1; -2 0 2; -1 0 1"`` is Sobel x.

    Args:
        text: the typed kernel.

    Returns:
        float64 array of shape (rows, columns).

    See notebooks/03_convolution_by_hand.ipynb.
    """
    rows = [row for row in re.split(r"[;\n]", text) if row.strip()]
    try:
        values = [[_number(item) for item in re.split(r"[,\s]+", row.strip())] for row in rows]
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            "`text` must hold numbers (e.g. 1, -0.5 or 1/9) in rows separated by new lines or "
            f"';'. Received: text={text!r}"
        ) from None
    if not values or len({len(row) for row in values}) != 1:
        raise ValueError(
            "`text` must hold a rectangle of numbers: every row as long as the first. "
            f"Received: text={text!r}"
        )
    return np.array(values, dtype=np.float64)


def _number(item: str) -> float:
    if "/" in item:
        top, bottom = item.split("/", 1)
        return float(top) / float(bottom)
    return float(item)


def conv_formula(
    n_in: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> str:
    """The output-size formula with the numbers filled in, computed by ``cnnkit.conv``.

    Example: ``conv_formula(7, 3, stride=2)`` gives
    ``"n_out = floor((7 + 2*0 - 3) / 2) + 1 = floor(4 / 2) + 1 = 3"``; with dilation d the
    kernel spans d(k - 1) + 1 pixels, and that span replaces k. When the stride leaves pixels
    over (7 pixels, k = 3, stride 3) the text says so: the floor drops them.

    Args:
        n_in: input length in pixels.
        kernel_size: kernel length k in pixels.
        stride, padding, dilation: as in ``cnnkit.conv.output_size``.

    Returns:
        One line of text.

    See notebooks/03_convolution_by_hand.ipynb.
    """
    n_out = conv.output_size(n_in, kernel_size, stride, padding, dilation)
    span = dilation * (kernel_size - 1) + 1
    k_text = str(kernel_size) if dilation == 1 else f"({dilation}*({kernel_size}-1)+1)"
    room = n_in + 2 * padding - span
    text = (
        f"n_out = floor(({n_in} + 2*{padding} - {k_text}) / {stride}) + 1"
        f" = floor({room} / {stride}) + 1 = {n_out}"
    )
    if room % stride:
        text += f"\n({room % stride} px left over: stride {stride} does not fit exactly)"
    return text


def _default_photo() -> np.ndarray:
    """scikit-image's 512x512 'camera' photograph, halved to 256x256 uint8 (ships offline)."""
    from skimage import data

    photo = data.camera().astype(np.float64)
    return photo.reshape(256, 2, 256, 2).mean(axis=(1, 3)).round().astype(np.uint8)


def _gray(image) -> np.ndarray:
    """(H, W) float64 in [0, 1] from a grayscale or RGB image, uint8 or float."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721])  # ITU-R 709
        return image / 255.0 if np.asarray(image).max() > 1.0 else image
    if image.ndim != 2:
        raise ValueError(
            "`image` must be (H, W), (H, W, 1) or (H, W, 3). "
            f"Received: image with shape {np.shape(image)}"
        )
    return image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else 1.0)


def _convolve(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int, dilation: int):
    """(output, formula text) for one setting; the text says why when the kernel cannot fit."""
    try:
        rows = conv_formula(image.shape[0], kernel.shape[0], stride, padding, dilation)
        cols = conv_formula(image.shape[1], kernel.shape[1], stride, padding, dilation)
    except ValueError as error:
        return None, str(error)
    output = conv.conv2d(image, kernel, stride=stride, padding=padding, dilation=dilation)
    text = rows if rows == cols else f"rows: {rows}\ncolumns: {cols}"
    return output, text


def _draw_conv(image, kernel, output, formula: str | None, name) -> Figure:
    fig, axes = plt.subplots(
        1, 3, figsize=(11, 4.0), layout="constrained", gridspec_kw={"width_ratios": [4, 2.2, 4]}
    )
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"input {image.shape[0]}x{image.shape[1]}", fontsize=10)
    limit = float(np.abs(kernel).max()) or 1.0
    axes[1].imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if kernel.size <= 49:
        for (i, j), value in np.ndenumerate(kernel):
            dark = abs(value) > 0.6 * limit  # white text on the saturated cells
            axes[1].text(
                j,
                i,
                f"{value:.3g}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )
    axes[1].set_title(f"kernel: {name} ({kernel.shape[0]}x{kernel.shape[1]})", fontsize=10)
    if output is None:
        axes[2].text(0.5, 0.5, "no output:\nthe kernel does not fit", ha="center", va="center")
        axes[2].set_title("output", fontsize=10)
    else:
        signed = output.min() < 0
        if signed:  # edges: negative and positive responses on a diverging scale
            # A few extreme pixels would wash out every other edge: clip at the 99.5th
            # percentile of |output| (the colour bar ends there).
            reach = float(np.percentile(np.abs(output), 99.5)) or float(np.abs(output).max())
            shown = axes[2].imshow(output, cmap="RdBu_r", vmin=-reach, vmax=reach)
        else:
            shown = axes[2].imshow(output, cmap="gray")
        fig.colorbar(shown, ax=axes[2], shrink=0.8)
        axes[2].set_title(f"output {output.shape[0]}x{output.shape[1]}", fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if formula:
        fig.suptitle(formula, fontsize=10, family="monospace")
    plt.close(fig)
    return fig


def conv_explorer(image=None, *, static: bool | None = None):
    """Convolve a photograph with a kernel you pick, and watch the output size change.

    Choose a kernel (identity, blurs, sharpen, Sobel x/y, Laplacian edges, the course's
    example, or typed numbers), the stride, the zero padding and the dilation. The widget
    shows the input, the kernel with its weights, the output (a diverging colour map when it
    has negative values, e.g. edges) and the output-size formula with the numbers filled in.
    The convolution is ``cnnkit.conv.conv2d``, the course's NumPy one.

    Args:
        image: an (H, W) or (H, W, 3) image, uint8 or float in [0, 1] (colour is turned to
            gray); by default scikit-image's "camera" photograph at 256x256.
        static: True draws once with the defaults and returns the Figure; False always
            builds the widget; None (default) builds it only inside a notebook kernel.

    Returns:
        An ``ipywidgets.VBox`` with ``.controls`` and ``.state`` (``kernel``, ``output``,
        ``formula``, ``png``: the picture last drawn, which the widget's display data also
        carries for front ends without widgets), or a Figure when static.

    See notebooks/03_convolution_by_hand.ipynb.
    """
    picture = _gray(_default_photo() if image is None else image)
    if static is None:
        static = not in_notebook()
    if static:
        output, formula = _convolve(picture, KERNELS["sobel x"], 1, 1, 1)
        return _draw_conv(picture, KERNELS["sobel x"], output, formula, "sobel x")

    style = {"description_width": "70px"}
    controls = {
        "kernel": widgets.Dropdown(
            options=[*KERNELS, _CUSTOM], value="sobel x", description="kernel", style=style
        ),
        "custom": widgets.Textarea(
            value=_DEFAULT_TEXT,
            description="numbers",
            placeholder="rows of numbers, e.g. 1 0 -1",
            layout=widgets.Layout(width="260px", height="80px"),
            style=style,
        ),
        "stride": widgets.IntSlider(value=1, min=1, max=8, description="stride", style=style),
        "padding": widgets.IntSlider(value=1, min=0, max=8, description="padding", style=style),
        "dilation": widgets.IntSlider(value=1, min=1, max=8, description="dilation", style=style),
    }
    formula_box = widgets.HTML()
    state: dict = {}

    def render(kernel, custom, stride, padding, dilation):
        try:
            weights = parse_kernel(custom) if kernel == _CUSTOM else KERNELS[kernel]
        except ValueError as error:
            state.update(kernel=None, output=None, formula=str(error))
            formula_box.value = f"<pre style='color:#cf222e'>{error}</pre>"
            return
        output, formula = _convolve(picture, weights, stride, padding, dilation)
        state.update(kernel=weights, output=output, formula=formula)
        formula_box.value = f"<pre>{formula}</pre>"

        # The formula already sits in `formula_box` above the picture: don't draw it twice.
        _show(state, _draw_conv(picture, weights, output, None, kernel.split(" (")[0]))

    out = widgets.interactive_output(render, controls)
    left = widgets.VBox([controls["kernel"], controls["custom"]])
    right = widgets.VBox([controls["stride"], controls["padding"], controls["dilation"]])
    box = _Demo([widgets.HBox([left, right]), formula_box, out])
    box.controls = controls
    box.state = state
    return box


def _spatial_layer_names(model) -> list[str]:
    """Convolutions (after their activation layer, if any) and poolings, in model order."""
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    chosen = {
        activated_layer(model, layer).name if isinstance(layer, CONV_TYPES) else layer.name
        for layer in model.layers
        if isinstance(layer, (*CONV_TYPES, *pools))
    }
    return [layer.name for layer in model.layers if layer.name in chosen]


def _draw_map(image, array, layer, channel) -> Figure:
    fig, (ax_in, ax_map) = plt.subplots(1, 2, figsize=(8, 3.8), layout="constrained")
    ax_in.imshow(displayable(image), cmap="gray", vmin=0, vmax=1)
    ax_in.set_title("input", fontsize=10)
    values = array[..., channel]
    flat = float(values.max()) == float(values.min())
    low = float(values.min())
    shown = ax_map.imshow(
        values,
        cmap="viridis",
        interpolation="nearest",
        vmin=low if flat else None,
        vmax=low + 1.0 if flat else None,
    )
    if flat:
        ax_map.text(
            0.5,
            0.5,
            f"{low:g} everywhere: this filter\ndid not fire on this image",
            transform=ax_map.transAxes,
            ha="center",
            va="center",
            color="white",
        )
    fig.colorbar(shown, ax=ax_map, shrink=0.85, label="activation")
    h, w, k = array.shape
    ax_map.set_title(f"{layer}: channel {channel} of {k} ({h}x{w})", fontsize=10)
    for ax in (ax_in, ax_map):
        ax.set_xticks([])
        ax.set_yticks([])
    plt.close(fig)
    return fig


def feature_map_explorer(
    model, images, *, layers: Sequence[str] | None = None, static: bool | None = None
):
    """Pick an image, a layer and a channel, and see that feature map.

    Args:
        model: a Keras model with a defined input.
        images: a batch (N, H, W, C) of images the model takes (uint8 is scaled to [0, 1]).
        layers: names of layers with 4-D outputs to offer; by default the convolution
            (after its activation layer, if it has one) and pooling layers, in order.
        static: True draws image 0, the first layer, channel 0 once and returns the Figure;
            False always builds the widget; None builds it only inside a notebook kernel.

    Returns:
        An ``ipywidgets.VBox`` with ``.controls`` (``image``, ``layer``, ``channel``) and
        ``.state`` (``map``: the (h, w) array drawn, ``title``, ``png``: the picture last
        drawn, also in the widget's display data), or a Figure when static.

    See notebooks/04_lenet_mnist.ipynb.
    """
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(
            "`images` must be a non-empty batch of shape (N, H, W, C). "
            f"Received: images.shape={images.shape}"
        )
    names = list(layers) if layers is not None else _spatial_layer_names(model)
    if not names:
        raise ValueError(
            "`model` has no convolution or pooling layer to explore; pass `layers=`. "
            f"Received: model {model.name!r}"
        )
    cache: dict[int, dict[str, np.ndarray]] = {}

    def maps_of(index: int) -> dict[str, np.ndarray]:
        if index not in cache:
            cache[index] = viz.feature_maps(model, images[index], layers=names)
        return cache[index]

    if static is None:
        static = not in_notebook()
    if static:
        return _draw_map(images[0], maps_of(0)[names[0]], names[0], 0)

    first = maps_of(0)
    controls = {
        "image": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image"),
        "layer": widgets.Dropdown(options=names, value=names[0], description="layer"),
        "channel": widgets.IntSlider(
            value=0, min=0, max=first[names[0]].shape[-1] - 1, description="channel"
        ),
    }

    def fit_channel(change) -> None:  # registered before the renderer, so it runs first
        controls["channel"].max = maps_of(controls["image"].value)[change["new"]].shape[-1] - 1

    controls["layer"].observe(fit_channel, names="value")
    state: dict = {}

    def render(image, layer, channel):
        array = maps_of(image)[layer]
        channel = min(channel, array.shape[-1] - 1)
        h, w, k = array.shape
        state.update(map=array[..., channel], title=f"{layer}: channel {channel} of {k} ({h}x{w})")
        _show(state, _draw_map(images[image], array, layer, channel))

    out = widgets.interactive_output(render, controls)
    box = _Demo([widgets.HBox(list(controls.values())), out])
    box.controls = controls
    box.state = state
    return box


# --------------------------------------------------------------------------- digit pad

_PAD_SIDE = 280  # canvas pixels, ten per MNIST pixel
_PEN_WIDTH = 22  # canvas pixels: about MNIST's stroke once the digit is scaled to 20 pixels
# The built-in sample: a handwritten "3" as one pen stroke of (x, y) points on the canvas.
_SAMPLE_STROKES = (
    (
        (92, 74), (116, 54), (148, 46), (178, 56), (192, 82), (184, 110), (160, 128),
        (128, 136), (162, 144), (190, 164), (198, 196), (182, 226), (148, 240), (112, 236),
        (84, 214),
    ),
)  # fmt: skip


def to_mnist(image, *, size: int = 28) -> np.ndarray:
    """Turn a drawing or a photo of one digit into an MNIST-style image.

    MNIST's recipe (LeCun et al. 1998): white ink on black; the digit scaled to fit a 20x20
    box with its aspect ratio kept (anti-aliased, so edges are grey); then placed in the
    28x28 frame with its centre of mass in the middle. Dark ink on light paper is inverted
    first (the image's border tells which is the background), and the background level is
    subtracted, so a grey photo of paper becomes black.

    Args:
        image: one image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (RGBA), uint8 in
            [0, 255] or float in [0, 1].
        size: side of the result in pixels; the digit's box is ``round(size * 20 / 28)``.

    Returns:
        (size, size, 1) uint8 image in [0, 255]; all zeros when the image holds no ink.

    See notebooks/04_lenet_mnist.ipynb.
    """
    from PIL import Image
    from scipy import ndimage

    if int(size) < 8:
        raise ValueError(f"`size` must be at least 8 pixels. Received: size={size}")
    gray = _ink_gray(image)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper; MNIST's ink is the bright part
        gray, background = 1.0 - gray, 1.0 - background
    peak = float(gray.max())
    empty = np.zeros((size, size, 1), np.uint8)
    if peak - background < 0.1:
        return empty
    ink = np.clip((gray - background) / (peak - background), 0.0, 1.0)
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = round(size * 20 / 28) / max(ink.shape)
    height, width = (max(1, round(side * scale)) for side in ink.shape)
    glyph = Image.fromarray((ink * 255).round().astype(np.uint8)).resize(
        (width, height), Image.Resampling.LANCZOS
    )
    frame = np.zeros((size, size))
    top, left = (size - height) // 2, (size - width) // 2
    frame[top : top + height, left : left + width] = np.asarray(glyph, np.float64)
    if not frame.any():
        return empty
    # MNIST centres the centre of mass, not the box: shift by whole pixels, nothing lost.
    shift = np.round((size - 1) / 2 - np.asarray(ndimage.center_of_mass(frame))).astype(int)
    frame = ndimage.shift(frame, shift, order=0, mode="constant", cval=0.0)
    return frame.round().clip(0, 255).astype(np.uint8)[..., None]


def _ink_gray(image) -> np.ndarray:
    """(H, W) float64 in [0, 1]; for RGBA the ink is where alpha is (on a black background)."""
    array = np.asarray(image)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))):
        raise ValueError(
            "`image` must be one image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). "
            f"Received: image.shape={array.shape}"
        )
    if array.ndim == 3 and array.shape[-1] == 4:
        scaled = array.astype(np.float64) / (255.0 if array.dtype == np.uint8 else 1.0)
        alpha = scaled[..., 3]
        if alpha.min() == alpha.max():  # an opaque picture: its colours carry the ink
            return _gray(array[..., :3])
        return alpha
    gray = _gray(image)
    if min(gray.shape) < 2:
        raise ValueError(
            f"`image` must be at least 2x2 pixels. Received: image.shape={array.shape}"
        )
    return np.clip(gray, 0.0, 1.0)


def _render_strokes(strokes, side: int = _PAD_SIDE, width: int = _PEN_WIDTH) -> np.ndarray:
    """Pen strokes (sequences of (x, y) canvas points) as a (side, side) uint8 image, white ink."""
    from PIL import Image, ImageDraw

    picture = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(picture)
    radius = width / 2
    for stroke in strokes:
        points = [(float(x), float(y)) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=255, width=width, joint="curve")
        for x, y in points[:1] + points[-1:]:  # round pen tips
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(picture, np.uint8)


def _top3(model, digit: np.ndarray) -> list[tuple[int, float]]:
    """The three most probable classes for one (H, W, 1) uint8 image, most probable first."""
    from .preprocessing import prepare

    probabilities = np.asarray(model.predict(prepare(digit[None]), verbose=0))[0]
    order = np.argsort(probabilities, kind="stable")[::-1][:3]
    return [(int(k), float(probabilities[k])) for k in order]


def _bars_html(top: list[tuple[int, float]], class_names: Sequence[str]) -> str:
    rows = "".join(
        "<div style='font-family:monospace;margin:3px 0'>"
        f"{class_names[label]:>3} <span style='display:inline-block;height:12px;"
        f"width:{round(150 * p)}px;background:{'#1f77b4' if i == 0 else '#9ecae1'}'></span>"
        f" {p:.1%}</div>"
        for i, (label, p) in enumerate(top)
    )
    return f"<b>the model's top 3</b>{rows}"


def _png(digit: np.ndarray, zoom: int = 5) -> bytes:
    """A (H, W, 1) uint8 image as PNG bytes, each pixel a zoom x zoom block."""
    import io

    from PIL import Image

    picture = Image.fromarray(digit[..., 0]).resize(
        (digit.shape[1] * zoom, digit.shape[0] * zoom), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="png")
    return buffer.getvalue()


def _draw_pad(drawing: np.ndarray, digit: np.ndarray, top, class_names) -> Figure:
    fig, axes = plt.subplots(
        1, 3, figsize=(9, 3.0), layout="constrained", gridspec_kw={"width_ratios": [1, 1, 1.3]}
    )
    axes[0].imshow(drawing, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title(f"drawn ({drawing.shape[0]}x{drawing.shape[1]})", fontsize=10)
    axes[1].imshow(digit[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    axes[1].set_title(f"what the model sees ({digit.shape[0]}x{digit.shape[1]})", fontsize=10)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    names = [str(class_names[label]) for label, _ in top]
    values = [p for _, p in top]
    bars = axes[2].barh(names[::-1], values[::-1], color=["#9ecae1"] * (len(top) - 1) + ["#1f77b4"])
    axes[2].bar_label(bars, labels=[f"{p:.1%}" for p in values[::-1]], padding=3, fontsize=9)
    axes[2].set_xlim(0, 1.25)
    axes[2].set_xticks([0, 0.5, 1])
    axes[2].set_xlabel("probability")
    axes[2].set_title("top 3", fontsize=10)
    for side in ("top", "right"):
        axes[2].spines[side].set_visible(False)
    plt.close(fig)
    return fig


def digit_pad(model, *, size: int = 28, static: bool | None = None):
    """Draw a digit (or upload a photo of one) and see what a trained MNIST model predicts.

    A 280x280 canvas (ipycanvas) takes mouse or touch strokes; when the pen lifts, the
    drawing goes through :func:`to_mnist` (white on black, fitted in 20x20, centred by its
    centre of mass) and the model's three most probable digits appear beside the 28x28 image
    it saw. **Clear** empties the canvas; **Upload** reads a photo or scan of a digit instead.
    The pad opens with a built-in sample digit (a "3") already drawn and predicted.

    In Colab, which does not run ipycanvas, it prints one line on how to upload a photo and
    use :func:`predict_digit` instead, and returns the sample's Figure.

    Args:
        model: a trained Keras classifier of (size, size, 1) images scaled to [0, 1], with
            (batch, num_classes) softmax outputs (e.g. ``cnnkit.models.lenet()``).
        size: side of the model's input images in pixels.
        static: True draws the sample digit's prediction once and returns the Figure;
            False always builds the widget; None (default) builds it only inside a notebook
            kernel.

    Returns:
        An ``ipywidgets.VBox`` with ``.controls`` (``canvas``, ``clear``, ``upload``) and
        ``.state`` (``strokes``: the pen strokes as lists of (x, y) canvas points;
        ``drawing``: the (280, 280) uint8 picture; ``image``: the (size, size, 1) uint8 model
        input; ``top3``: [(class, probability)] most probable first; ``png``: the picture of
        all three, also in the widget's display data), or a Figure when static or in Colab.

    See notebooks/04_lenet_mnist.ipynb.
    """
    from . import env

    expected = tuple(model.inputs[0].shape[1:])
    if expected != (size, size, 1):
        raise ValueError(
            f"`model` must take ({size}, {size}, 1) images for a digit pad of `size` {size}. "
            f"Received: a model with input shape {expected}"
        )
    class_names = [str(k) for k in range(int(model.outputs[0].shape[-1]))]
    state: dict = {"strokes": [list(stroke) for stroke in _SAMPLE_STROKES]}

    def predict(drawing: np.ndarray) -> None:
        state["drawing"] = drawing
        state["image"] = to_mnist(drawing, size=size)
        state["top3"] = _top3(model, state["image"]) if state["image"].any() else []

    predict(_render_strokes(state["strokes"]))
    if static is None:
        static = not in_notebook()
    if not static and env.in_colab():
        print(
            "cnnkit: Colab cannot show the drawing pad; upload a photo of a digit with "
            "`from google.colab import files; name = next(iter(files.upload()))`, then run "
            "`cnnkit.widgets.predict_digit(model, name)`."
        )
        static = True
    if static:
        return _draw_pad(state["drawing"], state["image"], state["top3"], class_names)

    from ipycanvas import Canvas

    canvas = Canvas(
        width=_PAD_SIDE, height=_PAD_SIDE, layout=widgets.Layout(border="1px solid #888")
    )
    canvas.line_width = _PEN_WIDTH
    canvas.line_cap = "round"
    canvas.line_join = "round"
    canvas.stroke_style = "white"
    seen = widgets.Image(format="png", layout=widgets.Layout(width="140px", height="140px"))
    bars = widgets.HTML()
    clear = widgets.Button(description="Clear", icon="eraser")
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload")
    hint = widgets.HTML("<i>Draw a digit; release the button to predict.</i>")
    pen = {"down": False}

    def show() -> None:
        seen.value = _png(state["image"])
        bars.value = (
            _bars_html(state["top3"], class_names) if state["top3"] else "<i>nothing drawn</i>"
        )
        fig = _draw_pad(state["drawing"], state["image"], state["top3"], class_names)
        state["png"] = png(fig).data

    def paint_background() -> None:
        canvas.fill_style = "black"
        canvas.fill_rect(0, 0, _PAD_SIDE, _PAD_SIDE)

    def paint(stroke) -> None:
        if len(stroke) > 1:
            canvas.stroke_lines(stroke)
        else:
            canvas.fill_style = "white"
            canvas.fill_circle(stroke[0][0], stroke[0][1], _PEN_WIDTH / 2)

    def pen_down(x, y) -> None:
        pen["down"] = True
        state["strokes"].append([(x, y)])

    def pen_move(x, y) -> None:
        if pen["down"]:
            stroke = state["strokes"][-1]
            canvas.stroke_line(*stroke[-1], x, y)
            stroke.append((x, y))

    def pen_up(x, y) -> None:
        if pen["down"]:
            pen["down"] = False
            paint(state["strokes"][-1])
            predict(_render_strokes(state["strokes"]))
            show()

    def on_clear(_=None) -> None:
        state["strokes"] = []
        paint_background()
        predict(np.zeros((_PAD_SIDE, _PAD_SIDE), np.uint8))
        show()

    def on_upload(change) -> None:
        import io

        from PIL import Image

        files = change["new"]
        if isinstance(files, dict):  # ipywidgets 7: {name: {"metadata": ..., "content": ...}}
            files = list(files.values())
        if not files:
            return
        with Image.open(io.BytesIO(bytes(files[0]["content"]))) as picture:
            photo = np.asarray(picture.convert("L"))
        state["strokes"] = []
        predict(photo)
        shown = np.asarray(
            Image.fromarray(photo).resize((_PAD_SIDE, _PAD_SIDE), Image.Resampling.BILINEAR)
        )
        canvas.put_image_data(np.repeat(shown[..., None], 3, axis=-1), 0, 0)
        show()

    canvas.on_mouse_down(pen_down)
    canvas.on_mouse_move(pen_move)
    canvas.on_mouse_up(pen_up)
    canvas.on_mouse_out(pen_up)
    canvas.on_touch_start(lambda touches: pen_down(*touches[0]))
    canvas.on_touch_move(lambda touches: pen_move(*touches[0]))
    canvas.on_touch_end(lambda touches: pen_up(0, 0))
    clear.on_click(on_clear)
    upload.observe(on_upload, names="value")

    paint_background()
    for stroke in state["strokes"]:
        paint(stroke)
    show()
    right = widgets.VBox([widgets.HTML("<b>what the model sees</b>"), seen, bars])
    box = _Demo([hint, widgets.HBox([canvas, right]), widgets.HBox([clear, upload])])
    box.controls = {"canvas": canvas, "clear": clear, "upload": upload}
    box.state = state
    return box


def predict_digit(model, image, *, size: int = 28) -> Figure:
    """What a trained MNIST model predicts for a photo or scan of one digit.

    The digit pad's picture without the pad: the image as given, the MNIST-style image the
    model sees (:func:`to_mnist`) and the model's three most probable digits. It serves where
    the pad cannot run (Colab, a static page) and for files: upload a photo, pass its name.

    Args:
        model: a trained Keras classifier of (size, size, 1) images scaled to [0, 1].
        image: a path to an image file (PNG, JPEG ...) or an image array as :func:`to_mnist`
            takes it.
        size: side of the model's input images in pixels.

    Returns:
        The Figure (drawing, what the model sees, top 3).

    See notebooks/04_lenet_mnist.ipynb.
    """
    expected = tuple(model.inputs[0].shape[1:])
    if expected != (size, size, 1):
        raise ValueError(
            f"`model` must take ({size}, {size}, 1) images for `size` {size}. "
            f"Received: a model with input shape {expected}"
        )
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image

        if not os.path.isfile(image):
            raise ValueError(
                f"`image` must be an image file or an array. Received: image={image!r}"
            )
        with Image.open(image) as picture:
            image = np.asarray(picture.convert("L"))
    digit = to_mnist(image, size=size)
    top = _top3(model, digit) if digit.any() else []
    drawing = (_ink_gray(image) * 255).round().astype(np.uint8)
    class_names = [str(k) for k in range(int(model.outputs[0].shape[-1]))]
    return _draw_pad(drawing, digit, top, class_names)
