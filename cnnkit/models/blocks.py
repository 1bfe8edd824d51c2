"""Building blocks of the course's networks: small functions that take a tensor and return one.

Each block names its layers from ``name`` (``f"{name}_conv"``, ``f"{name}_bn"`` ...), as
``keras.applications`` does, so a feature-map or Grad-CAM cell finds ``stage2_block1_conv1``
by name. Options the slides show (``reg``, ``bn_eps``, ``bn_momentum``, ``activation``) come
after ``*``. Only ``keras.layers`` and ``keras.ops`` are used, so every block runs on any
Keras 3 backend.

See notebooks/07_googlenet.ipynb and notebooks/08_resnet.ipynb.
"""

from __future__ import annotations

from keras import layers

from .arguments import l2

__all__ = [
    "conv_module",
    "depthwise_separable",
    "downsample_module",
    "inception_module",
    "residual_module",
]


def conv_module(
    x,
    filters: int,
    kernel_size: int | tuple[int, int],
    *,
    strides: int | tuple[int, int] = 1,
    padding: str = "same",
    batch_norm: bool = True,
    activation: str = "relu",
    reg: float | None = None,
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    name: str = "conv",
):
    """CONV => BN => ACT, the conv module of the slides' MiniGoogLeNet.

    Args:
        x: input tensor of shape (batch, height, width, channels).
        filters: number of output channels.
        kernel_size: kernel height and width (int or pair).
        strides: stride (int or pair).
        padding: ``"same"`` or ``"valid"``.
        batch_norm: insert batch normalisation between the convolution and the activation;
            without it the convolution keeps its bias (as in the GoogLeNet paper).
        activation: activation name, e.g. ``"relu"``.
        reg: L2 weight decay on the kernel, or None.
        bn_eps, bn_momentum: batch-normalisation epsilon and momentum.
        name: prefix of the layer names (``{name}_conv``, ``{name}_bn``, ``{name}_{activation}``).

    Returns:
        Tensor of shape (batch, height', width', filters).

    See notebooks/07_googlenet.ipynb.
    """
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=not batch_norm,
        kernel_regularizer=l2(reg),
        name=f"{name}_conv",
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=bn_eps, momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.Activation(activation, name=f"{name}_{activation}")(x)


def inception_module(
    x,
    num1x1: int,
    num3x3: int,
    *,
    num3x3_reduce: int | None = None,
    num5x5_reduce: int | None = None,
    num5x5: int | None = None,
    pool_proj: int | None = None,
    batch_norm: bool = True,
    activation: str = "relu",
    reg: float | None = None,
    bn_momentum: float = 0.99,
    name: str = "inception",
):
    """Inception module: parallel branches concatenated on the channel axis ("DepthConcat").

    With only ``num1x1`` and ``num3x3`` it is the two-branch module of the slides'
    MiniGoogLeNet (a 1x1 conv module and a 3x3 conv module). With ``num3x3_reduce``,
    ``num5x5_reduce``, ``num5x5`` and ``pool_proj`` it is the four-branch module of the
    GoogLeNet paper (Szegedy et al. 2014, Table 1):

    1. 1x1 conv with ``num1x1`` filters;
    2. 1x1 conv to ``num3x3_reduce`` channels, then 3x3 conv with ``num3x3`` filters;
    3. 1x1 conv to ``num5x5_reduce`` channels, then 5x5 conv with ``num5x5`` filters;
    4. 3x3 max-pool (stride 1), then 1x1 projection with ``pool_proj`` filters.

    Every convolution uses "same" padding, so the branches keep the input's height and width.

    Args:
        x: input tensor of shape (batch, height, width, channels).
        num1x1, num3x3: filters of the 1x1 and the 3x3 branch.
        num3x3_reduce, num5x5_reduce, num5x5, pool_proj: the paper's extra filter numbers;
            give all four or none.
        batch_norm, activation, reg, bn_momentum: passed on to every `conv_module`.
        name: prefix of the layer names (``{name}_1x1``, ``{name}_3x3_reduce``,
            ``{name}_3x3``, ``{name}_5x5_reduce``, ``{name}_5x5``, ``{name}_pool``,
            ``{name}_pool_proj``, ``{name}_concat``).

    Returns:
        Tensor of shape (batch, height, width, sum of the branches' filters).

    See notebooks/07_googlenet.ipynb.
    """
    extra = {
        "num3x3_reduce": num3x3_reduce,
        "num5x5_reduce": num5x5_reduce,
        "num5x5": num5x5,
        "pool_proj": pool_proj,
    }
    given = [key for key, value in extra.items() if value is not None]
    if given and len(given) != len(extra):
        missing = [key for key in extra if key not in given]
        raise ValueError(
            "`inception_module` takes either none or all four of num3x3_reduce, "
            f"num5x5_reduce, num5x5 and pool_proj; missing: {', '.join(missing)}. "
            f"Received: {', '.join(f'{key}={extra[key]}' for key in given)}"
        )
    options = {
        "batch_norm": batch_norm,
        "activation": activation,
        "reg": reg,
        "bn_momentum": bn_momentum,
    }
    branch1 = conv_module(x, num1x1, 1, name=f"{name}_1x1", **options)
    if not given:
        branch3 = conv_module(x, num3x3, 3, name=f"{name}_3x3", **options)
        return layers.Concatenate(axis=-1, name=f"{name}_concat")([branch1, branch3])
    branch3 = conv_module(x, num3x3_reduce, 1, name=f"{name}_3x3_reduce", **options)
    branch3 = conv_module(branch3, num3x3, 3, name=f"{name}_3x3", **options)
    branch5 = conv_module(x, num5x5_reduce, 1, name=f"{name}_5x5_reduce", **options)
    branch5 = conv_module(branch5, num5x5, 5, name=f"{name}_5x5", **options)
    pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    pool = conv_module(pool, pool_proj, 1, name=f"{name}_pool_proj", **options)
    return layers.Concatenate(axis=-1, name=f"{name}_concat")([branch1, branch3, branch5, pool])


