"""The CIFAR-10 speed-run network: airbench94's shape (Keller Jordan 2024) in Keras layers.

A fixed 2x2 "whitening" convolution, then three blocks of (conv 3x3 => max-pool 2x2 => BN =>
GELU => conv 3x3 => BN => GELU), a 3x3 max-pool and a linear classifier scaled by 1/9. The
batch norms have no scale (only a shift), the 3x3 convolutions no bias, and each 3x3
convolution starts as the identity on its first input channels ("dirac" initialisation), so
the untrained network already passes its input through. The whitening filters are not
learned: :func:`init_whitening` sets them from the training images' 2x2 patches.

See notebooks/12_cifar10_speedrun.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from .arguments import check_input_shape, check_num_classes, classifier

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "init_whitening", "speedrun", "whitening_filters"]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel mean of the CIFAR-10 training images in [0, 1] (R, G, B)."""

CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of the CIFAR-10 training images in [0, 1] (R, G, B)."""


def _dirac(conv: layers.Conv2D) -> None:
    """Make the first ``C_in`` filters of a built conv the identity on their input channel."""
    kernel = keras.ops.convert_to_numpy(conv.kernel).copy()
    kh, kw, c_in, c_out = kernel.shape
    n = min(c_in, c_out)
    kernel[:, :, :, :n] = 0.0
    kernel[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
    conv.kernel.assign(kernel)


def speedrun(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    widths: Sequence[int] = (64, 256, 256),
    whiten_kernel: int = 2,
    bn_momentum: float = 0.6,
    logit_scale: float = 1 / 9,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
    classifier_activation: str | None = "softmax",
    name: str = "speedrun",
) -> keras.Model:
    """The speed-run network (airbench94's layout), for 32x32 RGB images in [0, 1].

    ========================================  ============  ==================
    layer                                     output size   kernel
    ========================================  ============  ==================
    INPUT, normalise (CIFAR-10 mean, std)     32x32x3
    WHITEN (fixed), GELU                      31x31x24      2x2, K=24, valid
    CONV, POOL, BN, GELU, CONV, BN, GELU      15x15x64      3x3, K=64
    CONV, POOL, BN, GELU, CONV, BN, GELU      7x7x256       3x3, K=256
    CONV, POOL, BN, GELU, CONV, BN, GELU      3x3x256       3x3, K=256
    POOL, FC (no bias) x 1/9, softmax         num_classes   max 3x3
    ========================================  ============  ==================

    With the defaults: 1,973,944 parameters (1,971,640 trainable, 2,304 batch-norm
    statistics) and 118.1M multiply-accumulates per image, like airbench94's network. The whitening
    layer has ``2 * 3 * whiten_kernel**2`` filters: the patch-covariance eigenvectors and
    their negatives (see :func:`init_whitening`); until it is initialised it holds random
    filters. The speed-run recipe (``cnnkit.train.speedrun``) never changes its kernel and
    trains its bias for the first few epochs only.

    Args:
        input_shape: (height, width, channels) of one image.
        num_classes: number of classes, >= 2.
        widths: filters of the three blocks (airbench94: 64, 256, 256).
        whiten_kernel: side of the whitening patches (2: 24 filters for RGB).
        bn_momentum: momentum of the batch-norm moving statistics (airbench: 0.6).
        logit_scale: factor on the classifier's outputs (airbench: 1/9).
        mean, std: per-channel statistics the input is normalised with.
        classifier_activation: activation of the output layer, as in keras.applications:
            ``"softmax"`` for class probabilities, None for the logits.
        name: model name; layers are ``normalize``, ``whiten``, ``whiten_gelu``,
            ``block1_conv1``, ``block1_pool``, ``block1_bn1``, ``block1_gelu1``,
            ``block1_conv2``, ``block1_bn2``, ``block1_gelu2`` ... ``pool``, ``flatten``,
            ``fc``, ``logits`` (the scaled outputs before the softmax) and ``softmax``.

    Returns:
        An uncompiled `keras.Model` with softmax outputs of shape (batch, num_classes).
    """
    shape = check_input_shape(
        input_shape,
        "speedrun",
        out_size=lambda s: ((s - whiten_kernel + 1) // 8) // 3,
        why="the whitening convolution, three 2x2 poolings and the final 3x3 pooling",
    )
    check_num_classes(num_classes)
    widths = tuple(widths)
    if len(widths) != 3 or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"`widths` must be three positive integers. Received: widths={widths!r}")
    channels = shape[2]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"`mean` and `std` must have one value per input channel ({channels}). "
            f"Received: mean={tuple(mean)!r}, std={tuple(std)!r}"
        )

    inputs = keras.Input(shape=shape)
    x = layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="normalize")(
        inputs
    )
    x = layers.Conv2D(
        2 * channels * whiten_kernel**2, whiten_kernel, padding="valid", name="whiten"
    )(x)
    x = layers.Activation("gelu", name="whiten_gelu")(x)
    for i, width in enumerate(widths, start=1):
        p = f"block{i}"
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{p}_conv1")(x)
        x = layers.MaxPooling2D(2, name=f"{p}_pool")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, scale=False, name=f"{p}_bn1")(x)
        x = layers.Activation("gelu", name=f"{p}_gelu1")(x)
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{p}_conv2")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, scale=False, name=f"{p}_bn2")(x)
        x = layers.Activation("gelu", name=f"{p}_gelu2")(x)
    x = layers.MaxPooling2D(3, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(num_classes, use_bias=False, name="fc")(x)
    x = layers.Rescaling(logit_scale, name="logits")(x)
    outputs = classifier(x, classifier_activation)
    model = keras.Model(inputs, outputs, name=name)
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D) and layer.name != "whiten":
            _dirac(layer)
    return model


def _patches(x: np.ndarray, k: int) -> np.ndarray:
    """All k x k patches of (N, H, W, C) images as (N * (H-k+1) * (W-k+1), k, k, C)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    # (N, H', W', C, k, k) -> (N, H', W', k, k, C)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k, k, x.shape[-1])


def whitening_filters(
    x: np.ndarray, *, kernel_size: int = 2, eps: float = 5e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Filters that whiten the ``kernel_size`` x ``kernel_size`` patches of images ``x``.

    The patch covariance ``S = P^T P / n`` (P: the n flattened patches, not centred) has
    eigenvectors ``v_i`` and eigenvalues ``l_i``; the filters ``v_i / sqrt(l_i + eps)`` map a
    patch to coordinates of (nearly) unit variance and no correlation. The layer gets each
    filter and its negative, so that a GELU after it keeps both signs.

    Args:
        x: (N, H, W, C) float images, already normalised as the network's input is.
        kernel_size: side of the patches.
        eps: added to the eigenvalues, so near-zero directions are not blown up.

    Returns:
        (kernel, eigenvalues): a (k, k, C, 2 * k * k * C) float32 Conv2D kernel (filters in
        order of decreasing eigenvalue, then their negatives) and the (k * k * C,) eigenvalues,
        largest first.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"`x` must be (N, H, W, C) images. Received: x with shape {x.shape}")
    k, c = kernel_size, x.shape[-1]
    covariance = np.zeros((k * k * c, k * k * c))
    count = 0
    for start in range(0, len(x), 256):  # 256 images at a time: a few MB of patches
        flat = _patches(x[start : start + 256], k).reshape(-1, k * k * c).astype(np.float64)
        covariance += flat.T @ flat
        count += len(flat)
    covariance /= count
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    filters = eigenvectors / np.sqrt(eigenvalues + eps)
    kernel = np.concatenate([filters, -filters], axis=1).reshape(k, k, c, 2 * k * k * c)
    return kernel.astype(np.float32), eigenvalues.astype(np.float32)


def init_whitening(
    model: keras.Model, x: np.ndarray, *, n: int = 5000, eps: float = 5e-4
) -> np.ndarray:
    """Set the ``whiten`` layer's kernel from the patches of (up to ``n``) images ``x``.

    Args:
        model: a :func:`speedrun` network.
        x: (N, H, W, C) uint8 images in [0, 255] or floats in [0, 1]; the first ``n`` are used,
            normalised by the model's own ``normalize`` layer.
        n: how many images to take the patches from (airbench: 5,000).
        eps: see :func:`whitening_filters`.

    Returns:
        The (k * k * C,) patch-covariance eigenvalues, largest first.
    """
    layer = model.get_layer("whiten")
    x = np.asarray(x[:n])
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    normalized = keras.ops.convert_to_numpy(model.get_layer("normalize")(x))
    kernel, eigenvalues = whitening_filters(normalized, kernel_size=layer.kernel_size[0], eps=eps)
    layer.kernel.assign(kernel)
    layer.bias.assign(np.zeros(layer.bias.shape, np.float32))
    return eigenvalues
