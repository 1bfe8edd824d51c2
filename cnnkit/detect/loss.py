"""The YOLO v1 loss on grid labels, in backend-neutral Keras ops."""

from __future__ import annotations

__all__ = ["yolo_loss"]


def yolo_loss(y_true, y_pred, *, lambda_coord: float = 5.0, lambda_noobj: float = 0.5):
    """The YOLO v1 loss (Redmon et al. 2016, eq. 3) on grid labels, in backend-neutral Keras ops.

    .. math::
        \\lambda_{coord} \\sum 1^{obj} [(x - \\hat x)^2 + (y - \\hat y)^2
        + (\\sqrt{w} - \\sqrt{\\hat w})^2 + (\\sqrt{h} - \\sqrt{\\hat h})^2]
        + \\sum 1^{obj} (1 - \\hat P)^2 + \\lambda_{noobj} \\sum 1^{noobj} \\hat P^2
        + \\sum 1^{obj} \\sum_c (p_c - \\hat p_c)^2

    The responsible slot is the one :func:`encode_grid` filled (cell of the centre, best
    anchor), so ``1^{obj}`` is the label's P. Square roots make an error of a few pixels
    cost more on a small box than on a large one. The objectness target is 1, as in most
    reimplementations (the paper's target is the predicted box's IoU with the truth).

    Args:
        y_true: (batch, S, S, A, 5 + C) labels from :func:`encode_grid`.
        y_pred: (batch, S, S, A, 5 + C) network outputs: P, bx, by in [0, 1], bw, bh >= 0
            (negative sizes count as 0 and get no gradient: end the network in a softplus, as
            :func:`tiny_yolo` does), class probabilities.
        lambda_coord: weight of the box terms (paper: 5).
        lambda_noobj: weight of the no-object confidence term (paper: 0.5).

    Returns:
        (batch,) float loss per image, summed over cells and anchors.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    from keras import ops

    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), y_true.dtype)
    obj = y_true[..., 0]
    noobj = 1.0 - obj
    xy = ops.sum(ops.square(y_true[..., 1:3] - y_pred[..., 1:3]), axis=-1)
    # The tiny epsilon keeps the gradient of sqrt finite at zero width.
    wh = ops.sum(
        ops.square(
            ops.sqrt(y_true[..., 3:5] + 1e-9) - ops.sqrt(ops.maximum(y_pred[..., 3:5], 0.0) + 1e-9)
        ),
        axis=-1,
    )
    conf_obj = ops.square(1.0 - y_pred[..., 0])
    conf_noobj = ops.square(y_pred[..., 0])
    cls = ops.sum(ops.square(y_true[..., 5:] - y_pred[..., 5:]), axis=-1)
    per_slot = (
        lambda_coord * obj * (xy + wh) + obj * conf_obj + lambda_noobj * noobj * conf_noobj
    ) + obj * cls
    return ops.sum(ops.reshape(per_slot, (ops.shape(per_slot)[0], -1)), axis=-1)
