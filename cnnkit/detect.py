"""Object detection the YOLO way: boxes, IoU, NMS, grid labels, the YOLO v1 loss, shapes, mAP.

Boxes are ``(x_min, y_min, x_max, y_max)`` in image-relative ``[0, 1]`` coordinates unless a
function says otherwise. A grid label has shape ``(S, S, A, 5 + C)``, indexed
``[row, column, anchor]``, and holds ``P, bx, by, bw, bh, c1 ... cC`` as the slides define it:
``bx, by`` place the box centre relative to the top-left corner of its cell in ``[0, 1]``,
``bw, bh`` give the box size in cell units (> 0, may exceed 1).

IoU and NMS are written by hand in NumPy for teaching and tested equal to ``tf.image``;
mean average precision comes from pycocotools, the COCO reference implementation.

See notebooks/10_yolo_grid_labels.ipynb.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DetectionSet",
    "count_collisions",
    "decode_grid",
    "detect",
    "draw_boxes",
    "encode_grid",
    "iou",
    "mean_average_precision",
    "nms",
    "nms_per_class",
    "pyramid_windows",
    "shapes_detection",
    "tiny_yolo",
    "yolo_loss",
]

_CLASSES = ("circle", "square", "triangle")


def _as_boxes(boxes, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(
            f"`{name}` must have shape (N, 4): (x_min, y_min, x_max, y_max) per box. "
            f"Received: {name}.shape={arr.shape}"
        )
    return arr


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
    a = _as_boxes(a, "a")
    b = _as_boxes(b, "b")
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


def nms(boxes, scores, iou_threshold: float = 0.5, score_threshold: float = 0.0) -> np.ndarray:
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
    boxes = _as_boxes(boxes, "boxes")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape[0] != boxes.shape[0]:
        raise ValueError(
            "`scores` must hold one score per box. "
            f"Received: boxes.shape={boxes.shape}, scores.shape={scores.shape}"
        )
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
    boxes, scores, labels, iou_threshold: float = 0.5, score_threshold: float = 0.0
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
    boxes = _as_boxes(boxes, "boxes")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(
            "`labels` must hold one class id per box. "
            f"Received: boxes.shape={boxes.shape}, labels.shape={labels.shape}"
        )
    keep = [
        np.flatnonzero(labels == c)[
            nms(boxes[labels == c], scores[labels == c], iou_threshold, score_threshold)
        ]
        for c in np.unique(labels)
    ]
    kept = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return kept[np.argsort(-scores[kept], kind="stable")].astype(np.int64)


def pyramid_windows(
    image_size: int = 416, *, window: int = 64, step: int = 16, scale: float = 1.5
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


def _as_anchors(anchors) -> np.ndarray | None:
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
    boxes = _as_boxes(boxes, "boxes")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(
            "`labels` must hold one class id per box. "
            f"Received: boxes.shape={boxes.shape}, labels.shape={labels.shape}"
        )
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


def count_collisions(boxes, grid_size: int = 3, anchors=None) -> int:
    """How many boxes lose their slot because an earlier box took the same cell and anchor.

    Args:
        boxes: (N, 4) boxes as (x_min, y_min, x_max, y_max) in [0, 1].
        grid_size: S, the grid has S x S cells.
        anchors: optional (A, 2) anchor (width, height) pairs in image units.

    Returns:
        The number of boxes :func:`encode_grid` cannot store (0 when every box has its own slot).

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    boxes = _as_boxes(boxes, "boxes")
    if len(boxes) == 0:
        return 0
    row, col, anchor = _assign(boxes, grid_size, _as_anchors(anchors))
    slots = np.stack([row, col, anchor], axis=1)
    return int(len(slots) - len(np.unique(slots, axis=0)))


def encode_grid(boxes, labels, grid_size: int = 3, num_classes: int = 3, anchors=None):
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
    anchors = _as_anchors(anchors)
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


def decode_grid(y, score_threshold: float = 0.5):
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


