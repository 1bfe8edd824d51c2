"""The :class:`Dataset` record every loader returns, the manifest, and the split helpers.

A record holds train, validation and test splits as uint8 NHWC images and int64 labels; the
manifest (``cnnkit/datasets.json``) gives each dataset's URLs, SHA-256, sizes, licences and
stand-in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TEST_SEED", "Dataset", "finish_splits", "manifest", "record", "split_indices"]

TEST_SEED = 0  # carved test splits never move when a learner changes `seed`


@dataclass
class Dataset:
    """Images and labels, split three ways, and where they came from.

    Attributes:
        name: dataset name, e.g. ``"mnist"`` (a stand-in keeps its own name, e.g. ``"digits"``).
        x_train, x_val, x_test: (N, H, W, C) uint8 images.
        y_train, y_val, y_test: (N,) int64 class indices.
        class_names: one name per class index.
        source: where the images really came from (a file, the Keras cache, a download, a
            stand-in generated here).
        description: one line for a learner.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str
    description: str
    is_real: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: train {len(self.x_train):,}, val {len(self.x_val):,}, "
            f"test {len(self.x_test):,} images of {'x'.join(map(str, self.input_shape))}, "
            f"{self.num_classes} classes; source: {self.source})"
        )


@cache
def manifest() -> dict[str, Any]:
    """The dataset manifest: URLs, SHA-256, sizes, licences and stand-ins per dataset."""
    return json.loads((Path(__file__).parent.parent / "datasets.json").read_text())


def finish_splits(data: Dataset, *, limit: int | None, val_split: float, seed: int) -> Dataset:
    if limit is not None:
        data.x_train, data.y_train = _subset(data.x_train, data.y_train, limit, seed)
        data.x_test, data.y_test = _subset(data.x_test, data.y_test, limit, seed)
    if len(data.x_val) == 0 and val_split > 0:
        n_val = max(1, round(len(data.x_train) * val_split))
        keep, held = split_indices(data.y_train, n_val, seed)
        data.x_val, data.y_val = data.x_train[held], data.y_train[held]
        data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
    return data


def split_indices(y: np.ndarray, n_held: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (when every class can give one) reproducible split of range(len(y))."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    counts = np.bincount(y) if len(y) else np.array([])
    can_stratify = counts[counts > 0].min() >= 2 and n_held >= np.count_nonzero(counts)
    can_stratify = can_stratify and len(y) - n_held >= np.count_nonzero(counts)
    keep, held = train_test_split(
        index, test_size=n_held, random_state=seed, stratify=y if can_stratify else None
    )
    return np.sort(keep), np.sort(held)


def _subset(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(y) <= n:
        return x, y
    _, chosen = split_indices(y, n, seed)
    return x[chosen], y[chosen]


def _empty_like(x: np.ndarray) -> np.ndarray:
    return np.zeros((0, *x.shape[1:]), dtype=x.dtype)


def record(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    class_names: list[str],
    source: str,
    description: str,
    is_real: bool = True,
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> Dataset:
    (x_train, y_train), (x_test, y_test) = train, test
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise ValueError(
                f"Labels don't match images in the {split} split of {name} ({source}): "
                f"{len(x)} images but {len(y)} labels."
            )
    x_val, y_val = val if val is not None else (_empty_like(x_train), np.zeros(0, np.int64))
    return Dataset(
        name=name,
        x_train=_nhwc(x_train),
        y_train=np.asarray(y_train, np.int64).reshape(-1),
        x_val=_nhwc(x_val),
        y_val=np.asarray(y_val, np.int64).reshape(-1),
        x_test=_nhwc(x_test),
        y_test=np.asarray(y_test, np.int64).reshape(-1),
        class_names=list(class_names),
        source=source,
        description=description,
        is_real=is_real,
    )


def _nhwc(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    return x.astype(np.uint8, copy=False)
