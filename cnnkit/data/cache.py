"""Keras' dataset cache: checksums, downloads through Keras' ``get_file``, and ``prefetch``.

Every download is verified (SHA-256, or size where none is published) before it is used or
extracted; a download that stalls for ``CNNKIT_DOWNLOAD_TIMEOUT`` seconds is abandoned with a
clear error; ``CNNKIT_MIRROR`` takes every file from a classroom mirror instead of its URL.
Archives are extracted into a temporary folder renamed into place when complete, with a marker
naming the archive; a folder without that marker is never read. A cached file that fails its
checksum is moved aside (never deleted) when cnnkit downloaded it, and otherwise left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import socket
import tarfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .dataset import Dataset, manifest
from .folders import from_directory
from .readers import read_cifar_bin, read_idx_folder, read_mnist_npz

__all__ = [
    "DEFAULT_TIMEOUT",
    "cache_ready",
    "checksum_ok",
    "download",
    "download_timeout",
    "file_sha256",
    "from_keras_cache",
    "keras_datasets_dir",
    "origin",
    "prefetch",
]


def keras_datasets_dir() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


def cache_ready(name: str) -> bool:
    """True when every file of `name` is in Keras' cache and verified (archives: extracted).

    A verified archive that is not yet extracted (or whose extraction was cut short) is
    extracted here. A file that fails its checksum is moved aside when cnnkit downloaded it,
    and reported and left alone when it did not.

    Raises:
        ValueError: when a folder sits where the cache needs a file.
    """
    for item in manifest()[name]["files"]:
        path = keras_datasets_dir() / item.get("subdir", "") / item["fname"]
        if item.get("extract") and _extraction_ok(item):
            continue  # the archive may be gone after extraction; a marked folder is enough
        if path.is_dir():
            raise ValueError(
                f"{path} is a folder where cnnkit expects the downloaded file {item['fname']}. "
                "Move it away (cnnkit does not touch it) to let cnnkit fetch the file."
            )
        if not path.is_file():
            return False
        if not checksum_ok(path, item):
            _mismatch(path)
            return False
        if item.get("extract"):
            _extract(path, item)
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


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_ok(path: Path, item: dict) -> bool:
    """True when ``path`` has manifest entry ``item``'s SHA-256 (or its size, without one)."""
    if item.get("sha256"):
        return file_sha256(path) == item["sha256"]
    return path.stat().st_size == item["size"]


def _move_aside(
    path: Path, why: str = "does not match its checksum (truncated or corrupt download)"
) -> Path:
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.move(str(path), str(target))
    warnings.warn(f"{path} {why}; moved it aside to {target}.", stacklevel=3)
    return target


DEFAULT_TIMEOUT = 60.0
"""Seconds a download may go without receiving a byte before it counts as stalled."""

_ATTEMPTS = 2
_MARKER = ".cnnkit-extracted.json"
_FETCHED = ".cnnkit-fetched.json"


def download_timeout() -> float:
    """``CNNKIT_DOWNLOAD_TIMEOUT`` in seconds (default 60): how long a download may stall."""
    raw = os.environ.get("CNNKIT_DOWNLOAD_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            "`CNNKIT_DOWNLOAD_TIMEOUT` must be a positive number of seconds, e.g. 60. "
            f"Received: CNNKIT_DOWNLOAD_TIMEOUT={raw!r}"
        )
    return seconds


def origin(item: dict) -> str:
    """Where a manifest file is fetched from: ``$CNNKIT_MIRROR/<file name>``, or its own URL."""
    mirror = os.environ.get("CNNKIT_MIRROR", "").strip().rstrip("/")
    if not mirror:
        return item["url"]
    if not mirror.startswith(("http://", "https://")):
        raise ValueError(
            "`CNNKIT_MIRROR` must be an http(s) address such as http://192.168.1.20:8000 "
            f"(see `python -m cnnkit mirror`). Received: CNNKIT_MIRROR={mirror!r}"
        )
    return f"{mirror}/{item['fname']}"


def _fetched_record() -> Path:
    return keras_datasets_dir() / _FETCHED


def _fetched_by_kit(path: Path) -> bool:
    """True when cnnkit itself downloaded ``path`` (it never renames a file it did not write)."""
    try:
        return str(path) in json.loads(_fetched_record().read_text())
    except (OSError, ValueError):
        return False


def _remember_fetched(path: Path) -> None:
    record = _fetched_record()
    try:
        known = set(json.loads(record.read_text()))
    except (OSError, ValueError):
        known = set()
    known.add(str(path))
    record.write_text(json.dumps(sorted(known), indent=1))


def _mismatch(path: Path) -> None:
    """A cached file that fails its checksum: moved aside if cnnkit fetched it, else reported."""
    if _fetched_by_kit(path):
        _move_aside(path)
        return
    warnings.warn(
        f"{path} does not match the checksum cnnkit expects for it, and cnnkit did not download "
        "it, so it is left as it is and not used. If it is your own copy, put it in a data dir "
        "(`data_dir=` or CNNKIT_DATA_DIR), where cnnkit reads files without checking them.",
        stacklevel=3,
    )


