"""Measured reference results: what the full recipes reach on real data, in one place.

A short or offline run cannot always show what a lesson is about (a fast-mode MiniVGGNet
does not over-fit in six epochs of 540 images). Where that happens the notebook prints the
figure measured with the full recipe on real data, from here, so the text and the number
cannot drift apart. Each notebook has one JSON file beside this module
(``06_minivgg.json``), mapping a short key to one measurement::

    {"cpu": {"value": 0.724, "metric": "test accuracy", "model": "mini_vgg",
             "data": "real CIFAR-10: 36,000 training images, 10,000 test images",
             "recipe": "8 epochs, batch 128, SGD one-cycle peak 0.05, flip + shift",
             "seconds": 560, "measured": "2026-11-23",
             "machine": "a 2-core x86-64 virtual machine (AVX-512), TF 2.21, Keras 3.15"}}

``value``, ``metric``, ``data`` and ``machine`` are required; the rest are optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Result", "result", "results"]

_HERE = Path(__file__).parent
_REQUIRED = ("value", "metric", "data", "machine")


@dataclass(frozen=True)
class Result:
    """One measurement: ``value`` of ``metric`` for ``model`` trained with ``recipe`` on ``data``.

    ``seconds`` is training wall time in seconds (None where not recorded); ``measured`` is the
    ISO date of the run.
    """

    key: str
    value: float
    metric: str
    data: str
    machine: str
    model: str | None = None
    recipe: str | None = None
    epochs: int | None = None
    seconds: float | None = None
    measured: str | None = None
    command: str | None = None

    def describe(self) -> str:
        """One sentence a notebook can print, e.g. ``0.724 test accuracy (mini_vgg, ...)``."""
        value = f"{self.value:.3f}" if isinstance(self.value, float) else f"{self.value:,}"
        parts = [p for p in (self.model, self.data, self.recipe) if p]
        if self.epochs is not None and not (self.recipe and "epoch" in self.recipe):
            parts.append(f"{self.epochs} epochs")
        if self.seconds is not None:
            parts.append(f"{self.seconds:,.0f} s of training")
        parts.append(f"on {self.machine}")
        if self.measured:
            parts.append(f"measured {self.measured}")
        return f"{value} {self.metric} ({'; '.join(parts)})"

    def __str__(self) -> str:
        return self.describe()


@cache
def _table() -> dict[str, Result]:
    table = {}
    for path in sorted(_HERE.glob("*.json")):
        for name, fields in json.loads(path.read_text()).items():
            key = f"{path.stem}/{name}"
            missing = [f for f in _REQUIRED if f not in fields]
            if missing:
                raise ValueError(f"reference result {key!r} in {path.name} lacks {missing}")
            table[key] = Result(key=key, **fields)
    return table


def result(key: str) -> Result:
    """The measurement stored under ``key``, ``"<notebook stem>/<name>"`` (``"06_minivgg/cpu"``).

    Raises:
        KeyError: naming the keys that exist for that notebook.
    """
    table = _table()
    if key not in table:
        notebook = key.split("/", 1)[0]
        known = sorted(k for k in table if k.startswith(f"{notebook}/")) or sorted(table)
        raise KeyError(f"no reference result {key!r}; known: {', '.join(known)}")
    return table[key]


def results(notebook: str | None = None) -> list[Result]:
    """Every stored measurement, or those of one notebook (its file stem, e.g. ``"06_minivgg"``)."""
    return [r for k, r in _table().items() if notebook is None or k.startswith(f"{notebook}/")]