@dataclass
class DetectionSet:
    """Images with their boxes and grid labels, as made by :func:`shapes_detection`.

    Attributes:
        images: (N, H, W, 3) uint8 images.
        boxes: N arrays of shape (k_i, 4), float32 boxes in [0, 1].
        labels: N arrays of shape (k_i,), int64 class ids.
        targets: (N, S, S, A, 5 + C) float32 grid labels from :func:`encode_grid`.
        class_names: C class names.
        grid_size: S.
        anchors: (A, 2) anchors in image units, or None for one anchor per cell.
    """

    images: np.ndarray
    boxes: list
    labels: list
    targets: np.ndarray
    class_names: list
    grid_size: int
    anchors: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured background: a colour gradient plus low-frequency blotches and pixel noise."""
    base = rng.uniform(60, 200, size=3)
    tilt = rng.uniform(-50, 50, size=3)
    ramp = np.linspace(-0.5, 0.5, size)
    ramp = ramp[:, None] if rng.random() < 0.5 else ramp[None, :]
    img = base + tilt * ramp[..., None]
    # Smooth blotches (coarse noise, linearly interpolated) look like texture, not tiles.
    nodes = size // 12 + 2
    blotches = rng.normal(0, 22, size=(nodes, nodes, 3))
    # Row i of `lerp` holds the linear-interpolation weights of pixel i over the coarse nodes.
    lerp = np.maximum(0, 1 - np.abs(np.arange(size)[:, None] / 12 - np.arange(nodes)[None, :]))
    img = img + np.einsum("ik,klc,jl->ijc", lerp, blotches, lerp, optimize=True)
    img = img + rng.normal(0, 6, size=(size, size, 3))
    return np.clip(img, 0, 255)


def _render(rng, image_size, classes, max_objects, grid_size, min_radius, max_radius):
    from PIL import Image, ImageDraw

    from .data import draw_shape

    img = _background(rng, image_size)
    boxes, labels = [], []
    wanted = int(rng.integers(1, max_objects + 1))
    for _ in range(30 * wanted):
        if len(boxes) == wanted:
            break
        label = int(rng.integers(len(classes)))
        radius = float(rng.uniform(min_radius, max_radius))
        # Some polygons reach past `radius` (a triangle's corners to 1.15 radius).
        center = rng.uniform(1.2 * radius, image_size - 1.2 * radius, size=2)
        mask = Image.new("L", (image_size, image_size), 0)
        draw_shape(
            ImageDraw.Draw(mask),
            classes[label],
            tuple(center),
            radius,
            255,
            angle=float(rng.uniform(-0.35, 0.35)),  # radians, about 20 degrees
        )
        m = np.asarray(mask) > 127
        ys, xs = np.nonzero(m)
        if xs.size == 0:
            continue
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]) / image_size
        # One object per cell and little overlap keep every label honest (no collisions).
        if boxes and (
            iou(box[None], np.array(boxes)).max() > 0.05
            or count_collisions(np.array([*boxes, box]), grid_size) > 0
        ):
            continue
        colour = rng.uniform(0, 255, size=3)
        while np.abs(colour - img[m].mean(axis=0)).sum() < 150:
            colour = rng.uniform(0, 255, size=3)
        img[m] = colour
        boxes.append(box)
        labels.append(label)
    return (
        np.round(img).astype(np.uint8),
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64),
    )


def shapes_detection(
    n: int,
    image_size: int = 96,
    grid_size: int = 6,
    classes: Sequence[str] = _CLASSES,
    max_objects: int = 3,
    seed: int = 0,
    *,
    anchors=None,
    radius_range: tuple[float, float] | None = None,
) -> DetectionSet:
    """Synthetic detection data: coloured shapes on textured backgrounds, with exact boxes.

    Each image holds 1 to ``max_objects`` shapes of random class, colour, size and small
    rotation, with centres in distinct cells and almost no overlap, so that every object has
    its own grid slot. Boxes are read from the drawn pixels, so they are tight.
    Small enough to train a detector on a laptop CPU in minutes.

    Args:
        n: number of images.
        image_size: side of each square image, in pixels.
        grid_size: S of the grid labels in ``targets``.
        classes: shape kinds to draw, one class per kind, among
            ``cnnkit.data.SHAPE_CLASSES`` (drawn by ``cnnkit.data.draw_shape``).
        max_objects: most shapes per image (at least one each).
        seed: random seed; the same seed gives the same images.
        anchors: optional (A, 2) anchors passed to :func:`encode_grid`.
        radius_range: (min, max) shape radius in pixels; default image_size / 12 to / 5.

    Returns:
        A :class:`DetectionSet`.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    if n < 0:
        raise ValueError(f"`n` must be a non-negative number of images. Received: n={n}")
    if max_objects < 1 or max_objects > grid_size * grid_size:
        raise ValueError(
            f"`max_objects` must be between 1 and grid_size**2 = {grid_size * grid_size}. "
            f"Received: max_objects={max_objects}"
        )
    from .data import SHAPE_CLASSES as known

    if not classes or any(c not in known for c in classes):
        raise ValueError(
            f"`classes` must be shape kinds among {sorted(known)}. Received: classes={classes!r}"
        )
    lo, hi = radius_range or (image_size / 12, image_size / 5)
    rng = np.random.default_rng(seed)
    images = np.zeros((n, image_size, image_size, 3), dtype=np.uint8)
    all_boxes, all_labels = [], []
    for i in range(n):
        images[i], b, lab = _render(rng, image_size, list(classes), max_objects, grid_size, lo, hi)
        all_boxes.append(b)
        all_labels.append(lab)
    targets = (
        np.stack(
            [
                encode_grid(b, lab, grid_size, len(classes), anchors)
                for b, lab in zip(all_boxes, all_labels, strict=True)
            ]
        )
        if n
        else np.zeros((0, grid_size, grid_size, 1, 5 + len(classes)), dtype=np.float32)
    )
    return DetectionSet(
        images, all_boxes, all_labels, targets, list(classes), grid_size, _as_anchors(anchors)
    )


