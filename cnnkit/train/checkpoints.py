"""Checkpoints that survive a killed process or a full disk, and what a checkpoint belongs to.

After every epoch :class:`EpochCheckpoint` writes the weights and optimizer state, then a small
record (epoch, the weights' SHA-256, the whole history so far). Each file goes to a temporary
name in the same folder, is flushed and fsync'ed, then renamed into place (atomic on POSIX); the
record is written last, so a checkpoint exists only once both files are whole, and the previous
good one is deleted only after that. :func:`restore` loads the newest checkpoint that verifies
and falls back to the one before it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..data.cache import file_sha256

__all__ = [
    "Checkpoint",
    "EpochCheckpoint",
    "atomic_write",
    "check_fingerprint",
    "data_signature",
    "fingerprint",
    "restore",
]


def _strip_names(value):
    if isinstance(value, dict):
        return {k: _strip_names(v) for k, v in sorted(value.items()) if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_strip_names(v) for v in value]
    return value


def fingerprint(model: keras.Model, run: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint belongs to: the architecture (names aside) and the run's arguments."""
    layers = [
        {
            "class": type(layer).__name__,
            "config": _strip_names(layer.get_config()),
            "weights": [list(w.shape) for w in layer.weights],
        }
        for layer in model.layers
    ]
    architecture = json.dumps(layers, sort_keys=True, default=str)
    return {
        "architecture": hashlib.sha256(architecture.encode()).hexdigest(),
        "parameters": int(model.count_params()),
        **run,
    }


def data_signature(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(str((x.shape, x.dtype.str)).encode())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(np.ascontiguousarray(x[:: max(len(x) // 64, 1)]).tobytes())
    return digest.hexdigest()[:16]


def check_fingerprint(folder: Path, fingerprint: dict[str, Any]) -> None:
    path = folder / "fingerprint.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != fingerprint:
            keys = set(stored) | set(fingerprint)
            differ = sorted(k for k in keys if stored.get(k) != fingerprint.get(k))
            raise ValueError(
                "`checkpoint_dir` holds the checkpoint of a different run (it differs in: "
                f"{', '.join(differ)}), so it was not loaded. Pass a new `checkpoint_dir`, or "
                f"delete this one to start over. Received: checkpoint_dir='{folder}'"
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(fingerprint, indent=1, sort_keys=True)
        atomic_write(path, lambda tmp: tmp.write_text(text))


# ---------------------------------------------------------------- checkpoints that survive a kill

_RECORD = re.compile(r"^epoch-(\d{4,})\.json$")
_KEEP = 2  # the newest checkpoint and the good one before it


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` all at once: ``write(tmp)`` fills a temporary file beside it, then a rename.

    The temporary file keeps ``path``'s suffixes (Keras checks them) and is fsync'ed before the
    rename, the folder after it, so after a crash ``path`` holds its old content or the whole
    new one, never a part. When ``write`` fails (a full disk, say) the temporary file is removed,
    ``path`` is left as it was, and the error propagates.
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint: ``epoch`` (0-based, the last one trained), the weights file
    (model and optimizer state), ``history`` (every epoch's logs up to ``epoch``) and ``best``,
    the best monitored value so far."""

    epoch: int
    weights: Path
    history: dict[str, list[float]]
    best: float | None


def _records(folder: Path) -> list[Path]:
    found = [
        (int(m.group(1)), p) for p in folder.glob("epoch-*.json") if (m := _RECORD.match(p.name))
    ]
    return [p for _, p in sorted(found, reverse=True)]


def restore(model: keras.Model, folder: str | os.PathLike) -> Checkpoint | None:
    """Load the newest good checkpoint of ``folder`` into the compiled ``model``; None if none.

    A checkpoint whose record or weights file is missing, does not match its SHA-256 or does
    not load is skipped for the one before it.

    Raises:
        ValueError: when checkpoints exist but none is usable, naming the folder and what was
            wrong with each.
    """
    folder = Path(folder)
    model.optimizer.build(model.trainable_variables)
    problems = []
    for record in _records(folder):
        try:
            meta = json.loads(record.read_text())
            weights = folder / meta["weights"]
            if file_sha256(weights) != meta["sha256"]:
                raise ValueError(f"{weights.name} does not match the SHA-256 in its record")
            model.load_weights(weights)
            return Checkpoint(int(meta["epoch"]), weights, meta["history"], meta["best"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            problems.append(f"{record.name}: {type(error).__name__}: {error}")
    if problems:
        raise ValueError(
            f"No usable checkpoint in {folder} ({'; '.join(problems)}). Delete the folder to start "
            f"over, or pass another `checkpoint_dir`. Received: checkpoint_dir='{folder}'"
        )
    return None


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, write a checkpoint that a killed process or a full disk cannot break.

    Writes the weights and optimizer state to ``epoch-NNNN.weights.h5``, then the record
    ``epoch-NNNN.json`` (epoch, the weights' SHA-256, the history so far, the best value), each
    through :func:`atomic_write`, the record last, so a checkpoint exists once both are whole.
    The previous checkpoint is deleted only after the new one is complete. The best weights so
    far (by ``monitor``) go to ``best.weights.h5`` the same way. If a write fails, training stops
    with an OSError that names the last good checkpoint, which is left untouched.
    """

    def __init__(self, folder: Path, *, monitor: str, mode: str, resumed: Checkpoint | None):
        super().__init__()
        self.folder = Path(folder)
        self.monitor, self.mode = monitor, mode
        self.history: dict[str, list[float]] = dict(resumed.history) if resumed else {}
        self.best = resumed.best if resumed else None
        self.last_good = resumed.epoch if resumed else None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        value = logs.get(self.monitor)
        improved = value is not None and (
            self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        )
        try:
            if improved:
                atomic_write(self.folder / "best.weights.h5", self.model.save_weights)
                self.best = float(value)
            weights = atomic_write(
                self.folder / f"epoch-{epoch:04d}.weights.h5", self.model.save_weights
            )
            record = {
                "epoch": epoch,
                "weights": weights.name,
                "sha256": file_sha256(weights),
                "history": self.history,
                "best": self.best,
            }
            atomic_write(
                self.folder / f"epoch-{epoch:04d}.json",
                lambda tmp: tmp.write_text(json.dumps(record)),
            )
        except OSError as error:
            last = "none yet" if self.last_good is None else f"epoch {self.last_good + 1}"
            raise OSError(
                error.errno,
                f"Could not write the checkpoint of epoch {epoch + 1} in {self.folder} "
                f"({error.strerror or error}). The last good checkpoint ({last}) is untouched: "
                "free some disk space and call fit again to resume from it.",
            ) from error
        self.last_good = epoch
        self._prune()

    def _prune(self) -> None:
        keep = {r.name for r in _records(self.folder)[:_KEEP]}
        keep |= {json.loads((self.folder / name).read_text())["weights"] for name in keep}
        for path in self.folder.glob("epoch-*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in self.folder.glob(".tmp-*"):
            path.unlink(missing_ok=True)
