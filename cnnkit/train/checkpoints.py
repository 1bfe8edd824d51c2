"""What a checkpoint belongs to, and the per-epoch log a resumed run picks up again."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = ["check_fingerprint", "data_signature", "fingerprint", "read_log"]


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
        path.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))


def read_log(path: Path) -> dict[str, list[float]]:
    """The per-epoch logs a CSVLogger wrote, across restarts (a re-run epoch keeps its last row)."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f)}
    history: dict[str, list[float]] = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if key != "epoch" and value not in ("", None):
                history.setdefault(key, []).append(float(value))
    return history
