"""cnnkit.conv against Keras layers (the oracle) and the course's worked examples."""

import keras
import numpy as np
import pytest

from cnnkit import conv

RNG = np.random.default_rng(0)


def _keras_conv(image, kernel, *, stride=1, padding=0, dilation=1):
    """Keras' Conv2D on one (H, W, C) image with a (kh, kw, C, F) kernel, no bias."""
    x = image[None].astype("float32")
    if not isinstance(padding, str):
        x = keras.layers.ZeroPadding2D(padding)(x)
        padding = "valid"
    layer = keras.layers.Conv2D(
        kernel.shape[-1],
        kernel.shape[:2],
        strides=stride,
        padding=padding,
        dilation_rate=dilation,
        use_bias=False,
    )
    layer.build(x.shape)
    layer.set_weights([kernel.astype("float32")])
    return keras.ops.convert_to_numpy(layer(x))[0]


@pytest.mark.parametrize(
    ("size", "kernel_size", "stride", "padding", "dilation"),
    [
        ((7, 7), (3, 3), 1, 0, 1),
        ((7, 7), (3, 3), 2, 0, 1),
        ((7, 7), (3, 3), 1, 1, 1),
        ((9, 8), (3, 3), 3, 2, 1),
        ((10, 11), (5, 3), (2, 1), (2, 1), 1),
        ((9, 9), (3, 3), 1, 0, 2),
        ((12, 10), (3, 2), 1, 1, (2, 3)),
        ((8, 8), (4, 4), 2, "same", 1),
        ((7, 9), (3, 3), 1, "same", 2),
        ((7, 9), (2, 3), 3, "same", 1),
        ((6, 6), (3, 3), 1, "valid", 1),
    ],
)
def test_conv2d_matches_keras_conv2d(size, kernel_size, stride, padding, dilation):
    image = RNG.normal(size=(*size, 3))
    kernel = RNG.normal(size=(*kernel_size, 3, 4))
    ours = conv.conv2d(image, kernel, stride=stride, padding=padding, dilation=dilation)
    theirs = _keras_conv(image, kernel, stride=stride, padding=padding, dilation=dilation)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_conv2d_grey_image_and_single_filter_shapes():
    image = RNG.normal(size=(8, 8))
    kernel = RNG.normal(size=(3, 3))
    ours = conv.conv2d(image, kernel, padding=1)
    theirs = _keras_conv(image[..., None], kernel[..., None, None], padding=1)[..., 0]
    assert ours.shape == (8, 8)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)

    colour = RNG.normal(size=(8, 8, 3))
    one_filter = RNG.normal(size=(3, 3, 3))
    summed = conv.conv2d(colour, one_filter, stride=2)
    expected = _keras_conv(colour, one_filter[..., None], stride=2)[..., 0]
    assert summed.shape == (3, 3)
    np.testing.assert_allclose(summed, expected, rtol=1e-4, atol=1e-4)


def test_conv2d_two_d_kernel_on_colour_image_is_depthwise():
    image = RNG.uniform(0, 255, size=(9, 7, 3)).astype("uint8")
    kernel = RNG.normal(size=(3, 3))
    layer = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)
    layer.build((1, 9, 7, 3))
    layer.set_weights([np.repeat(kernel[:, :, None, None], 3, axis=2).astype("float32")])
    theirs = keras.ops.convert_to_numpy(layer(image[None].astype("float32")))[0]
    ours = conv.conv2d(image, kernel, stride=2, padding="same")
    assert ours.shape == theirs.shape == (5, 4, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)


def test_conv2d_stride_with_dilation_equals_a_zero_filled_kernel():
    # Keras refuses stride > 1 together with dilation > 1; a dilated kernel is the plain kernel
    # with (d - 1) zeros between taps, which gives an independent check of the combination.
    image = RNG.normal(size=(11, 13))
    kernel = RNG.normal(size=(3, 3))
    spread = np.zeros((5, 5))
    spread[::2, ::2] = kernel
    ours = conv.conv2d(image, kernel, stride=2, padding=1, dilation=2)
    expected = conv.conv2d(image, spread, stride=2, padding=1)
    theirs = _keras_conv(image[..., None], spread[..., None, None], stride=2, padding=1)
    np.testing.assert_allclose(ours, expected)
    np.testing.assert_allclose(ours, theirs[..., 0], rtol=1e-4, atol=1e-4)