def _conv_block(x, filters: int, kernel_size: int, name: str):
    from keras import layers

    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    # momentum 0.9: running statistics settle within the few hundred steps of a CPU run.
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.LeakyReLU(0.1, name=f"{name}_leaky")(x)


def tiny_yolo(
    input_shape: tuple[int, int, int] = (96, 96, 3),
    grid_size: int = 6,
    num_classes: int = 3,
    num_anchors: int = 1,
    *,
    width: int = 16,
    name: str = "tiny_yolo",
):
    """A small YOLO-style detector: one pass of a CNN gives the whole (S, S, A, 5 + C) grid.

    Like Tiny-YOLO: 3x3 CONV -> BN -> LeakyReLU(0.1) stages, each halving the size with a
    2x2 max-pool until the feature map is S x S, then 1x1 heads per quantity:
    sigmoid P, sigmoid bx and by (the centre stays inside its cell), softplus bw and bh
    (> 0, may exceed 1 cell), softmax class probabilities per anchor.

    Args:
        input_shape: (height, width, channels); height = width = grid_size * 2**k.
        grid_size: S; the network downsamples by input_size / S.
        num_classes: C.
        num_anchors: A, boxes predicted per cell.
        width: filters of the first stage; each stage doubles it (capped at 16 * width).
        name: model name.

    Returns:
        An uncompiled `keras.Model` from uint8-range images (rescaled inside) to
        (batch, S, S, A, 5 + C) outputs in :func:`encode_grid`'s layout.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    import keras
    from keras import layers

    h, w, _ = input_shape
    ratio = h // grid_size if grid_size > 0 else 0
    if h != w or ratio < 1 or ratio * grid_size != h or ratio & (ratio - 1):
        raise ValueError(
            "`input_shape` must be square with a side of grid_size times a power of two. "
            f"Received: input_shape={tuple(input_shape)}, grid_size={grid_size}"
        )
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    stages = int(math.log2(ratio))
    for s in range(stages):
        filters = min(width * 2**s, width * 16)
        x = _conv_block(x, filters, 3, f"stage{s + 1}")
        x = layers.MaxPooling2D(2, name=f"stage{s + 1}_pool")(x)
    x = _conv_block(x, min(width * 2**stages, width * 16), 3, "neck1")
    x = _conv_block(x, min(width * 2**stages, width * 16), 3, "neck2")
    a, s_ = num_anchors, grid_size

    def head(units: int, activation: str, part: str):
        out = layers.Conv2D(a * units, 1, name=f"head_{part}")(x)
        out = layers.Reshape((s_, s_, a, units), name=f"head_{part}_reshape")(out)
        return layers.Activation(activation, name=f"head_{part}_{activation}")(out)

    outputs = layers.Concatenate(axis=-1, name="grid")(
        [
            head(1, "sigmoid", "p"),
            head(2, "sigmoid", "xy"),
            head(2, "softplus", "wh"),
            head(num_classes, "softmax", "class"),
        ]
    )
    return keras.Model(inputs, outputs, name=name)


def detect(
    model, images, *, score_threshold: float = 0.3, iou_threshold: float = 0.5, apply_nms=True
):
    """Run a grid detector and post-process: decode each grid, then NMS per class.

    Args:
        model: a model mapping (batch, H, W, 3) images to (batch, S, S, A, 5 + C) grids.
        images: (N, H, W, 3) images.
        score_threshold: minimum class confidence kept (see :func:`decode_grid`).
        iou_threshold: NMS threshold (see :func:`nms_per_class`).
        apply_nms: False returns every box above the threshold (before NMS).

    Returns:
        Three lists with one entry per image, ready for :func:`mean_average_precision`:
        (k, 4) float32 boxes, (k,) int64 labels and (k,) float32 scores, by falling score.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    grids = np.asarray(model.predict(np.asarray(images), verbose=0))
    all_boxes, all_labels, all_scores = [], [], []
    for grid in grids:
        boxes, labels, scores = decode_grid(grid, score_threshold)
        if apply_nms:
            keep = nms_per_class(boxes, scores, labels, iou_threshold)
        else:
            keep = np.argsort(-scores, kind="stable")
        all_boxes.append(boxes[keep])
        all_labels.append(labels[keep])
        all_scores.append(scores[keep])
    return all_boxes, all_labels, all_scores


