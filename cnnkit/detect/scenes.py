"""Synthetic scenes: coloured shapes on textured backgrounds, with exact boxes or pixel masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data import SHAPE_CLASSES, draw_shape
from .boxes import iou
from .grid import as_anchors, count_collisions, encode_grid

__all__ = ["SCENE_CLASSES", "DetectionSet", "shapes_detection", "shapes_segmentation"]

SCENE_CLASSES = ("circle", "square", "triangle")


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
    """One scene: (H, W, 3) uint8 image, (k, 4) boxes, (k,) labels and (H, W) int64 class mask.

    With ``grid_size=None`` centres may share a grid cell (segmentation has no grid).
    """
    from PIL import Image, ImageDraw

    img = _background(rng, image_size)
    class_mask = np.zeros((image_size, image_size), dtype=np.int64)
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
            or (
                grid_size is not None
                and count_collisions(np.array([*boxes, box]), grid_size=grid_size) > 0
            )
        ):
            continue
        colour = rng.uniform(0, 255, size=3)
        while np.abs(colour - img[m].mean(axis=0)).sum() < 150:
            colour = rng.uniform(0, 255, size=3)
        img[m] = colour
        class_mask[m] = label + 1
        boxes.append(box)
        labels.append(label)
    return (
        np.round(img).astype(np.uint8),
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64),
        class_mask,
    )


def shapes_detection(
    n: int,
    *,
    image_size: int = 96,
    grid_size: int = 6,
    classes: Sequence[str] = SCENE_CLASSES,
    max_objects: int = 3,
    seed: int = 0,
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
    if not classes or any(c not in SHAPE_CLASSES for c in classes):
        raise ValueError(
            f"`classes` must be shape kinds among {sorted(SHAPE_CLASSES)}. "
            f"Received: classes={classes!r}"
        )
    lo, hi = radius_range or (image_size / 12, image_size / 5)
    rng = np.random.default_rng(seed)
    images = np.zeros((n, image_size, image_size, 3), dtype=np.uint8)
    all_boxes, all_labels = [], []
    for i in range(n):
        images[i], b, lab, _ = _render(
            rng, image_size, list(classes), max_objects, grid_size, lo, hi
        )
        all_boxes.append(b)
        all_labels.append(lab)
    targets = (
        np.stack(
            [
                encode_grid(b, lab, grid_size=grid_size, num_classes=len(classes), anchors=anchors)
                for b, lab in zip(all_boxes, all_labels, strict=True)
            ]
        )
        if n
        else np.zeros((0, grid_size, grid_size, 1, 5 + len(classes)), dtype=np.float32)
    )
    return DetectionSet(
        images, all_boxes, all_labels, targets, list(classes), grid_size, as_anchors(anchors)
    )


def shapes_segmentation(
    n: int,
    *,
    image_size: int = 64,
    classes: Sequence[str] = SCENE_CLASSES,
    max_objects: int = 3,
    radius_range: tuple[float, float] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic segmentation data: coloured shapes on textured backgrounds, with pixel masks.

    The scenes of :func:`shapes_detection` (1 to ``max_objects`` shapes of random class, colour,
    size and small rotation, boxes overlapping by at most 0.05 IoU), without the one-object-per-
    grid-cell rule, and with the class of every pixel. Shapes are drawn without anti-aliasing,
    so the mask is exact: a pixel is a shape's if and only if it has the shape's colour.

    Args:
        n: number of images, >= 0.
        image_size: side of each square image in pixels, >= 16.
        classes: shape kinds to draw, among ``cnnkit.data.SHAPE_CLASSES``.
        max_objects: most shapes per image (at least one each), >= 1.
        radius_range: (min, max) shape radius in pixels, with max <= image_size / 2.5;
            default image_size / 8 to image_size / 4.
        seed: random seed; the same seed gives the same images.

    Returns:
        images: (n, image_size, image_size, 3) uint8.
        masks: (n, image_size, image_size) int64 class ids: 0 for background, k + 1 where
            ``classes[k]`` is drawn.

    See notebooks/11_beyond_classification.ipynb.
    """
    if n < 0:
        raise ValueError(f"`n` must be a non-negative number of images. Received: n={n}")
    if image_size < 16:
        raise ValueError(
            f"`image_size` must be at least 16 pixels. Received: image_size={image_size}"
        )
    if not classes or any(c not in SHAPE_CLASSES for c in classes):
        raise ValueError(
            f"`classes` must be shape kinds among {sorted(SHAPE_CLASSES)}. "
            f"Received: classes={classes!r}"
        )
    if max_objects < 1:
        raise ValueError(
            f"`max_objects` must be at least 1 shape per image. Received: max_objects={max_objects}"
        )
    lo, hi = radius_range or (image_size / 8, image_size / 4)
    if not 0 < lo <= hi <= image_size / 2.5:
        raise ValueError(
            "`radius_range` must be (min, max) with 0 < min <= max <= image_size / 2.5 "
            f"= {image_size / 2.5:g}. Received: radius_range={radius_range!r}"
        )
    rng = np.random.default_rng(seed)
    images = np.zeros((n, image_size, image_size, 3), dtype=np.uint8)
    masks = np.zeros((n, image_size, image_size), dtype=np.int64)
    for i in range(n):
        images[i], _, _, masks[i] = _render(
            rng, image_size, list(classes), max_objects, None, lo, hi
        )
    return images, masks
