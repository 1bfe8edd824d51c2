"""A user's own image folders as a :class:`~cnnkit.data.dataset.Dataset`: ``from_directory``."""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .dataset import TEST_SEED, Dataset, finish_splits, record, split_indices

__all__ = ["from_directory"]

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_SPLIT_DIRS = ("train", "validation", "val", "test")


def from_directory(
    path: str | os.PathLike,
    *,
    image_size: tuple[int, int] | None = None,
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
    empty = sorted(set(class_names) - {class_names[label] for _, label in files["train"]})
    if files["train"] and empty:
        raise ValueError(
            f"These class folder(s) hold no images: {', '.join(empty)} (in {train_dir}). An "
            "empty folder would become a class no image belongs to: add images or remove it."
        )
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
        order = np.random.default_rng(TEST_SEED).permutation(int(kept.sum()))
        spans[split] = (rows[kept][order], labels[kept][order])

    notes = []
    if "test" not in spans:
        rows, labels = spans["train"]
        n_test = max(1, round(len(labels) * test_split))
        keep, held = split_indices(labels, n_test, TEST_SEED)
        rng = np.random.default_rng(TEST_SEED)
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
    data = record(
        name,
        train,
        test,
        val=val,
        class_names=class_names,
        source=f"folder: {root}",
        description=f"{name}: {len(class_names)} classes of {h}x{w}x{c} images from {root}",
    )
    data.notes += notes
    return finish_splits(data, limit=limit, val_split=val_split, seed=seed)


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


def _to_8bit(img):
    """16-bit and 32-bit grey images scaled to 8 bits (Pillow's convert would clip them white)."""
    from PIL import Image

    if img.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        return img
    levels = np.asarray(img, np.float64)
    top = 65535.0 if img.mode.startswith("I;16") or levels.max() > 255 else 255.0
    return Image.fromarray(np.round(np.clip(levels, 0, top) * (255.0 / top)).astype(np.uint8))


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
                    mode = "L" if img.mode in ("L", "1", "I;16", "I;16B", "I", "F") else "RGB"
                img = _to_8bit(img).convert(mode)
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
