"""Keras' dataset cache: checksums, downloads through Keras' ``get_file``, and ``prefetch``.

A cached file whose SHA-256 (or size) does not match the manifest is moved aside, never
deleted, so it can be fetched again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from .dataset import Dataset, manifest
from .folders import from_directory
from .readers import read_cifar_bin, read_idx_folder, read_mnist_npz

__all__ = ["cache_ready", "download", "from_keras_cache", "keras_datasets_dir", "prefetch"]


def keras_datasets_dir() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


def cache_ready(name: str) -> bool:
    """True when every file of `name` sits in Keras' cache with the right checksum.

    A cached download whose SHA-256 (or size) does not match is moved aside, with what was
    extracted from it, never deleted, so it can be fetched again.
    """
    for item in manifest()[name]["files"]:
        path = keras_datasets_dir() / item.get("subdir", "") / item["fname"]
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


def from_keras_cache(name: str) -> Dataset | None:
    """Read `name` from Keras' cache after checking its checksum, or None when absent."""
    if not cache_ready(name):
        return None
    cache_dir = keras_datasets_dir()
    source = f"Keras cache: {cache_dir}"
    if name == "mnist":
        return read_mnist_npz(cache_dir / "mnist.npz", source=source)
    if name == "fashion_mnist":
        return read_idx_folder(cache_dir / "fashion-mnist", source=source)
    extracted = _extracted_dir(manifest()[name]["files"][0])
    if name == "cifar10":
        return read_cifar_bin(extracted / "cifar-10-batches-bin", source=source)
    data = from_directory(extracted / "cats_and_dogs_filtered", image_size=(160, 160), name=name)
    data.source = source
    return data


def _extracted_dir(item: dict) -> Path:
    """Where Keras' ``get_file(fname, extract=True)`` unpacks an archive named ``fname``."""
    return keras_datasets_dir() / f"{item['fname'][: item['fname'].find('.')]}_extracted"


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


def download(name: str) -> list[Path]:
    """Fetch every file of `name` into Keras' cache with Keras' own ``get_file``."""
    from keras.utils import get_file

    paths = []
    cache_dir = keras_datasets_dir()
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
            verified = cache_ready(name)
            if not verified:
                download(name)
                status = "fetched"
                verified = cache_ready(name)
            detail = "checksum verified" if verified else "checksum MISMATCH"
            if not verified:
                status = "failed"
        except Exception as error:  # report every item, whatever failed
            status, detail = "failed", f"{type(error).__name__}: {error}"
        report.append(
            {"name": name, "status": status, "path": str(keras_datasets_dir()), "detail": detail}
        )
    if weights:
        import keras

        for key, spec in table["pretrained"].items():
            had = (keras_datasets_dir().parent / "models" / spec["fname"]).is_file()
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
                    "path": str(keras_datasets_dir().parent / "models"),
                    "detail": detail,
                }
            )
    if progress:
        for row in report:
            print(f"{row['status']:>8}  {row['name']:<18} {row['detail']}")
    return report
