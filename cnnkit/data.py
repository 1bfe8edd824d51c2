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

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from . import env

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

logger = logging.getLogger(__name__)

NAMES = ("mnist", "fashion_mnist", "cifar10", "digits", "shapes", "cats_vs_dogs")
SHAPE_CLASSES = (
    "circle",
    "square",
    "triangle",
    "diamond",
    "star",
    "cross",
    "ring",
    "hexagon",
    "bar",
    "crescent",
)
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_SPLIT_DIRS = ("train", "validation", "val", "test")
_TEST_SEED = 0  # carved test splits never move when a learner changes `seed`


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
    return json.loads((Path(__file__).parent / "datasets.json").read_text())


# ----------------------------------------------------------------------------- load()


def load(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    limit: int | None = None,
    val_split: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """Load a course dataset, real when it can be found or downloaded, a stand-in otherwise.

    Args:
        name: one of ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, ``"digits"``,
            ``"shapes"``, ``"cats_vs_dogs"``.
        data_dir: a folder to look in first (see the module docstring for its layout).
        offline: ``True`` never downloads and falls back to the stand-in; ``False`` raises
            instead of falling back; ``None`` follows ``CNNKIT_OFFLINE`` (unset: try to download,
            fall back with a notice when that fails).
        limit: keep at most this many images in each of the train and test splits (a
            stratified, reproducible subset); ``None`` keeps all.
        val_split: fraction of the training images held out for validation, in [0, 1).
        seed: seed of the validation split, the subsets and generated stand-ins.

    Returns:
        A :class:`Dataset`; ``source`` says where the images came from.
    """
    if name not in NAMES:
        raise ValueError(
            f"Unknown dataset name. Known names: {', '.join(NAMES)}. Received: name={name!r}"
        )
    if not 0 <= val_split < 1:
        raise ValueError(f"`val_split` must be in [0, 1). Received: val_split={val_split}")
    if limit is not None and limit < 1:
        raise ValueError(f"`limit` must be a positive number of images. Received: limit={limit}")

    if name == "digits":
        data = _digits()
    elif name == "shapes":
        data = _shapes(seed=seed, limit=limit)
    else:
        data = _real(name, data_dir=data_dir, offline=offline, seed=seed, limit=limit)
    return _finish(data, limit=limit, val_split=val_split, seed=seed)


def _real(name: str, *, data_dir, offline: bool | None, seed: int, limit: int | None) -> Dataset:
    info = manifest()[name]
    for where, folder in (("data_dir", data_dir), ("CNNKIT_DATA_DIR", env.data_dir())):
        if folder is not None:
            found = _from_folder(name, Path(folder).expanduser(), where)
            if found is not None:
                return found
    cached = _from_keras_cache(name)
    if cached is not None:
        return cached

    no_download = env.is_offline() if offline is None else offline
    reason = "offline mode (CNNKIT_OFFLINE or offline=True)"
    if not no_download:
        try:
            _download(name)
            cached = _from_keras_cache(name)
            if cached is not None:
                return cached
            reason = "the download finished but the files could not be read"
        except Exception as error:  # network errors come in many types
            reason = f"download failed: {type(error).__name__}: {error}"
            if offline is False:
                raise RuntimeError(
                    f"{info['title']} is not on this machine and could not be downloaded "
                    f"({reason}). Looked in data_dir, CNNKIT_DATA_DIR and {_keras_datasets()}. "
                    "Go online, or put the files in a data dir (see `python -m cnnkit prefetch`)."
                ) from error
    if info["standin"] is None:
        raise RuntimeError(
            f"{info['title']} is not available ({reason}) and has no stand-in. Looked in "
            f"data_dir, CNNKIT_DATA_DIR and {_keras_datasets()}. Run `python -m cnnkit prefetch` "
            f"once while online, or set CNNKIT_DATA_DIR to a folder holding {name}/train/<class>/."
        )
    standin = _digits() if info["standin"] == "digits" else _shapes(seed=seed, limit=limit)
    print(
        f"cnnkit: {info['title']} is not available ({reason}); using the stand-in "
        f"{standin.name!r} ({standin.description}). For the real data: go online, or run "
        "`python -m cnnkit prefetch`, or set CNNKIT_DATA_DIR."
    )
    standin.notes.append(f"stand-in for {name}")
    standin.is_real = False
    return standin


def _finish(data: Dataset, *, limit: int | None, val_split: float, seed: int) -> Dataset:
    if limit is not None:
        data.x_train, data.y_train = _subset(data.x_train, data.y_train, limit, seed)
        data.x_test, data.y_test = _subset(data.x_test, data.y_test, limit, seed)
    if len(data.x_val) == 0 and val_split > 0:
        n_val = max(1, round(len(data.x_train) * val_split))
        keep, held = _split_indices(data.y_train, n_val, seed)
        data.x_val, data.y_val = data.x_train[held], data.y_train[held]
        data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
    return data


def _split_indices(y: np.ndarray, n_held: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
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
    _, chosen = _split_indices(y, n, seed)
    return x[chosen], y[chosen]


def _empty_like(x: np.ndarray) -> np.ndarray:
    return np.zeros((0, *x.shape[1:]), dtype=x.dtype)


def _record(
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


# ----------------------------------------------------------------------------- real data on disk


def _keras_datasets() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


def _from_folder(name: str, folder: Path, where: str) -> Dataset | None:
    """Read `name` from a user's data dir, or None when it is not there. Never alters files."""
    if not folder.is_dir():
        raise ValueError(
            f"`{where}` is not a folder. Point it at a folder holding mnist.npz or "
            f"<name>/train/<class>/ image folders. Received: {where}={str(folder)!r}"
        )
    info = manifest()[name]
    if name == "mnist" and (folder / "mnist.npz").is_file():
        return _read_mnist_npz(folder / "mnist.npz", source=f"{where}: {folder / 'mnist.npz'}")
    if name == "fashion_mnist" and (folder / "fashion-mnist").is_dir():
        return _read_idx_folder(folder / "fashion-mnist", source=f"{where}: {folder}")
    if name == "cifar10" and (folder / "cifar-10-batches-bin").is_dir():
        return _read_cifar_bin(folder / "cifar-10-batches-bin", source=f"{where}: {folder}")
    for sub in (name, Path(info["files"][0]["fname"]).stem.split(".")[0]):
        if (folder / sub).is_dir():
            image_size = (160, 160) if name == "cats_vs_dogs" else None
            data = from_directory(folder / sub, image_size=image_size, name=name)
            data.source = f"{where}: {folder / sub}"
            return data
    return None


def _cache_ready(name: str) -> bool:
    """True when every file of `name` sits in Keras' cache with the right checksum.

    A cached download whose SHA-256 (or size) does not match is moved aside, with what was
    extracted from it, never deleted, so it can be fetched again.
    """
    for item in manifest()[name]["files"]:
        path = _keras_datasets() / item.get("subdir", "") / item["fname"]
        if not path.exists():
            if item.get("extract") and _extracted_dir(item).is_dir():
                continue  # the archive may be gone after extraction; the folder is enough
            return False
        if not _checksum_ok(path, item):
            _move_aside(path)
            if item.get("extract") and _extracted_dir(item).is_dir():
                _move_aside(_extracted_dir(item))
            return False
    return True


def _from_keras_cache(name: str) -> Dataset | None:
    """Read `name` from Keras' cache after checking its checksum, or None when absent."""
    if not _cache_ready(name):
        return None
    cache_dir = _keras_datasets()
    source = f"Keras cache: {cache_dir}"
    if name == "mnist":
        return _read_mnist_npz(cache_dir / "mnist.npz", source=source)
    if name == "fashion_mnist":
        return _read_idx_folder(cache_dir / "fashion-mnist", source=source)
    extracted = _extracted_dir(manifest()[name]["files"][0])
    if name == "cifar10":
        return _read_cifar_bin(extracted / "cifar-10-batches-bin", source=source)
    data = from_directory(extracted / "cats_and_dogs_filtered", image_size=(160, 160), name=name)
    data.source = source
    return data


def _extracted_dir(item: dict) -> Path:
    """Where Keras' ``get_file(fname, extract=True)`` unpacks an archive named ``fname``."""
    return _keras_datasets() / f"{item['fname'][: item['fname'].find('.')]}_extracted"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_ok(path: Path, item: dict) -> bool:
    if item.get("sha256"):
        return _sha256(path) == item["sha256"]
    return path.stat().st_size == item["size"]


def _move_aside(path: Path) -> Path:
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.move(str(path), str(target))
    warnings.warn(
        f"{path} does not match its checksum (truncated or corrupt download); "
        f"moved it aside to {target} so it can be fetched again.",
        stacklevel=3,
    )
    return target


def _download(name: str) -> list[Path]:
    """Fetch every file of `name` into Keras' cache with Keras' own ``get_file``."""
    from keras.utils import get_file

    paths = []
    cache_dir = _keras_datasets()
    for item in manifest()[name]["files"]:
        subdir = Path("datasets") / item.get("subdir", "")
        path = get_file(
            item["fname"],
            origin=item["url"],
            file_hash=item.get("sha256"),
            cache_subdir=str(subdir),
            cache_dir=str(cache_dir.parent),
            extract=bool(item.get("extract")),
        )
        target = cache_dir / item.get("subdir", "") / item["fname"]
        if not item.get("sha256") and target.stat().st_size != item["size"]:
            _move_aside(target)
            raise ValueError(
                f"{item['url']} gave {target.stat().st_size} bytes, expected {item['size']}."
            )
        paths.append(Path(path))
    return paths


def _corrupt(path: Path, error: Exception) -> ValueError:
    return ValueError(
        f"Could not read {path}: it looks truncated or corrupt ({type(error).__name__}: {error}). "
        "The file was left as it is. Replace it with a fresh copy (see cnnkit/datasets.json for "
        "its URL and SHA-256), or move it away to let cnnkit look elsewhere."
    )


def _read_mnist_npz(path: Path, *, source: str) -> Dataset:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as f:
            x_train, y_train = f["x_train"], f["y_train"]
            x_test, y_test = f["x_test"], f["y_test"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise _corrupt(path, error) from error
    info = manifest()["mnist"]
    return _record(
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


def _read_idx_folder(folder: Path, *, source: str) -> Dataset:
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
    return _record(
        "fashion_mnist",
        arrays["train"],
        arrays["test"],
        class_names=info["classes"],
        source=source,
        description="Fashion-MNIST clothing, 28x28 grayscale, 60,000 train / 10,000 test",
    )


def _read_cifar_bin(folder: Path, *, source: str) -> Dataset:
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
    return _record(
        "cifar10",
        train,
        test,
        class_names=manifest()["cifar10"]["classes"],
        source=source,
        description="CIFAR-10 natural images, 32x32 RGB, 50,000 train / 10,000 test",
    )


# ----------------------------------------------------------------------------- image folders


def from_directory(
    path: str | os.PathLike,
    image_size: tuple[int, int] | None = None,
    *,
    color_mode: str = "auto",
    val_split: float = 0.0,
    test_split: float = 0.2,
    limit: int | None = None,
    seed: int = 0,
    strict: bool = False,
    name: str | None = None,
) -> Dataset:
    """Read a user's own image folders into a :class:`Dataset`.

    Two layouts are understood: ``path/<class>/*`` (a test split is carved out, reproducibly)
    and ``path/<split>/<class>/*`` with splits ``train`` and ``test`` (``validation`` or
    ``val`` become the validation split, or the test split when there is no ``test``).

    Args:
        path: the top folder.
        image_size: (height, width) to resize every image to; ``None`` keeps the files' size,
            which must then be the same for all.
        color_mode: ``"rgb"`` (3 channels), ``"grayscale"`` (1 channel) or ``"auto"``
            (grayscale when every image is, RGB otherwise).
        val_split: fraction of the training images held out for validation when the folders
            have no validation split.
        test_split: fraction carved out for testing when the folders have no test split.
        limit: keep at most this many images in each of train and test.
        seed: seed of the carved splits and subsets.
        strict: raise on a corrupt or non-image file instead of skipping it with a warning.
        name: the dataset's name (default: the folder's name).

    Returns:
        A :class:`Dataset` whose classes are the sorted sub-folder names.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(
            "`path` must be a folder of images in class sub-folders (path/<class>/*.jpg or "
            f"path/<split>/<class>/*.jpg). Received: path={str(path)!r}"
        )
    if color_mode not in ("auto", "rgb", "grayscale"):
        raise ValueError(
            "`color_mode` must be 'auto', 'rgb' or 'grayscale'. "
            f"Received: color_mode={color_mode!r}"
        )
    if image_size is not None and (
        len(image_size) != 2
        or min(image_size) < 1
        or not all(isinstance(s, int) for s in image_size)
    ):
        raise ValueError(
            "`image_size` must be (height, width) in whole pixels, or None. "
            f"Received: image_size={image_size!r}"
        )
    name = name or root.name
    subdirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    splits = {s: root / s for s in _SPLIT_DIRS if s in subdirs}
    if "train" in splits:
        train_dir = splits["train"]
        val_dir = splits.get("validation") or splits.get("val")
        test_dir = splits.get("test")
        if test_dir is None and val_dir is not None:
            test_dir, val_dir = val_dir, None
    else:
        train_dir, val_dir, test_dir = root, None, None

    class_names = sorted(
        p.name for p in train_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    files = {"train": _list_files(train_dir, class_names, root)}
    if not files["train"]:
        raise ValueError(
            f"No images found in {train_dir}. Expected {root}/<class>/*.jpg or "
            f"{root}/train/<class>/*.jpg (png, jpg, bmp, gif, webp, tif)."
        )
    for split, folder in (("val", val_dir), ("test", test_dir)):
        if folder is not None:
            extra = sorted(
                p.name for p in folder.iterdir() if p.is_dir() and p.name not in class_names
            )
            if extra:
                raise ValueError(
                    f"{folder} has classes that train does not: {', '.join(extra)}. "
                    f"Known classes: {', '.join(class_names)}."
                )
            files[split] = _list_files(folder, class_names, root)

    all_files = [f for group in files.values() for f, _ in group]
    images, ok, bad, sizes = _read_images(all_files, image_size=image_size, color_mode=color_mode)
    if bad:
        shown = ", ".join(f"{p.relative_to(root)} ({why})" for p, why in bad[:3])
        message = f"{len(bad)} file(s) in {root} are not readable images: {shown}"
        if strict:
            raise ValueError(message + ". Remove them, or pass strict=False to skip them.")
        warnings.warn(
            message + ("; skipped." if len(bad) <= 3 else ", ...; skipped."), stacklevel=2
        )
    if len(sizes) > 1:
        raise ValueError(
            f"Images in {root} have different sizes ({', '.join(map(str, sorted(sizes)[:4]))}). "
            "Pass image_size=(height, width) to resize them all."
        )
    if images is None:
        raise ValueError(f"No readable images in {root}.")

    # Rows of `images` and labels per split; the images themselves are copied once, at the end.
    spans, start = {}, 0
    for split, group in files.items():
        rows = np.arange(start, start + len(group))
        labels = np.array([label for _, label in group], np.int64)
        start += len(group)
        kept = ok[rows]
        # Folders list images class by class; shuffle once (fixed seed) so a split's first
        # images show every class, as a downloaded dataset's do.
        order = np.random.default_rng(_TEST_SEED).permutation(int(kept.sum()))
        spans[split] = (rows[kept][order], labels[kept][order])

    notes = []
    if "test" not in spans:
        rows, labels = spans["train"]
        n_test = max(1, round(len(labels) * test_split))
        keep, held = _split_indices(labels, n_test, _TEST_SEED)
        rng = np.random.default_rng(_TEST_SEED)
        keep, held = rng.permutation(keep), rng.permutation(held)
        spans["test"] = (rows[held], labels[held])
        spans["train"] = (rows[keep], labels[keep])
        notes.append(f"no test split in {root}: carved {len(held)} images from train (seed 0)")
        print(f"cnnkit: {notes[-1]}.")
    train, test, val = [
        (images[spans[split][0]], spans[split][1]) if split in spans else None
        for split in ("train", "test", "val")
    ]
    del images  # before the validation split copies the training images once more
    h, w, c = train[0].shape[1:]
    data = _record(
        name,
        train,
        test,
        val=val,
        class_names=class_names,
        source=f"folder: {root}",
        description=f"{name}: {len(class_names)} classes of {h}x{w}x{c} images from {root}",
    )
    data.notes += notes
    return _finish(data, limit=limit, val_split=val_split, seed=seed)


def _list_files(folder: Path, class_names: list[str], root: Path) -> list[tuple[Path, int]]:
    listed = []
    for label, class_name in enumerate(class_names):
        class_dir = folder / class_name
        if class_dir.is_dir():
            listed += [
                (p, label)
                for p in sorted(class_dir.iterdir())
                if p.is_file() and not p.name.startswith(".")
            ]
    return listed


def _read_images(
    files: list[Path], *, image_size: tuple[int, int] | None, color_mode: str
) -> tuple[np.ndarray | None, np.ndarray, list[tuple[Path, str]], set[tuple[int, int]]]:
    """Decode files in parallel threads (Pillow releases the GIL) into one uint8 array.

    Returns:
        ``(images, ok, bad, sizes)``: ``images`` (len(files), H, W, C), row i holding
        ``files[i]`` where ``ok[i]`` (None when no file was readable); ``bad`` the unreadable
        files with the reason; ``sizes`` every (height, width) met (more than one: the rows of
        the other sizes are left empty).
        Each image goes straight into its row: no list of 50,000 small arrays, which would
        leave hundreds of MB of fragmented memory behind.
    """
    from PIL import Image, UnidentifiedImageError

    def read(path: Path) -> tuple[np.ndarray | None, str]:
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            return None, "not an image file type"
        try:
            with Image.open(path) as img:
                img.load()
                mode = {"rgb": "RGB", "grayscale": "L"}.get(color_mode)
                if mode is None:
                    mode = "L" if img.mode in ("L", "1", "I;16", "I") else "RGB"
                img = img.convert(mode)
                if image_size is not None and img.size != (image_size[1], image_size[0]):
                    img = img.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
                array = np.asarray(img, np.uint8)
                return (array if array.ndim == 3 else array[..., None]), ""
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            return None, type(error).__name__

    images: np.ndarray | None = None
    ok = np.zeros(len(files), bool)
    bad: list[tuple[Path, str]] = []
    sizes: set[tuple[int, int]] = set()
    workers = min(16, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, (array, why) in enumerate(pool.map(read, files, chunksize=64)):
            if array is None:
                bad.append((files[i], why))
                continue
            sizes.add(array.shape[:2])
            if images is None:
                images = np.zeros((len(files), *array.shape), np.uint8)
            if array.shape[:2] != images.shape[1:3]:
                continue  # the caller reports the sizes
            if array.shape[2] != images.shape[3]:  # "auto" met grey and colour: all RGB
                if images.shape[3] == 1:
                    images = np.repeat(images, 3, axis=3)
                else:
                    array = np.repeat(array, 3, axis=2)
            images[i] = array
            ok[i] = True
    return images, ok, bad, sizes


# ----------------------------------------------------------------------------- stand-ins


def make_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 real 8x8 digits, upscaled to MNIST's layout.

    Each 8x8 digit (values 0-16) is resized to 20x20 and centred in a 28x28 frame with a
    4-pixel margin, as MNIST centres its digits, and scaled to 0-255.

    Returns:
        x: (1797, 28, 28, 1) uint8 images; y: (1797,) int64 labels 0-9.
    """
    from skimage.transform import resize
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images / 16.0
    big = resize(small, (len(small), 20, 20), order=3, anti_aliasing=False)
    x = np.zeros((len(small), 28, 28), np.float64)
    x[:, 4:24, 4:24] = np.clip(big, 0, 1)
    return (x[..., None] * 255).round().astype(np.uint8), digits.target.astype(np.int64)


def _digits() -> Dataset:
    x, y = make_digits()
    keep, held = _split_indices(y, round(0.2 * len(y)), _TEST_SEED)
    return _record(
        "digits",
        (x[keep], y[keep]),
        (x[held], y[held]),
        class_names=[str(i) for i in range(10)],
        source="stand-in: scikit-learn's load_digits (ships with scikit-learn)",
        description="1,797 real 8x8 handwritten digits upscaled to 28x28x1",
        is_real=True,
    )


def _shapes(*, seed: int, limit: int | None = None) -> Dataset:
    """10,000 train and 2,000 test images; with `limit`, only as many as will be kept.

    ``make_shapes`` deals the classes out balanced in a shuffled order, so the first `limit`
    images are already a balanced subset and generating more would be wasted time.
    """
    n_train, n_test = 10_000, 2_000
    if limit is not None:
        n_train, n_test = min(n_train, limit), min(n_test, limit)
    x, y = make_shapes(n_train + n_test, seed=seed)
    return _record(
        "shapes",
        (x[:n_train], y[:n_train]),
        (x[n_train:], y[n_train:]),
        class_names=list(SHAPE_CLASSES),
        source=f"stand-in: generated by cnnkit.data.make_shapes (seed {seed})",
        description="coloured geometric shapes on textured backgrounds, 32x32x3, 10 classes",
        is_real=False,
    )


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    def ring_of(n: int, radii: list[float], start: float) -> list[tuple[float, float]]:
        step = 2 * math.pi / n
        return [
            (
                cx + radii[k % len(radii)] * math.cos(start + k * step),
                cy + radii[k % len(radii)] * math.sin(start + k * step),
            )
            for k in range(n)
        ]

    if kind == "square":
        return ring_of(4, [r], angle + math.pi / 4)
    if kind == "diamond":
        return ring_of(4, [r * 1.2, r * 0.75], angle)
    if kind == "triangle":
        return ring_of(3, [r * 1.15], angle - math.pi / 2)
    if kind == "hexagon":
        return ring_of(6, [r], angle)
    if kind == "star":
        return ring_of(10, [r * 1.15, r * 0.45], angle - math.pi / 2)
    if kind in ("cross", "bar"):
        if kind == "bar":
            outline = [(-1, -0.28), (1, -0.28), (1, 0.28), (-1, 0.28)]
        else:
            a, b = 0.32, 1.0
            outline = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a),
                       (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]  # fmt: skip
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + r * (u * c - v * s), cy + r * (u * s + v * c)) for u, v in outline]
    if kind == "crescent":
        # Outer circle minus a circle shifted by d*r: walk the outer arc, then the inner one back.
        d, rho = 0.55, 0.8
        x_cut = (1 - rho**2 + d**2) / (2 * d)
        t_out = math.acos(x_cut)
        t_in = math.atan2(math.sqrt(1 - x_cut**2), x_cut - d)
        outer = np.linspace(t_out, 2 * math.pi - t_out, 24)
        inner = np.linspace(2 * math.pi - t_in, t_in, 20)
        unit = [(math.cos(t), math.sin(t)) for t in outer]
        unit += [(d + rho * math.cos(t), rho * math.sin(t)) for t in inner]
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + r * (u * c - v * s), cy + r * (u * s + v * c)) for u, v in unit]
    raise ValueError(f"Unknown shape kind. Known: {', '.join(SHAPE_CLASSES)}. Received: {kind!r}")


