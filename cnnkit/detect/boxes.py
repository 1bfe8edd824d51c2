"""Boxes: IoU, non-maximum suppression and sliding-window pyramids, by hand in NumPy.

Boxes are ``(x_min, y_min, x_max, y_max)``; IoU and NMS are tested equal to ``tf.image``'s.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_boxes", "iou", "nms", "nms_per_class", "per_box", "pyramid_windows"]


def as_boxes(boxes, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(
            f"`{name}` must have shape (N, 4): (x_min, y_min, x_max, y_max) per box. "
            f"Received: {name}.shape={arr.shape}"
        )
    if not np.isfinite(arr).all():
        row = int(np.argmax(~np.isfinite(arr).all(axis=1)))
        raise ValueError(
            f"`{name}` must be finite numbers (no NaN or inf). Received: {name}[{row}]="
            f"{arr[row].tolist()}"
        )
    inverted = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if inverted.any():
        row = int(np.argmax(inverted))
        raise ValueError(
            f"`{name}` must be (x_min, y_min, x_max, y_max) with x_max >= x_min and "
            f"y_max >= y_min; swap the corners of inverted boxes. Received: {name}[{row}]="
            f"{arr[row].tolist()}"
        )
    return arr


def per_box(values, boxes: np.ndarray, name: str, what: str, dtype) -> np.ndarray:
    """``values`` as a flat array of ``dtype`` holding one ``what`` per row of ``boxes``."""
    values = np.asarray(values, dtype=dtype).reshape(-1)
    if values.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"`{name}` must hold one {what} per box. "
            f"Received: boxes.shape={boxes.shape}, {name}.shape={values.shape}"
        )
    return values


def iou(a, b) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    .. math:: \\mathrm{IoU}(A, B) = |A \\cap B| / |A \\cup B|

    Args:
        a: (N, 4) boxes as (x_min, y_min, x_max, y_max), any consistent unit.
        b: (M, 4) boxes in the same unit.

    Returns:
        (N, M) float64 matrix in [0, 1]; pairs where either box has no area score 0,
        as in ``tf.image.non_max_suppression``.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    a = as_boxes(a, "a")
    b = as_boxes(b, "b")
    # Broadcast (N, 1) against (1, M): one vectorised pass, no Python loop.
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    valid = (area_a[:, None] > 0) & (area_b[None, :] > 0)
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=valid)
    return out


def nms(boxes, scores, *, iou_threshold: float = 0.5, score_threshold: float = 0.0) -> np.ndarray:
    """Greedy non-max suppression: keep the most confident box, drop its overlaps, repeat.

    1. drop boxes whose score is not above ``score_threshold``;
    2. take the highest-scoring box left and keep it;
    3. remove every remaining box whose IoU with it is above ``iou_threshold``; go to 2.

    Same result as ``tf.image.non_max_suppression`` (which takes (y1, x1, y2, x2) boxes).

    Args:
        boxes: (N, 4) boxes as (x_min, y_min, x_max, y_max).
        scores: (N,) confidences.
        iou_threshold: boxes overlapping a kept box with IoU above this are removed.
        score_threshold: boxes scoring at or below this are removed first.

    Returns:
        int64 indices into ``boxes`` of the kept boxes, highest score first.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    boxes = as_boxes(boxes, "boxes")
    scores = per_box(scores, boxes, "scores", "score", np.float64)
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"`iou_threshold` must be in [0, 1]. Received: {iou_threshold}")
    candidates = np.flatnonzero(scores > score_threshold)
    # Stable sort: equal scores keep index order, as TensorFlow's priority queue does.
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        overlaps = iou(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def nms_per_class(
    boxes, scores, labels, *, iou_threshold: float = 0.5, score_threshold: float = 0.0
) -> np.ndarray:
    """Non-max suppression run once per class, as YOLO does: a circle never hides a square.

    Args:
        boxes: (N, 4) boxes as (x_min, y_min, x_max, y_max).
        scores: (N,) confidences.
        labels: (N,) integer class ids.
        iou_threshold: see :func:`nms`.
        score_threshold: see :func:`nms`.

    Returns:
        int64 indices of the boxes kept in any class, highest score first.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    boxes = as_boxes(boxes, "boxes")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = per_box(labels, boxes, "labels", "class id", None)
    keep = [
        np.flatnonzero(labels == c)[
            nms(
                boxes[labels == c],
                scores[labels == c],
                iou_threshold=iou_threshold,
                score_threshold=score_threshold,
            )
        ]
        for c in np.unique(labels)
    ]
    kept = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return kept[np.argsort(-scores[kept], kind="stable")].astype(np.int64)


def pyramid_windows(
    image_size: int, *, window: int = 64, step: int = 16, scale: float = 1.5
) -> list[tuple[int, int]]:
    """Count the windows a sliding-window detector classifies over an image pyramid.

    The image is shrunk by ``scale`` per level until it is smaller than the window; at each
    level a ``window`` x ``window`` crop slides by ``step`` pixels in both directions.

    Args:
        image_size: side of the square input image, in pixels.
        window: side of the classifier's window, in pixels.
        step: stride of the window, in pixels.
        scale: shrink factor between pyramid levels (> 1).

    Returns:
        One ``(level_size, windows)`` pair per pyramid level, largest level first.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    if scale <= 1:
        raise ValueError(f"`scale` must be greater than 1. Received: scale={scale}")
    if window < 1 or step < 1:
        raise ValueError(
            f"`window` and `step` must be positive. Received: window={window}, step={step}"
        )
    levels = []
    size = float(image_size)
    while int(size) >= window:
        per_side = (int(size) - window) // step + 1
        levels.append((int(size), per_side * per_side))
        size /= scale
    return levels