def downsample_module(
    x,
    filters: int,
    *,
    batch_norm: bool = True,
    activation: str = "relu",
    reg: float | None = None,
    bn_momentum: float = 0.99,
    name: str = "downsample",
):
    """MiniGoogLeNet's downsample module: a 3x3 stride-2 conv next to a 3x3 stride-2 max-pool.

    Both branches use "valid" padding, so a height H becomes (H - 3) // 2 + 1
    (32 -> 15 -> 7), and the output has ``filters + channels`` channels.

    Args:
        x: input tensor of shape (batch, height, width, channels), height and width >= 3.
        filters: filters of the convolution branch.
        batch_norm, activation, reg, bn_momentum: passed on to `conv_module`.
        name: prefix of the layer names (``{name}_3x3``, ``{name}_pool``, ``{name}_concat``).

    Returns:
        Tensor of shape (batch, (height - 3) // 2 + 1, (width - 3) // 2 + 1, filters + channels).

    See notebooks/07_googlenet.ipynb.
    """
    height, width = x.shape[1], x.shape[2]
    if (height is not None and height < 3) or (width is not None and width < 3):
        raise ValueError(
            "`x` is too small for `downsample_module`: its 3x3 valid conv and pool need at "
            f"least 3x3. Received: x.shape={tuple(x.shape)}"
        )
    conv = conv_module(
        x,
        filters,
        3,
        strides=2,
        padding="valid",
        batch_norm=batch_norm,
        activation=activation,
        reg=reg,
        bn_momentum=bn_momentum,
        name=f"{name}_3x3",
    )
    pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(axis=-1, name=f"{name}_concat")([conv, pool])