def test_conv2d_worked_example_by_hand():
    image = np.array(
        [
            [1, 0, 0, 0, 0, 1],
            [0, 1, 0, 0, 1, 0],
            [0, 0, 1, 1, 0, 0],
            [1, 0, 0, 0, 1, 0],
            [0, 1, 0, 0, 0, 1],
            [0, 0, 1, 0, 0, 1],
        ]
    )
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]]) / 9
    out = conv.conv2d(image, kernel)
    assert out.shape == (4, 4)
    # Top-left value: taps on the corners and centre of image[0:3, 0:3] = 1 + 0 + 0 + 1 + 1.
    assert out[0, 0] == pytest.approx(3 / 9)
    for i in range(4):
        for j in range(4):
            assert out[i, j] == pytest.approx(np.sum(image[i : i + 3, j : j + 3] * kernel))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((7, 3), 5),
        ((7, 3, 2), 3),
        ((7, 3, 1, 1), 7),
        ((7, 3, 3), 2),
        ((32, 5), 28),
        ((224, 7, 1, 3), 224),
        ((227, 11, 4), 55),
        ((7, 3, 1, 0, 2), 3),
        ((7, 3, 2, "same"), 4),
        ((7, 3, 1, "valid"), 5),
    ],
)
def test_output_size_course_examples(args, expected):
    assert conv.output_size(*args) == expected


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_output_size_padding_half_the_filter_keeps_the_size(k):
    assert conv.output_size(13, k, padding=(k - 1) // 2) == 13


def test_output_size_agrees_with_conv2d_and_keras():
    image = RNG.normal(size=(15, 15, 1))
    kernel = RNG.normal(size=(4, 4, 1, 1))
    for stride in (1, 2, 3):
        for padding in (0, 1, 2):
            for dilation in (1, 2):
                n = conv.output_size(15, 4, stride, padding, dilation)
                out = conv.conv2d(image, kernel, stride, padding, dilation)
                assert out.shape[:2] == (n, n)
                if stride == 1 or dilation == 1:
                    keras_out = _keras_conv(
                        image, kernel, stride=stride, padding=padding, dilation=dilation
                    )
                    assert keras_out.shape[:2] == (n, n)


def test_output_size_strict_refuses_a_stride_that_does_not_fit():
    assert conv.output_size(7, 3, 3) == 2
    with pytest.raises(ValueError, match=r"`stride` 3 does not fit.*Received: n_in=7"):
        conv.output_size(7, 3, 3, strict=True)
    assert conv.output_size(7, 3, 2, strict=True) == 3


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_in": 0, "kernel_size": 3}, r"`n_in` must be a positive int. Received: n_in=0"),
        ({"n_in": 5, "kernel_size": 3, "stride": 0}, r"`stride` must be a positive int"),
        ({"n_in": 5, "kernel_size": 3, "padding": "full"}, r"`padding` must be .*'full'"),
        ({"n_in": 3, "kernel_size": 5}, r"does not fit in the padded input \(3 px\)"),
        ({"n_in": 5, "kernel_size": 3, "dilation": 3}, r"span 7 px with dilation 3"),
    ],
)
def test_output_size_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        conv.output_size(**kwargs)