@contextlib.contextmanager
def _stall_timeout(seconds: float) -> Iterator[None]:
    """Make every socket read give up after ``seconds`` without data (urllib reads this)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _stalled(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or "timed out" in str(error)


def _fetch(item: dict, folder: Path) -> Path:
    """Download one manifest file into ``folder`` with Keras' ``get_file``, then verify it.

    A download that receives nothing for :func:`download_timeout` seconds is abandoned (Keras
    removes the part it wrote) and tried once more. A file that arrives with the wrong
    checksum or size is moved aside and reported.
    """
    from keras.utils import get_file

    url, timeout, target = origin(item), download_timeout(), folder / item["fname"]
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with _stall_timeout(timeout):
                get_file(
                    item["fname"],
                    origin=url,
                    file_hash=item.get("sha256"),
                    cache_subdir=str(folder),
                    cache_dir=str(folder),
                    extract=False,
                )
            break
        except Exception as error:  # get_file wraps HTTP errors in a bare Exception
            if target.is_file():  # it arrived, but get_file found the wrong SHA-256
                moved = _move_aside(target)
                raise ValueError(
                    f"{item['fname']} from {url} does not match its SHA-256: the server sent "
                    f"another file (truncated or junk). It was moved aside to {moved}."
                ) from error
            if _stalled(error) and attempt < _ATTEMPTS:
                continue
            if _stalled(error):
                raise TimeoutError(
                    f"The download of {item['fname']} from {url} stalled: no data for "
                    f"{timeout:g} s, {_ATTEMPTS} times. Check the connection or proxy, raise "
                    "CNNKIT_DOWNLOAD_TIMEOUT (seconds), use a classroom mirror (CNNKIT_MIRROR, "
                    f"see `python -m cnnkit mirror`), or copy the file into {folder}."
                ) from error
            raise ConnectionError(
                f"Could not download {item['fname']} from {url} ({error}). Check the address "
                "(a mirror serves `<mirror>/<file name>`), go online, or copy the file into "
                f"{folder}."
            ) from error
    if not checksum_ok(target, item):
        size = target.stat().st_size
        moved = _move_aside(target)
        raise ValueError(
            f"{url} gave {size:,} bytes, expected {item['size']:,}: moved aside to {moved}."
        )
    _remember_fetched(target)
    return target


def _extract(archive: Path, item: dict) -> Path:
    """Unpack a verified ``archive`` into a temporary folder, then rename it into place.

    The finished folder holds a marker naming the archive and its checksum; a folder without
    one (an extraction killed half-way) is never read, and is moved aside before a new one
    takes its place. Members with absolute paths, ``..`` or links are refused.
    """
    final = _extracted_dir(item)
    partial = final.with_name(f"{final.name}.partial-{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                for zipped in handle.infolist():
                    _refuse_unsafe(zipped.filename, partial, archive)
                handle.extractall(partial)
        else:
            with tarfile.open(archive) as handle:
                members = handle.getmembers()
                for member in members:
                    if member.issym() or member.islnk():
                        raise ValueError(f"{archive} holds a link, {member.name!r}: refused.")
                    _refuse_unsafe(member.name, partial, archive)
                handle.extractall(partial, members=members, filter="data")
        marker = {"archive": archive.name, "sha256": item.get("sha256"), "size": item["size"]}
        (partial / _MARKER).write_text(json.dumps(marker))
        if final.exists():
            _move_aside(final, "is an extraction without cnnkit's marker (cut short?)")
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def _refuse_unsafe(name: str, root: Path, archive: Path) -> None:
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"{archive} holds {name!r}, a path outside its folder: refused.")


def _extraction_ok(item: dict) -> bool:
    """True when the archive's folder is a complete extraction of this very archive."""
    try:
        marker = json.loads((_extracted_dir(item) / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("sha256") == item.get("sha256") and marker.get("size") == item["size"]


def download(name: str) -> list[Path]:
    """Fetch every file of `name` into Keras' cache, verified, and extract its archives.

    Raises:
        PermissionError: when the cache folder cannot be written.
        ValueError: when a file arrives with the wrong checksum or size (it is moved aside), or
            when a file cnnkit did not download is in the way.
        TimeoutError: when a download stalls (see :func:`download_timeout`), twice.
        ConnectionError: when the server cannot be reached or answers with an error.
    """
    paths = []
    for item in manifest()[name]["files"]:
        if item.get("extract") and _extraction_ok(item):
            continue
        folder = keras_datasets_dir() / item.get("subdir", "")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PermissionError(
                f"Cannot create the dataset cache {folder} ({error.strerror}). Set KERAS_HOME to "
                "a folder you can write, or CNNKIT_DATA_DIR to a folder that holds the data."
            ) from error
        if not os.access(folder, os.W_OK):
            raise PermissionError(
                f"The dataset cache {folder} is read-only, so {item['fname']} cannot be saved "
                "there. Set KERAS_HOME to a folder you can write, or CNNKIT_DATA_DIR to a folder "
                "that holds the data."
            )
        path = folder / item["fname"]
        if path.exists() and not (path.is_file() and checksum_ok(path, item)):
            raise ValueError(
                f"{path} is in the way: it does not match {item['fname']}'s checksum and cnnkit "
                "did not download it, so it will not overwrite it. Move it away and try again."
            )
        if not path.exists():
            path = _fetch(item, folder)
        if item.get("extract"):
            _extract(path, item)
        paths.append(path)
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
                with _stall_timeout(download_timeout()):
                    if os.environ.get("CNNKIT_MIRROR", "").strip() and not had:
                        keras.utils.get_file(
                            spec["fname"], origin=origin({**spec, "url": ""}), cache_subdir="models"
                        )
                    getattr(keras.applications, spec["application"])(
                        **{
                            k: tuple(v) if isinstance(v, list) else v
                            for k, v in spec["kwargs"].items()
                        }
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