def draw_shape(
    draw,
    kind: str,
    center: tuple[float, float],
    radius: float,
    color,
    angle: float = 0.0,
) -> None:
    """Draw one filled shape with Pillow.

    Args:
        draw: a ``PIL.ImageDraw.ImageDraw``.
        kind: one of :data:`SHAPE_CLASSES`.
        center: (x, y) centre in pixels.
        radius: half the shape's size in pixels.
        color: fill colour as Pillow accepts it, e.g. (255, 0, 0).
        angle: rotation in radians (circles and rings ignore it).
    """
    cx, cy = center
    if kind in ("circle", "ring"):
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if kind == "circle":
            draw.ellipse(box, fill=color)
        else:
            draw.ellipse(box, outline=color, width=max(1, round(radius * 0.38)))
        return
    draw.polygon(_polygon(kind, cx, cy, radius, angle), fill=color)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random background in [0, 1]: a two-colour gradient, stripes and noise. (size, size, 3)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    direction = rng.uniform(0, 2 * math.pi)
    ramp = np.cos(direction) * xx + np.sin(direction) * yy
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-9)
    low, high = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    image = low + ramp[..., None] * (high - low)
    freq, theta = rng.uniform(2, 8), rng.uniform(0, math.pi)
    stripes = np.sin(2 * math.pi * freq * (np.cos(theta) * xx + np.sin(theta) * yy))
    image += rng.uniform(0, 0.15) * stripes[..., None]
    image += rng.normal(0, rng.uniform(0.01, 0.06), image.shape)
    return np.clip(image, 0, 1)


