"""Convolution, padding, stride, dilation and pooling written by hand in NumPy.

Everything here computes what Keras' ``Conv2D``, ``DepthwiseConv2D``, ``MaxPooling2D`` and
``AveragePooling2D`` compute (the tests check it), but in a few readable lines, so a learner
can follow one output value back to the input pixels that made it. Like Keras (and every deep
learning library), "convolution" here is cross-correlation: the kernel is not flipped,

    out[i, j] = sum over m, n of padded[i * s + m * d, j * s + n * d] * kernel[m, n]

for stride ``s`` and dilation ``d``, after zero padding.

See notebooks/03_convolution_by_hand.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["avg_pool", "conv2d", "max_pool", "output_size", "receptive_field"]

_PADDING_WORDS = ("valid", "same")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints as ``(rows, cols)``, each >= 1."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(_is_int(v) and v >= 1 for v in pair):
        raise ValueError(
            f"`{name}` must be a positive int or a pair of positive ints. "
            f"Received: {name}={value!r}"
        )
    return int(pair[0]), int(pair[1])


def _check_padding(padding) -> None:
    if isinstance(padding, str):
        if padding not in _PADDING_WORDS:
            raise ValueError(
                "`padding` must be a non-negative int, a pair of them, 'valid' or 'same'. "
                f"Received: padding={padding!r}"
            )
        return
    pair = (padding, padding) if np.isscalar(padding) else tuple(padding)
    if len(pair) != 2 or not all(_is_int(v) and v >= 0 for v in pair):
        raise ValueError(
            "`padding` must be a non-negative int, a pair of them, 'valid' or 'same'. "
            f"Received: padding={padding!r}"
        )


def _pads_1d(n_in: int, k: int, stride: int, padding, dilation: int, axis: int) -> tuple[int, int]:
    """Zeros added (before, after) along one axis; "same" splits as Keras does (extra after)."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        span = (k - 1) * dilation + 1
        total = max((math.ceil(n_in / stride) - 1) * stride + span - n_in, 0)
        return total // 2, total - total // 2
    p = padding if np.isscalar(padding) else padding[axis]
    return int(p), int(p)


def output_size(
    n_in: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    *,
    strict: bool = False,
) -> int:
    """Length of a convolution's or pooling's output along one axis.

    .. math:: n_{out} = \\left\\lfloor \\frac{n_{in} + 2p - d(k - 1) - 1}{s} \\right\\rfloor + 1

    which for ``dilation=1`` is the course's :math:`\\lfloor (n_{in} + 2p - k) / s \\rfloor + 1`:
    a 7-pixel row and a 3-wide kernel give 5; stride 2 gives 3; padding 1 keeps 7.

    Args:
        n_in: input length in pixels (height or width), >= 1.
        kernel_size: kernel length in pixels, >= 1.
        stride: step between two kernel positions, >= 1.
        padding: zeros added on each side (>= 0), or ``"valid"`` (none) or ``"same"`` (Keras':
            enough zeros, split before/after, that the output has ``ceil(n_in / stride)`` values).
        dilation: spacing between kernel taps (1 = a plain kernel).
        strict: if True, refuse sizes where the kernel's last step would overhang the padded
            input (e.g. 7 pixels, kernel 3, stride 3: the slides say "does not fit"); Keras and
            this function otherwise drop the leftover pixels, as the floor says.

    Returns:
        The output length, an int >= 1.

    Raises:
        ValueError: if the (dilated) kernel is wider than the padded input, or with ``strict``
            when the stride does not fit.

    See notebooks/03_convolution_by_hand.ipynb.
    """
    for name, value in (
        ("n_in", n_in),
        ("kernel_size", kernel_size),
        ("stride", stride),
        ("dilation", dilation),
    ):
        if not _is_int(value) or value < 1:
            raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    if not (padding in _PADDING_WORDS or (_is_int(padding) and padding >= 0)):
        raise ValueError(
            "`padding` must be a non-negative int, 'valid' or 'same'. "
            f"Received: padding={padding!r}"
        )
    before, after = _pads_1d(n_in, kernel_size, stride, padding, dilation, 0)
    span = (kernel_size - 1) * dilation + 1
    room = n_in + before + after - span
    if room < 0:
        raise ValueError(
            f"The kernel (span {span} px with dilation {dilation}) does not fit in the padded "
            f"input ({n_in + before + after} px). Received: n_in={n_in}, "
            f"kernel_size={kernel_size}, padding={padding!r}, dilation={dilation}"
        )
    if strict and room % stride:
        raise ValueError(
            f"`stride` {stride} does not fit: (n_in + 2p - span) = {room} is not a multiple of "
            f"it, so the last {room % stride} px would be left over. Received: n_in={n_in}, "
            f"kernel_size={kernel_size}, stride={stride}, padding={padding!r}, dilation={dilation}"
        )
    return room // stride + 1