@pytest.mark.parametrize(
    ("image_shape", "kernel_shape", "kwargs", "pattern"),
    [
        ((4, 4, 4, 4), (3, 3), {}, r"`image` must be a non-empty .*shape \(4, 4, 4, 4\)"),
        ((4, 4), (3,), {}, r"`kernel` must be a non-empty .*shape \(3,\)"),
        ((4, 4, 3), (3, 3, 2, 1), {}, r"as many input channels as `image` \(3\)"),
        ((4, 4), (5, 5), {}, r"span 5 px along the height\) is larger than the padded image"),
        ((4, 4), (3, 3), {"stride": 0}, r"`stride` must be a positive int.*stride=0"),
        ((4, 4), (3, 3), {"padding": -1}, r"`padding` must be a non-negative int"),
        ((4, 4), (3, 3), {"dilation": (1, 2, 3)}, r"`dilation` must be .*\(1, 2, 3\)"),
    ],
)
def test_conv2d_errors(image_shape, kernel_shape, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        conv.conv2d(np.ones(image_shape), np.ones(kernel_shape), **kwargs)


def test_max_pool_course_examples():
    first = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    second = np.array([[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]])
    np.testing.assert_array_equal(conv.max_pool(first), [[6, 8], [3, 4]])
    np.testing.assert_array_equal(conv.max_pool(second), [[20, 30], [112, 37]])
    np.testing.assert_allclose(conv.avg_pool(second), [[13, 8], [79, 19.5]])


@pytest.mark.parametrize(
    ("size", "stride", "shape"),
    [(2, 2, (8, 8, 3)), (3, 2, (13, 13, 2)), ((2, 3), (1, 2), (7, 9, 4)), (2, 1, (5, 6, 1))],
)
def test_pooling_matches_keras(size, stride, shape):
    x = RNG.normal(size=shape).astype("float32")
    for ours, layer in (
        (conv.max_pool, keras.layers.MaxPooling2D(size, stride)),
        (conv.avg_pool, keras.layers.AveragePooling2D(size, stride)),
    ):
        theirs = keras.ops.convert_to_numpy(layer(x[None]))[0]
        got = ours(x, size, stride)
        assert got.shape == theirs.shape
        np.testing.assert_allclose(got, theirs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours(x[..., 0], size, stride), theirs[..., 0], rtol=1e-5)


def test_pooling_errors():
    with pytest.raises(ValueError, match=r"`size` \(3, 3\) is larger than the input \(2, 2\)"):
        conv.max_pool(np.ones((2, 2)), size=3)
    with pytest.raises(ValueError, match=r"`x` must be a non-empty .* for avg_pool"):
        conv.avg_pool(np.ones(4))
    with pytest.raises(ValueError, match=r"`stride` must be a positive int.*stride=0"):
        conv.max_pool(np.ones((4, 4)), stride=0)


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([], 1),
        ([(3, 1)], 3),
        ([(3, 1), (3, 1)], 5),
        ([(3, 1)] * 3, 7),
        ([3, 3, 3], 7),
        ([(3, 1), (2, 2), (3, 1)], 8),
        ([(5, 1), (2, 2), (5, 1), (2, 2)], 16),
        ([(3, 1, 2)], 5),
        ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], 15),
        ([(11, 4), (3, 2)], 19),
    ],
)
def test_receptive_field_known_stacks(layers, expected):
    assert conv.receptive_field(layers) == expected


def test_receptive_field_matches_the_input_pixels_that_move_an_output():
    # Oracle: the gradient of one output of a Keras stack is non-zero exactly on its field.
    import tensorflow as tf

    stack = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(1, 3, kernel_initializer="ones"),
            keras.layers.AveragePooling2D(2),
            keras.layers.Conv2D(1, 3, dilation_rate=2, kernel_initializer="ones"),
        ]
    )
    x = tf.Variable(tf.ones((1, 32, 32, 1)))
    with tf.GradientTape() as tape:
        out = stack(x)[0, 0, 0, 0]
    seen = np.argwhere(tape.gradient(out, x).numpy()[0, ..., 0] != 0)
    width = seen[:, 1].max() - seen[:, 1].min() + 1
    assert width == conv.receptive_field([(3, 1), (2, 2), (3, 1, 2)]) == 12


def test_receptive_field_errors():
    with pytest.raises(ValueError, match=r"Each entry of `layers` .* Received: \(3, 0\)"):
        conv.receptive_field([(3, 0)])
    with pytest.raises(ValueError, match=r"Received: \(3, 1, 1, 1\)"):
        conv.receptive_field([(3, 1, 1, 1)])
