"""Drawing detections: an image with its boxes, class names, scores and grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .boxes import as_boxes, per_box

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_boxes"]


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
) -> Figure:
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
    boxes = as_boxes(boxes, "boxes")
    labels = per_box(labels, boxes, "labels", "class id", None)
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