def residual_module(
    x,
    filters: int,
    *,
    strides: int = 1,
    reduce: bool = False,
    reg: float | None = 1e-4,
    bn_eps: float = 2e-5,
    bn_momentum: float = 0.9,
    name: str = "residual",
):
    """Pre-activation bottleneck residual module of the slides (He et al. 2016, identity mappings).

    Three times BN => ReLU => CONV: 1x1 with ``filters // 4``, 3x3 with ``filters // 4``
    carrying the stride, 1x1 with ``filters``; convolutions have no bias and an L2 penalty.
    The shortcut is the input itself, or, when ``reduce`` is True, a 1x1 conv with
    ``filters`` kernels and the same stride applied to the first activation. The output is
    their sum: y = F(x) + x.

    Args:
        x: input tensor of shape (batch, height, width, channels).
        filters: output channels K (the bottleneck convolutions use K // 4).
        strides: stride of the 3x3 conv and of the shortcut conv; must divide height and width.
        reduce: use a 1x1 conv shortcut; needed when ``strides > 1`` or when
            ``channels != filters``.
        reg: L2 weight decay on every kernel, or None.
        bn_eps, bn_momentum: batch-normalisation epsilon and momentum.
        name: prefix of the layer names (``{name}_bn1``, ``{name}_relu1``, ``{name}_conv1``,
            ... ``{name}_conv3``, ``{name}_shortcut``, ``{name}_add``).

    Returns:
        Tensor of shape (batch, height / strides, width / strides, filters).

    See notebooks/08_resnet.ipynb.
    """
    if filters < 4:
        raise ValueError(
            "`filters` must be at least 4: the bottleneck convolutions use filters // 4. "
            f"Received: filters={filters}"
        )
    height, width, channels = x.shape[1], x.shape[2], x.shape[-1]
    for size in (height, width):
        if size is not None and size % strides:
            raise ValueError(
                f"`strides` must divide the input's height and width so the shortcut and the "
                f"residual branch keep the same size; use an input whose sides are multiples "
                f"of {strides}, or strides=1. Received: strides={strides}, x.shape={tuple(x.shape)}"
            )
    if not reduce and (strides != 1 or channels != filters):
        raise ValueError(
            "`reduce` must be True when the module changes the size: an identity shortcut "
            "needs strides=1 and as many input channels as filters. "
            f"Received: reduce=False, strides={strides}, filters={filters}, "
            f"input channels={channels}"
        )
    bn = {"epsilon": bn_eps, "momentum": bn_momentum}
    conv = {"use_bias": False, "kernel_regularizer": l2(reg)}
    act1 = layers.Activation("relu", name=f"{name}_relu1")(
        layers.BatchNormalization(name=f"{name}_bn1", **bn)(x)
    )
    y = layers.Conv2D(filters // 4, 1, name=f"{name}_conv1", **conv)(act1)
    y = layers.BatchNormalization(name=f"{name}_bn2", **bn)(y)
    y = layers.Activation("relu", name=f"{name}_relu2")(y)
    y = layers.Conv2D(
        filters // 4, 3, strides=strides, padding="same", name=f"{name}_conv2", **conv
    )(y)
    y = layers.BatchNormalization(name=f"{name}_bn3", **bn)(y)
    y = layers.Activation("relu", name=f"{name}_relu3")(y)
    y = layers.Conv2D(filters, 1, name=f"{name}_conv3", **conv)(y)
    shortcut = x
    if reduce:
        shortcut = layers.Conv2D(filters, 1, strides=strides, name=f"{name}_shortcut", **conv)(act1)
    return layers.Add(name=f"{name}_add")([y, shortcut])


def depthwise_separable(
    x,
    pointwise_filters: int,
    *,
    strides: int = 1,
    separable: bool = True,
    activation: str = "relu6",
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    name: str = "dw",
):
    """MobileNet's depthwise separable convolution: 3x3 depthwise, BN, ACT, 1x1 pointwise, BN, ACT.

    A full 3x3 conv from M to N channels on an H'xW' output costs 9*M*N*H'*W' multiply-adds;
    the depthwise (9*M*H'*W') plus pointwise (M*N*H'*W') pair costs 1/N + 1/9 of that.
    With ``separable=False`` the block is the full 3x3 conv (the paper's "Conv MobileNet").

    Args:
        x: input tensor of shape (batch, height, width, channels).
        pointwise_filters: output channels N.
        strides: stride of the 3x3 (depthwise or full) convolution.
        separable: False replaces the pair by one full 3x3 convolution.
        activation: activation name; Keras' MobileNet uses ``"relu6"``.
        bn_eps, bn_momentum: batch-normalisation epsilon and momentum.
        name: prefix of the layer names (``{name}_dw``, ``{name}_dw_bn``, ``{name}_dw_relu``,
            ``{name}_pw``, ``{name}_pw_bn``, ``{name}_pw_relu``; ``{name}_conv``,
            ``{name}_bn``, ``{name}_relu`` when not separable).

    Returns:
        Tensor of shape (batch, ceil(height / strides), ceil(width / strides), pointwise_filters).

    See notebooks/08_resnet.ipynb.
    """
    bn = {"epsilon": bn_eps, "momentum": bn_momentum}
    if not separable:
        x = layers.Conv2D(
            pointwise_filters,
            3,
            strides=strides,
            padding="same",
            use_bias=False,
            name=f"{name}_conv",
        )(x)
        x = layers.BatchNormalization(name=f"{name}_bn", **bn)(x)
        return layers.Activation(activation, name=f"{name}_relu")(x)
    x = layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn", **bn)(x)
    x = layers.Activation(activation, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(pointwise_filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(name=f"{name}_pw_bn", **bn)(x)
    return layers.Activation(activation, name=f"{name}_pw_relu")(x)
