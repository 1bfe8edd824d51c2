"""Where ``load(name)`` finds a dataset: a data dir, ``CNNKIT_DATA_DIR``, Keras' cache, a
download, and finally a stand-in."""

from __future__ import annotations

import os
from pathlib import Path

from .. import env
from .cache import download, from_keras_cache, keras_datasets_dir
from .dataset import Dataset, finish_splits, manifest
from .folders import from_directory
from .readers import read_cifar_bin, read_idx_folder, read_mnist_npz
from .synthetic import digits_dataset, shapes_dataset

__all__ = ["NAMES", "load"]

NAMES = ("mnist", "fashion_mnist", "cifar10", "digits", "shapes", "cats_vs_dogs")


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
        data = digits_dataset()
    elif name == "shapes":
        data = shapes_dataset(seed=seed, limit=limit)
    else:
        data = _real(name, data_dir=data_dir, offline=offline, seed=seed, limit=limit)
    return finish_splits(data, limit=limit, val_split=val_split, seed=seed)


def _real(name: str, *, data_dir, offline: bool | None, seed: int, limit: int | None) -> Dataset:
    info = manifest()[name]
    for where, folder in (("data_dir", data_dir), ("CNNKIT_DATA_DIR", env.data_dir())):
        if folder is not None:
            found = _from_folder(name, Path(folder).expanduser(), where)
            if found is not None:
                return found
    reason = "offline mode (CNNKIT_OFFLINE or offline=True)"
    try:
        cached = from_keras_cache(name)
    except (OSError, ValueError) as error:  # an odd or damaged cache: say so, never crash here
        cached, reason = None, f"the Keras cache is not usable: {error}"
    if cached is not None:
        return cached

    no_download = env.is_offline() if offline is None else offline
    if not no_download:
        try:
            download(name)
            cached = from_keras_cache(name)
            if cached is not None:
                return cached
            reason = "the download finished but the files could not be read"
        except Exception as error:  # network errors come in many types
            reason = f"download failed: {type(error).__name__}: {error}"
    if offline is False:
        raise RuntimeError(
            f"{info['title']} is not on this machine and could not be downloaded ({reason}). "
            f"Looked in data_dir, CNNKIT_DATA_DIR and {keras_datasets_dir()}. Go online, or put "
            "the files in a data dir (see `python -m cnnkit prefetch`)."
        )
    if info["standin"] is None:
        raise RuntimeError(
            f"{info['title']} is not available ({reason}) and has no stand-in. Looked in "
            f"data_dir, CNNKIT_DATA_DIR and {keras_datasets_dir()}. Run "
            "`python -m cnnkit prefetch` once while online, or set CNNKIT_DATA_DIR to a folder "
            f"holding {name}/train/<class>/."
        )
    standin = (
        digits_dataset() if info["standin"] == "digits" else shapes_dataset(seed=seed, limit=limit)
    )
    print(
        f"cnnkit: {info['title']} is not available ({reason}); using the stand-in "
        f"{standin.name!r} ({standin.description}). For the real data: go online, or run "
        "`python -m cnnkit prefetch`, or set CNNKIT_DATA_DIR."
    )
    standin.notes.append(f"stand-in for {name}")
    standin.is_real = False
    return standin


def _from_folder(name: str, folder: Path, where: str) -> Dataset | None:
    """Read `name` from a user's data dir, or None when it is not there. Never alters files."""
    if not folder.is_dir():
        raise ValueError(
            f"`{where}` is not a folder. Point it at a folder holding mnist.npz or "
            f"<name>/train/<class>/ image folders. Received: {where}={str(folder)!r}"
        )
    info = manifest()[name]
    if name == "mnist" and (folder / "mnist.npz").is_file():
        return read_mnist_npz(folder / "mnist.npz", source=f"{where}: {folder / 'mnist.npz'}")
    if name == "fashion_mnist" and (folder / "fashion-mnist").is_dir():
        return read_idx_folder(folder / "fashion-mnist", source=f"{where}: {folder}")
    if name == "cifar10" and (folder / "cifar-10-batches-bin").is_dir():
        return read_cifar_bin(folder / "cifar-10-batches-bin", source=f"{where}: {folder}")
    for sub in (name, Path(info["files"][0]["fname"]).stem.split(".")[0]):
        if (folder / sub).is_dir():
            image_size = (160, 160) if name == "cats_vs_dogs" else None
            data = from_directory(folder / sub, image_size=image_size, name=name)
            data.source = f"{where}: {folder / sub}"
            return data
    return None
