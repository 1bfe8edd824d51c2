"""Datasets for the course, offline first.

``load(name)`` returns a :class:`Dataset` record with train, validation and test splits as uint8
NHWC images and int64 labels. For a real dataset it looks, in order, at:

1. the ``data_dir`` argument,
2. the folder named by ``CNNKIT_DATA_DIR``,
3. Keras' own cache (``$KERAS_HOME/datasets``, by default ``~/.keras/datasets``),
4. a download with a pinned SHA-256 (Keras' ``get_file``),

and when all of those fail (offline, or ``CNNKIT_OFFLINE=1``) it prints one line and returns a
stand-in of the same image shape: ``"digits"`` for MNIST and Fashion-MNIST, ``"shapes"`` for
CIFAR-10. ``offline=False`` turns that fallback into an error.

A data dir holds ``mnist.npz`` (Keras' file) and image folders
``<dir>/<name>/<split>/<class>/*.{png,jpg}`` with splits ``train`` and ``test``.
The URLs, checksums, sizes and licences live in ``cnnkit/datasets.json``.
See notebooks/00_setup.ipynb.
"""

from .cache import prefetch
from .dataset import Dataset, manifest
from .folders import from_directory
from .sources import NAMES, load
from .synthetic import SHAPE_CLASSES, draw_shape, make_digits, make_shapes

__all__ = [
    "NAMES",
    "SHAPE_CLASSES",
    "Dataset",
    "draw_shape",
    "from_directory",
    "load",
    "make_digits",
    "make_shapes",
    "manifest",
    "prefetch",
]