def make_shapes(
    n: int, *, image_size: int = 32, seed: int = 0, classes: tuple[str, ...] = SHAPE_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Generate `n` images of one coloured shape each on a textured background.

    Size, position, rotation and colours vary; the shape's colour is chosen to stand out
    from its background. Drawn at 4x and downsampled, so edges are smooth. Reproducible:
    the same `seed` gives the same images.

    Args:
        n: number of images (classes are balanced, in a shuffled order).
        image_size: side in pixels.
        seed: random seed.
        classes: shape kinds to draw, each one of :data:`SHAPE_CLASSES`.

    Returns:
        x: (n, image_size, image_size, 3) uint8 images; y: (n,) int64 indices into `classes`.
    """
    from PIL import Image, ImageDraw

    if n < 1 or image_size < 8:
        raise ValueError(
            f"`n` must be >= 1 and `image_size` >= 8. Received: n={n}, image_size={image_size}"
        )
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(classes)).astype(np.int64)
    scale = 4
    big = image_size * scale
    x = np.empty((n, image_size, image_size, 3), np.uint8)
    for i, label in enumerate(y):
        background = _texture(rng, image_size)
        canvas = Image.fromarray((background * 255).astype(np.uint8)).resize(
            (big, big), Image.Resampling.BILINEAR
        )
        luminance = background.mean()
        hue_color = rng.uniform(0, 1, 3)
        hue_color = hue_color / (hue_color.max() + 1e-9)
        color = hue_color * 0.35 if luminance > 0.5 else 0.55 + 0.45 * hue_color
        radius = rng.uniform(0.22, 0.4) * big
        margin = radius * 1.1
        center = tuple(rng.uniform(margin, big - margin, 2))
        draw_shape(
            ImageDraw.Draw(canvas),
            classes[label],
            center,
            radius,
            tuple(int(c * 255) for c in color),
            angle=rng.uniform(0, 2 * math.pi),
        )
        x[i] = np.asarray(canvas.resize((image_size, image_size), Image.Resampling.BOX))
    return x, y


# ----------------------------------------------------------------------------- prefetch


def prefetch(
    names: list[str] | None = None, *, weights: bool = True, progress: bool = True
) -> list[dict[str, Any]]:
    """Download every dataset and pretrained weight file the notebooks use into Keras' cache.

    For an instructor preparing a classroom without internet: run once while online, then
    copy ``~/.keras`` to the classroom machines. Each file's SHA-256 (or size, where no
    checksum is published) is verified.

    Args:
        names: datasets to fetch (default: every real one in the manifest).
        weights: also fetch the pretrained weights of the transfer-learning notebook.
        progress: print one line per item.

    Returns:
        One dict per item: ``name``, ``status`` (``"cached"``, ``"fetched"`` or ``"failed"``),
        ``path`` and ``detail``.
    """
    table = manifest()
    real = [k for k in table if k != "pretrained"]
    names = real if names is None else list(names)
    unknown = [n for n in names if n not in real]
    if unknown:
        raise ValueError(
            f"Unknown dataset name(s) for prefetch. Known: {', '.join(real)}. Received: {unknown}"
        )
    report = []
    for name in names:
        try:
            status = "cached"
            verified = _cache_ready(name)
            if not verified:
                _download(name)
                status = "fetched"
                verified = _cache_ready(name)
            detail = "checksum verified" if verified else "checksum MISMATCH"
            if not verified:
                status = "failed"
        except Exception as error:  # report every item, whatever failed
            status, detail = "failed", f"{type(error).__name__}: {error}"
        report.append(
            {"name": name, "status": status, "path": str(_keras_datasets()), "detail": detail}
        )
    if weights:
        import keras

        for key, spec in table["pretrained"].items():
            had = (_keras_datasets().parent / "models" / spec["fname"]).is_file()
            try:
                getattr(keras.applications, spec["application"])(
                    **{k: tuple(v) if isinstance(v, list) else v for k, v in spec["kwargs"].items()}
                )
                # Keras publishes no checksum for these files; loading them is the check.
                status = "cached" if had else "fetched"
                detail = "loaded into the model (Keras publishes no checksum for it)"
            except Exception as error:  # report every item, whatever failed
                status, detail = "failed", f"{type(error).__name__}: {error}"
            report.append(
                {
                    "name": key,
                    "status": status,
                    "path": str(_keras_datasets().parent / "models"),
                    "detail": detail,
                }
            )
    if progress:
        for row in report:
            print(f"{row['status']:>8}  {row['name']:<18} {row['detail']}")
    return report
