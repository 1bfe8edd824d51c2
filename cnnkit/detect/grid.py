"""Grid labels: boxes to the (S, S, A, 5 + C) grid a YOLO-style network outputs, and back.

``detect`` runs such a network and post-processes its grids (decode, then NMS per class).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..preprocessing import predict
from .boxes import as_boxes, nms_per_class, per_box

__all__ = [
    "Detections",
    "as_anchors",
    "count_collisions",
    "decode_grid",
    "detect",
    "encode_grid",
]


class Detections(NamedTuple):
    """One image's detections, by falling score (as torchvision's per-image result dicts).

    Attributes:
        boxes: (k, 4) float32 boxes as (x_min, y_min, x_max, y_max) in [0, 1].
        labels: (k,) int64 class ids.
        scores: (k,) float32 class confidences.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def as_anchors(anchors) -> np.ndarray | None:
    if anchors is None:
        return None
    arr = np.asarray(anchors, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1 or np.any(arr <= 0):
        raise ValueError(
            "`anchors` must be (A, 2) positive (width, height) pairs in image units. "
            f"Received: anchors={anchors!r}"
        )
    return arr


def _assign(boxes: np.ndarray, grid_size: int, anchors: np.ndarray | None):
    """Cell row, column and anchor of each box: the cell holding its centre, the best anchor."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    col = np.minimum(np.floor(cx * grid_size), grid_size - 1).astype(int)
    row = np.minimum(np.floor(cy * grid_size), grid_size - 1).astype(int)
    if anchors is None:
        return row, col, np.zeros(len(boxes), dtype=int)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    # Shape IoU: both boxes centred on the same point, so only width and height matter.
    inter = np.minimum(w[:, None], anchors[None, :, 0]) * np.minimum(
        h[:, None], anchors[None, :, 1]
    )
    union = (w * h)[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter
    return row, col, np.argmax(inter / union, axis=1)


def _check_grid_args(boxes, labels, grid_size: int, num_classes: int):
    boxes = as_boxes(boxes, "boxes")
    labels = per_box(labels, boxes, "labels", "class id", np.int64)
    if int(grid_size) != grid_size or grid_size < 1:
        raise ValueError(f"`grid_size` must be a positive integer. Received: {grid_size!r}")
    if np.any((labels < 0) | (labels >= num_classes)):
        raise ValueError(
            f"`labels` must be class ids in [0, {num_classes}). Received: labels={labels.tolist()}"
        )
    bad = (boxes[:, 0] >= boxes[:, 2]) | (boxes[:, 1] >= boxes[:, 3])
    bad |= (boxes < 0).any(axis=1) | (boxes > 1).any(axis=1)
    if np.any(bad):
        raise ValueError(
            "`boxes` must be (x_min, y_min, x_max, y_max) in [0, 1] with x_min < x_max and "
            f"y_min < y_max. Received: {boxes[bad][0].tolist()}"
        )
    return boxes, labels


def count_collisions(boxes, *, grid_size: int = 3, anchors=None) -> int:
    """How many boxes lose their slot because an earlier box took the same cell and anchor.

    Args:
        boxes: (N, 4) boxes as (x_min, y_min, x_max, y_max) in [0, 1].
        grid_size: S, the grid has S x S cells.
        anchors: optional (A, 2) anchor (width, height) pairs in image units.

    Returns:
        The number of boxes :func:`encode_grid` cannot store (0 when every box has its own slot).

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    boxes = as_boxes(boxes, "boxes")
    if len(boxes) == 0:
        return 0
    row, col, anchor = _assign(boxes, grid_size, as_anchors(anchors))
    slots = np.stack([row, col, anchor], axis=1)
    return int(len(slots) - len(np.unique(slots, axis=0)))


def encode_grid(boxes, labels, *, grid_size: int = 3, num_classes: int = 3, anchors=None):
    """Turn boxes into the grid label a YOLO-style network learns to output.

    Each box goes to the cell that holds its centre and, with anchors, to the anchor whose
    shape overlaps it best (IoU of the two shapes centred on one point). The slot gets
    ``[P=1, bx, by, bw, bh, one-hot class]``; every other slot stays all zeros (P=0).

    When two boxes want the same slot (a collision), the first box keeps it and the later
    one is dropped from the label: a grid with one anchor can hold one object per cell.
    :func:`count_collisions` counts them; finer grids and more anchors make them rarer.

    Args:
        boxes: (N, 4) boxes as (x_min, y_min, x_max, y_max) in [0, 1].
        labels: (N,) integer class ids in [0, num_classes).
        grid_size: S, the grid has S x S cells.
        num_classes: C, the number of classes.
        anchors: optional (A, 2) anchor (width, height) pairs in image units; one anchor
            (A = 1) when None.

    Returns:
        float32 array of shape (S, S, A, 5 + C), indexed [row, column, anchor].

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    boxes, labels = _check_grid_args(boxes, labels, grid_size, num_classes)
    anchors = as_anchors(anchors)
    num_anchors = 1 if anchors is None else len(anchors)
    y = np.zeros((grid_size, grid_size, num_anchors, 5 + num_classes), dtype=np.float32)
    if len(boxes) == 0:
        return y
    row, col, anchor = _assign(boxes, grid_size, anchors)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 * grid_size
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 * grid_size
    for k in range(len(boxes)):
        slot = y[row[k], col[k], anchor[k]]
        if slot[0] == 1:
            continue
        slot[0] = 1.0
        slot[1] = cx[k] - col[k]
        slot[2] = cy[k] - row[k]
        slot[3] = (boxes[k, 2] - boxes[k, 0]) * grid_size
        slot[4] = (boxes[k, 3] - boxes[k, 1]) * grid_size
        slot[5 + labels[k]] = 1.0
    return y


def decode_grid(y, *, score_threshold: float = 0.5):
    """Read boxes back from a grid label or a network's grid output.

    A slot's score is its class confidence ``P * max(class probabilities)`` (the YOLO
    paper's ``Pr(class) * confidence``); slots scoring at or below ``score_threshold`` are
    dropped. No NMS here: see :func:`nms_per_class`.

    Args:
        y: (S, S, A, 5 + C) grid, as made by :func:`encode_grid` or :func:`tiny_yolo`.
        score_threshold: minimum score to keep a slot.

    Returns:
        ``(boxes, labels, scores)``: (K, 4) float32 boxes in [0, 1] (clipped),
        (K,) int64 class ids and (K,) float32 scores, in row, column, anchor order.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 4 or y.shape[0] != y.shape[1] or y.shape[-1] < 6:
        raise ValueError(
            f"`y` must have shape (S, S, A, 5 + C) with C >= 1. Received: y.shape={y.shape}"
        )
    grid_size = y.shape[0]
    class_probs = y[..., 5:]
    scores = y[..., 0] * class_probs.max(axis=-1)
    row, col, anchor = np.nonzero(scores > score_threshold)
    cells = y[row, col, anchor]
    cx = (col + cells[:, 1]) / grid_size
    cy = (row + cells[:, 2]) / grid_size
    w = cells[:, 3] / grid_size
    h = cells[:, 4] / grid_size
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return (
        np.clip(boxes, 0.0, 1.0).astype(np.float32),
        class_probs[row, col, anchor].argmax(axis=-1).astype(np.int64),
        scores[row, col, anchor].astype(np.float32),
    )


def detect(
    model, images, *, score_threshold: float = 0.3, iou_threshold: float = 0.5, apply_nms=True
) -> list[Detections]:
    """Run a grid detector and post-process: decode each grid, then NMS per class.

    Args:
        model: a model mapping (batch, H, W, 3) images to (batch, S, S, A, 5 + C) grids.
        images: (N, H, W, 3) uint8 images (scaled by ``cnnkit.preprocessing.prepare``) or
            floats in [0, 1].
        score_threshold: minimum class confidence kept (see :func:`decode_grid`).
        iou_threshold: NMS threshold (see :func:`nms_per_class`).
        apply_nms: False returns every box above the threshold (before NMS).

    Returns:
        One :class:`Detections` ``(boxes, labels, scores)`` per image, by falling score,
        ready for :func:`mean_average_precision`.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    found = []
    for grid in predict(model, images):
        boxes, labels, scores = decode_grid(grid, score_threshold=score_threshold)
        if apply_nms:
            keep = nms_per_class(boxes, scores, labels, iou_threshold=iou_threshold)
        else:
            keep = np.argsort(-scores, kind="stable")
        found.append(Detections(boxes[keep], labels[keep], scores[keep]))
    return found