def conv2d(
    image: np.ndarray,
    kernel: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """2-D cross-correlation of one image with one kernel or a bank of kernels, as Keras does it.

    No bias and no activation: add them yourself (``conv2d(x, k) + b``). Shapes follow Keras'
    ``Conv2D`` (channels last; kernel ``(kh, kw, C_in, C_out)``), so ``layer.get_weights()[0]``
    plugs straight in:

    ============  ====================  ===================================================
    image         kernel                output
    ============  ====================  ===================================================
    (H, W)        (kh, kw)              (H', W'): the textbook case
    (H, W, C)     (kh, kw)              (H', W', C): the same kernel on each channel apart
                                        (``DepthwiseConv2D``), e.g. blurring a colour photo
    (H, W, C)     (kh, kw, C)           (H', W'): one filter summed over the channels
    (H, W, C)     (kh, kw, C, F)        (H', W', F): F filters, a ``Conv2D`` layer
    ============  ====================  ===================================================

    An (H, W) image with a 3-D or 4-D kernel is treated as (H, W, 1).
    ``H' = output_size(H, kh, stride, padding, dilation)``, likewise for W'.

    Args:
        image: (H, W) or (H, W, C) array of any real dtype (uint8 images are fine).
        kernel: (kh, kw), (kh, kw, C) or (kh, kw, C, F) array of weights.
        stride: step between kernel positions, an int or (rows, cols).
        padding: zeros added on each side, an int or (rows, cols), or ``"valid"`` / ``"same"``
            as in Keras (``"same"`` with stride 1 keeps H and W).
        dilation: spacing between kernel taps, an int or (rows, cols); 1 is a plain kernel.

    Returns:
        float64 array with the shape in the table above.

    See notebooks/03_convolution_by_hand.ipynb.
    """
    x = np.asarray(image, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if x.ndim not in (2, 3) or x.size == 0:
        raise ValueError(
            "`image` must be a non-empty (H, W) or (H, W, C) array. "
            f"Received: image with shape {x.shape}"
        )
    if k.ndim not in (2, 3, 4) or k.size == 0:
        raise ValueError(
            "`kernel` must be a non-empty (kh, kw), (kh, kw, C) or (kh, kw, C, F) array. "
            f"Received: kernel with shape {k.shape}"
        )
    strides = _pair(stride, "stride")
    dilations = _pair(dilation, "dilation")
    _check_padding(padding)

    squeeze_channels = False
    if x.ndim == 2 and k.ndim > 2:
        x = x[..., None]
    if k.ndim == 2 and x.ndim == 3:
        # One kernel per channel: run each channel as its own 2-D image.
        return np.stack(
            [conv2d(x[..., c], k, strides, padding, dilations) for c in range(x.shape[-1])],
            axis=-1,
        )
    if k.ndim == 3:
        k = k[..., None]
        squeeze_channels = True
    if k.ndim == 4 and k.shape[2] != x.shape[-1]:
        raise ValueError(
            f"`kernel` must have as many input channels as `image` ({x.shape[-1]}). "
            f"Received: image with shape {np.shape(image)}, kernel with shape {k.shape}"
        )

    kh, kw = k.shape[:2]
    (sh, sw), (dh, dw) = strides, dilations
    rows = _pads_1d(x.shape[0], kh, sh, padding, dh, 0)
    cols = _pads_1d(x.shape[1], kw, sw, padding, dw, 1)
    padded = np.pad(x, [rows, cols] + [(0, 0)] * (x.ndim - 2))
    out_h = _checked_size(padded.shape[0], kh, sh, dh, "height", np.shape(image), k.shape)
    out_w = _checked_size(padded.shape[1], kw, sw, dw, "width", np.shape(image), k.shape)

    # Loop over the kh * kw taps, not over output pixels: each tap multiplies a strided view
    # of the padded image by one weight (or a C_in x F matrix), so the loop stays short.
    out = np.zeros((out_h, out_w) + k.shape[3:])
    for m in range(kh):
        for n in range(kw):
            window = padded[
                m * dh : m * dh + (out_h - 1) * sh + 1 : sh,
                n * dw : n * dw + (out_w - 1) * sw + 1 : sw,
            ]
            out += window @ k[m, n] if k.ndim == 4 else window * k[m, n]
    return out[..., 0] if squeeze_channels else out


def _checked_size(
    padded: int, k: int, stride: int, dilation: int, axis: str, image_shape, kernel_shape
) -> int:
    span = (k - 1) * dilation + 1
    if span > padded:
        raise ValueError(
            f"The kernel (span {span} px along the {axis}) is larger than the padded image "
            f"({padded} px). Received: image with shape {image_shape}, "
            f"kernel with shape {kernel_shape}"
        )
    return (padded - span) // stride + 1


def _pool(x, size, stride, reduce, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim not in (2, 3) or a.size == 0:
        raise ValueError(
            f"`x` must be a non-empty (H, W) or (H, W, C) array for {name}. "
            f"Received: x with shape {a.shape}"
        )
    (ph, pw), (sh, sw) = _pair(size, "size"), _pair(stride, "stride")
    if ph > a.shape[0] or pw > a.shape[1]:
        raise ValueError(
            f"`size` {(ph, pw)} is larger than the input {a.shape[:2]} of {name}. "
            f"Received: size={size!r}, x with shape {a.shape}"
        )
    out_h = (a.shape[0] - ph) // sh + 1
    out_w = (a.shape[1] - pw) // sw + 1
    # (out_h, out_w, [C,] ph, pw): every pooling window, side by side, then one reduction.
    windows = np.lib.stride_tricks.sliding_window_view(a, (ph, pw), axis=(0, 1))
    windows = windows[: (out_h - 1) * sh + 1 : sh, : (out_w - 1) * sw + 1 : sw]
    return reduce(windows, axis=(-2, -1))


def max_pool(
    x: np.ndarray, size: int | tuple[int, int] = 2, stride: int | tuple[int, int] = 2
) -> np.ndarray:
    """Max pooling without padding (Keras' ``MaxPooling2D(size, stride, padding="valid")``).

    Each output value is the largest value of one ``size`` window; windows step by ``stride``
    and leftover rows or columns that no full window covers are dropped. With the defaults a
    4x4 input gives 2x2: ``[[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]]`` -> ``[[6,8],[3,4]]``.

    Args:
        x: (H, W) or (H, W, C) array; channels are pooled apart.
        size: window size, an int or (rows, cols).
        stride: step between windows, an int or (rows, cols); 2 with size 3 overlaps (AlexNet).

    Returns:
        Array of x's dtype, shape ``(output_size(H, size, stride), output_size(W, ...)[, C])``.

    See notebooks/03_convolution_by_hand.ipynb.
    """
    return _pool(x, size, stride, np.max, "max_pool")


def avg_pool(
    x: np.ndarray, size: int | tuple[int, int] = 2, stride: int | tuple[int, int] = 2
) -> np.ndarray:
    """Average pooling without padding (Keras' ``AveragePooling2D(size, stride, "valid")``).

    Args:
        x: (H, W) or (H, W, C) array; channels are pooled apart.
        size: window size, an int or (rows, cols).
        stride: step between windows, an int or (rows, cols).

    Returns:
        float64 array, shape ``(output_size(H, size, stride), output_size(W, ...)[, C])``.

    See notebooks/03_convolution_by_hand.ipynb.
    """
    return _pool(np.asarray(x, dtype=np.float64), size, stride, np.mean, "avg_pool")


def receptive_field(layers: Iterable[int | Sequence[int]]) -> int:
    """How many input pixels (along one axis) one output value of a stack of layers sees.

    Each layer is described by its kernel size and stride along one axis, as
    ``(kernel_size, stride)`` or ``(kernel_size, stride, dilation)``; a bare int is a
    stride-1 kernel of that size. Pooling layers count too (``(2, 2)`` for 2x2 max pooling).
    Padding does not change the receptive field. Going up the stack,

    .. math:: r \\leftarrow r + (k - 1)\\, d \\cdot j, \\qquad j \\leftarrow j \\cdot s

    starting from :math:`r = 1` and :math:`j = 1` (:math:`j` is the distance in input pixels
    between two neighbouring outputs). Two 3x3 stride-1 convolutions see 5x5 pixels, three
    see 7x7, like one 7x7 convolution with fewer weights (the VGG argument).

    Args:
        layers: the stack, first layer first, e.g. ``[(3, 1), (3, 1), (2, 2)]``; may be empty.

    Returns:
        The receptive field in input pixels, an int >= 1.

    See notebooks/03_convolution_by_hand.ipynb.
    """
    field, jump = 1, 1
    for layer in layers:
        spec = (layer,) if np.isscalar(layer) else tuple(layer)
        if not 1 <= len(spec) <= 3 or not all(_is_int(v) and v >= 1 for v in spec):
            raise ValueError(
                "Each entry of `layers` must be a kernel size or a (kernel_size, stride[, "
                f"dilation]) tuple of positive ints. Received: {layer!r}"
            )
        k, s, d = (*spec, 1, 1)[:3]
        field += (k - 1) * d * jump
        jump *= s
    return field
