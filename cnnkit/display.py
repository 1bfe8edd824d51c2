"""Showing things in a notebook: figures as PNG images, images ready for ``imshow``.

Helpers the figure, widget, report and training modules share; none of them draws.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

__all__ = ["displayable", "in_notebook", "png"]


def displayable(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) float in [0, 1] for imshow, from uint8 or float of any range."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(
            "Images must have shape (H, W), (H, W, 1) or (H, W, 3). "
            f"Received: an image of shape {image.shape}"
        )
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    image = image.astype(np.float32)
    low, high = float(image.min()), float(image.max())
    if low >= 0.0 and high <= 1.0:
        return image
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def png(fig: Figure, *, dpi: int = 90):
    """The figure as an ``IPython.display.Image``: shows in any frontend, whatever the
    matplotlib backend (the test suite runs kernels with Agg, which has no inline display)."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return Image(data=buffer.getvalue(), format="png")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where display updates reach a frontend)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
