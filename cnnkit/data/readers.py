"""Readers of the files datasets are published as: MNIST's npz, gzipped IDX, CIFAR-10's binary.

Each returns a :class:`~cnnkit.data.dataset.Dataset`; a truncated or corrupt file raises a
ValueError that says so and leaves the file where it is.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .dataset import Dataset, manifest, record

__all__ = ["read_cifar_bin", "read_idx_folder", "read_mnist_npz"]


def _corrupt(path: Path, error: Exception) -> ValueError:
    return ValueError(
        f"Could not read {path}: it looks truncated or corrupt ({type(error).__name__}: {error}). "
        "The file was left as it is. Replace it with a fresh copy (see cnnkit/datasets.json for "
        "its URL and SHA-256), or move it away to let cnnkit look elsewhere."
    )


def read_mnist_npz(path: Path, *, source: str) -> Dataset:
    import zipfile

    try:
        # Our own handle: np.load leaks the one it opens when the zip is corrupt.
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as f:
            x_train, y_train = f["x_train"], f["y_train"]
            x_test, y_test = f["x_test"], f["y_test"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise _corrupt(path, error) from error
    info = manifest()["mnist"]
    return record(
        "mnist",
        (x_train, y_train),
        (x_test, y_test),
        class_names=info["classes"],
        source=source,
        description=(
            f"MNIST handwritten digits, 28x28 grayscale, {len(x_train):,} train / "
            f"{len(x_test):,} test"
        ),
    )


def _read_idx(path: Path, *, offset: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as handle:
            return np.frombuffer(handle.read(), np.uint8, offset=offset)
    except (OSError, EOFError) as error:
        raise _corrupt(path, error) from error


def read_idx_folder(folder: Path, *, source: str) -> Dataset:
    arrays = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", offset=8)
        images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", offset=16)
        if images.size != len(labels) * 28 * 28:
            raise ValueError(
                f"Labels don't match images in {folder} ({part}): {images.size // 784} images "
                f"but {len(labels)} labels."
            )
        arrays[part] = (images.reshape(-1, 28, 28), labels)
    info = manifest()["fashion_mnist"]
    return record(
        "fashion_mnist",
        arrays["train"],
        arrays["test"],
        class_names=info["classes"],
        source=source,
        description="Fashion-MNIST clothing, 28x28 grayscale, 60,000 train / 10,000 test",
    )


def read_cifar_bin(folder: Path, *, source: str) -> Dataset:
    """CIFAR-10's binary release: records of 1 label byte + 3,072 pixel bytes (CHW)."""

    def read(files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        chunks = []
        for file in files:
            raw = np.fromfile(folder / file, dtype=np.uint8)
            if raw.size % 3073:
                raise _corrupt(folder / file, ValueError(f"{raw.size} bytes, not 3,073 per image"))
            chunks.append(raw.reshape(-1, 3073))
        records = np.concatenate(chunks)
        return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), records[:, 0]

    train = read([f"data_batch_{i}.bin" for i in range(1, 6)])
    test = read(["test_batch.bin"])
    return record(
        "cifar10",
        train,
        test,
        class_names=manifest()["cifar10"]["classes"],
        source=source,
        description="CIFAR-10 natural images, 32x32 RGB, 50,000 train / 10,000 test",
    )