def mean_average_precision(
    true_boxes,
    true_labels,
    pred_boxes,
    pred_labels,
    pred_scores,
    *,
    num_classes: int,
    iou_threshold: float = 0.5,
) -> dict:
    """COCO-style average precision per class at one IoU threshold, and its mean (mAP).

    Computed by pycocotools' ``COCOeval`` (101-point interpolated precision-recall, up to
    100 detections per image), not by hand: ground truth and detections are put into
    COCO format in memory.

    Args:
        true_boxes: per image, (k, 4) true boxes as (x_min, y_min, x_max, y_max).
        true_labels: per image, (k,) class ids.
        pred_boxes: per image, (m, 4) predicted boxes.
        pred_labels: per image, (m,) predicted class ids.
        pred_scores: per image, (m,) confidences.
        num_classes: C; classes without any true box get AP NaN and stay out of the mean.
        iou_threshold: a detection matches a true box of its class when IoU >= this.

    Returns:
        ``{"mAP": float, "AP": [float] * num_classes}``.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    n = len(true_boxes)
    if not (len(true_labels) == len(pred_boxes) == len(pred_labels) == len(pred_scores) == n):
        raise ValueError(
            "`true_boxes`, `true_labels`, `pred_boxes`, `pred_labels` and `pred_scores` must "
            "each hold one entry per image. Received lengths: "
            f"{[len(v) for v in (true_boxes, true_labels, pred_boxes, pred_labels, pred_scores)]}"
        )
    # COCO wants (x, y, width, height) in pixels; IoU does not care about the unit.
    scale = 1000.0

    def xywh(b):
        b = _as_boxes(b, "boxes") * scale
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)

    annotations, results = [], []
    for i in range(n):
        for box, lab in zip(
            xywh(true_boxes[i]), np.asarray(true_labels[i]).reshape(-1), strict=True
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": int(lab),
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
        scores = np.asarray(pred_scores[i]).reshape(-1)
        for box, lab, sc in zip(
            xywh(pred_boxes[i]), np.asarray(pred_labels[i]).reshape(-1), scores, strict=True
        ):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(lab),
                    "bbox": box.tolist(),
                    "score": float(sc),
                    "area": float(box[2] * box[3]),
                    "id": len(results) + 1,
                    "iscrowd": 0,
                }
            )
    used = np.concatenate(
        [np.asarray(v, dtype=np.int64).reshape(-1) for v in (*true_labels, *pred_labels)] or [[0]]
    )
    if used.min() < 0 or used.max() >= num_classes:
        raise ValueError(
            f"`true_labels` and `pred_labels` must be class ids in [0, {num_classes}). "
            f"Received: ids from {used.min()} to {used.max()}"
        )
    present = np.zeros(num_classes, dtype=bool)
    present[[a["category_id"] for a in annotations]] = True
    ap = np.where(present, 0.0, np.nan)
    if results and annotations:
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i} for i in range(n)],
            "annotations": annotations,
            "categories": [{"id": c} for c in range(num_classes)],
        }
        # pycocotools reports progress on stdout; a library call should stay quiet.
        with contextlib.redirect_stdout(io.StringIO()):
            gt.createIndex()
            dt = COCO()
            dt.dataset = {
                "images": gt.dataset["images"],
                "annotations": results,
                "categories": gt.dataset["categories"],
            }
            dt.createIndex()
            ev = COCOeval(gt, dt, iouType="bbox")
            ev.params.iouThrs = np.array([iou_threshold])
            ev.params.maxDets = [100]
            ev.params.areaRng = [[0.0, 1e10]]
            ev.params.areaRngLbl = ["all"]
            ev.evaluate()
            ev.accumulate()
        precision = ev.eval["precision"][0, :, :, 0, 0]  # (recall points, classes)
        for c in range(num_classes):
            column = precision[:, c]
            if present[c]:
                ap[c] = float(np.mean(np.where(column > -1, column, 0.0)))
    m = float(np.nanmean(ap)) if present.any() else float("nan")
    return {"mAP": m, "AP": ap.tolist()}


def draw_boxes(
    image,
    boxes,
    labels,
    scores=None,
    *,
    class_names: Sequence[str] | None = None,
    grid_size: int | None = None,
    title: str | None = None,
    ax=None,
):
    """Draw an image with its boxes, class names, confidences and an optional grid overlay.

    Args:
        image: (H, W, 3) or (H, W) image, uint8 or float in [0, 1].
        boxes: (N, 4) boxes as (x_min, y_min, x_max, y_max) in [0, 1].
        labels: (N,) class ids.
        scores: optional (N,) confidences shown after the class name.
        class_names: names for the class ids (default: the ids).
        grid_size: draw an S x S grid over the image when given.
        title: axes title.
        ax: matplotlib Axes to draw on; a new (closed) figure when None.

    Returns:
        The matplotlib Figure.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    import matplotlib.pyplot as plt
    from matplotlib import patheffects
    from matplotlib.patches import Rectangle

    image = np.asarray(image)
    boxes = _as_boxes(boxes, "boxes")
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(
            "`labels` must hold one class id per box. "
            f"Received: boxes.shape={boxes.shape}, labels.shape={labels.shape}"
        )
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4, 4), layout="constrained")
    h, w = image.shape[:2]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, extent=(0, w, h, 0))
    if grid_size:
        # White lines with a dark edge stay visible on light and dark images alike.
        edge = [patheffects.withStroke(linewidth=1.8, foreground="black", alpha=0.45)]
        for k in range(1, grid_size):
            ax.axhline(k * h / grid_size, color="white", lw=0.8, alpha=0.8, path_effects=edge)
            ax.axvline(k * w / grid_size, color="white", lw=0.8, alpha=0.8, path_effects=edge)
    colours = plt.get_cmap("tab10").colors
    scores = None if scores is None else np.asarray(scores, dtype=float).reshape(-1)
    fontsize = 8
    # Text size in image pixels, so stacked labels of near-identical boxes do not overlap.
    points_per_pixel = 72 * ax.bbox.height / ax.figure.dpi / h
    line = 1.6 * fontsize / points_per_pixel
    char = 0.62 * fontsize / points_per_pixel
    placed = []  # (x_left, x_right, y_top, y_bottom) of each label drawn
    order = np.argsort(-scores, kind="stable") if scores is not None else range(len(boxes))
    for k in order:
        colour = colours[int(labels[k]) % len(colours)]
        x0, y0, x1, y1 = boxes[k] * [w, h, w, h]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=colour, lw=2))
        text = class_names[int(labels[k])] if class_names is not None else str(int(labels[k]))
        if scores is not None:
            text += f" {scores[k]:.2f}"
        bottom = y0 if y0 >= line else y0 + line  # no room above the box: write inside it
        while any(
            x0 < r and x0 + char * len(text) > left and bottom - line < b and bottom > t
            for left, r, t, b in placed
        ):
            bottom += line
        placed.append((x0, x0 + char * len(text), bottom - line, bottom))
        ax.text(
            x0,
            bottom,
            text,
            color="white",
            fontsize=fontsize,
            va="bottom",
            ha="left",
            bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.0, "alpha": 0.85},
            clip_on=True,
        )
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if own:
        # Returned closed, like cnnkit.viz: a notebook shows it once, as the cell's value.
        plt.close(fig)
    return ax.figure
