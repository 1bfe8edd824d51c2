"""The environment a notebook runs in: seeds, devices, modes and switches.

Three environment variables steer the kit (all optional):

- ``CNNKIT_FAST=1``: fast mode, used by the test suite. Notebooks train on a few hundred
  images for a few epochs (see :func:`budget`).
- ``CNNKIT_OFFLINE=1``: never try to download; real datasets that are not on disk are
  replaced by their stand-ins (see :mod:`cnnkit.data`).
- ``CNNKIT_DATA_DIR=/path``: a folder holding real datasets (``mnist.npz``,
  ``cifar10/train/<class>/*.jpg`` ...).

``CNNKIT_BUDGET=fast|cpu|gpu`` forces a training budget, e.g. the CPU recipe on a GPU machine.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUDGETS",
    "budget",
    "data_dir",
    "devices",
    "doctor",
    "in_binder",
    "in_colab",
    "is_fast",
    "is_offline",
    "mode",
    "set_seed",
    "setup",
    "silence",
    "strategy",
]

BUDGETS = ("fast", "cpu", "gpu")
_TRUE = {"1", "true", "yes", "on"}
_UNSET = object()


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_fast() -> bool:
    """True when notebooks should use their fast-mode budget (``CNNKIT_FAST=1``)."""
    return mode() == "fast"


def is_offline() -> bool:
    """True when ``CNNKIT_OFFLINE`` asks the kit never to download anything."""
    return _flag("CNNKIT_OFFLINE")


def data_dir() -> Path | None:
    """The folder named by ``CNNKIT_DATA_DIR``, or None when it is unset."""
    value = os.environ.get("CNNKIT_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def in_binder() -> bool:
    """True inside a mybinder.org session."""
    return "BINDER_LAUNCH_HOST" in os.environ or "BINDER_REQUEST" in os.environ


def devices() -> list[str]:
    """The accelerators Keras' backend sees, e.g. ``["CPU"]`` or ``["CPU", "GPU:0", "GPU:1"]``.

    Returns:
        Device names; ``"CPU"`` always comes first.
    """
    import keras

    backend = keras.backend.backend()
    found: list[str] = []
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in ("GPU", "TPU"):
            found += [f"{kind}:{i}" for i, _ in enumerate(tf.config.list_physical_devices(kind))]
    elif backend == "jax":
        import jax

        found += [f"{d.platform.upper()}:{d.id}" for d in jax.devices() if d.platform != "cpu"]
    elif backend == "torch":
        import torch

        found += [f"GPU:{i}" for i in range(torch.cuda.device_count())]
    return ["CPU", *found]


def mode() -> str:
    """The training budget in force: ``"fast"``, ``"cpu"`` or ``"gpu"``.

    ``CNNKIT_BUDGET`` wins when set; otherwise ``CNNKIT_FAST=1`` gives ``"fast"``, a visible
    GPU or TPU gives ``"gpu"``, and anything else ``"cpu"``.
    """
    forced = os.environ.get("CNNKIT_BUDGET", "").strip().lower()
    if forced:
        if forced not in BUDGETS:
            raise ValueError(
                f"`CNNKIT_BUDGET` must be one of {', '.join(BUDGETS)}. Received: {forced!r}"
            )
        return forced
    if _flag("CNNKIT_FAST"):
        return "fast"
    return "gpu" if len(devices()) > 1 else "cpu"


def budget(*, fast: Any, cpu: Any, gpu: Any = _UNSET) -> Any:
    """Pick a training setting for the mode in force, so one notebook serves every machine.

    Example: ``epochs = cnnkit.budget(fast=1, cpu=10, gpu=40)`` gives 1 under the test suite,
    10 on a laptop or Binder, 40 on a Colab GPU.

    Args:
        fast: value in fast mode (tests: a few hundred images, a few epochs).
        cpu: value in CPU full mode (a 2-core laptop or Binder, minutes).
        gpu: value in GPU full mode (the slides' full recipe); defaults to ``cpu``.

    Returns:
        The value for :func:`mode`.
    """
    chosen = mode()
    if chosen == "fast":
        return fast
    if chosen == "gpu" and gpu is not _UNSET:
        return gpu
    return cpu


def set_seed(seed: int = 42) -> None:
    """Seed Python, NumPy and the Keras backend so a run can be repeated."""
    import keras

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - learners call np.random.* directly in notebooks
    keras.utils.set_random_seed(seed)


def strategy():
    """The ``tf.distribute`` strategy for this machine (TensorFlow backend only).

    A TPU (Colab) gives ``TPUStrategy``, several GPUs ``MirroredStrategy``, anything else the
    default strategy, so ``with cnnkit.env.strategy().scope(): model = ...`` scales a notebook
    without changing its code. See notebooks/08_resnet.ipynb.

    Returns:
        A ``tf.distribute.Strategy``.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "`strategy()` needs the TensorFlow backend (tf.distribute). "
            f"Received: KERAS_BACKEND={keras.backend.backend()!r}"
        )
    import tensorflow as tf

    if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def silence() -> None:
    """Hide the startup noise a learner should not see (TensorFlow's C++ and Python logs).

    TensorFlow's C++ runtime logs a few lines (oneDNN, CUDA drivers) straight to file
    descriptor 2 while it is imported, before any log level applies; Jupyter shows them in
    the notebook. Importing Keras with descriptor 2 pointed at /dev/null hides just those.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging
    import warnings

    if "keras" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
                import keras  # noqa: F401 - imported here for its side effect on fd 2 only
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*oneDNN.*")
    # Keras' ONNX export (keras/src/export/tf2onnx_lib.py) probes `hasattr(np, "object")`,
    # which NumPy 2 answers with a FutureWarning in the learner's export cell
    warnings.filterwarnings("ignore", message=r"In the future `np\.object`", category=FutureWarning)


def _facts() -> dict[str, Any]:
    import keras

    facts: dict[str, Any] = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
    }
    if facts["backend"] == "tensorflow":
        import tensorflow as tf

        facts["tensorflow"] = tf.__version__
    facts["devices"] = devices()
    facts["data_dir"] = str(data_dir()) if data_dir() else "~/.keras/datasets"
    facts["offline"] = is_offline()
    facts["mode"] = mode()
    facts["colab"] = in_colab()
    facts["binder"] = in_binder()
    return facts


def setup(seed: int = 42) -> None:
    """Prepare a notebook: silence startup noise, seed everything, print one line of facts.

    Args:
        seed: seed for Python, NumPy and the Keras backend.

    Returns nothing, so a notebook's setup cell shows just the line; :func:`doctor` returns
    the same facts as a dict.
    """
    silence()
    set_seed(seed)
    facts = _facts()
    where = " (Colab)" if facts["colab"] else " (Binder)" if facts["binder"] else ""
    tf_part = f", TensorFlow {facts['tensorflow']}" if "tensorflow" in facts else ""
    print(
        f"cnnkit: Keras {facts['keras']} on {facts['backend']}{tf_part}{where} | "
        f"devices: {', '.join(facts['devices'])} | data: {facts['data_dir']} | "
        f"{'offline' if facts['offline'] else 'online'} | mode: {facts['mode']} | seed {seed}"
    )


def doctor() -> dict[str, Any]:
    """A longer environment report for ``python -m cnnkit doctor``: facts plus package versions."""
    from importlib import metadata

    facts = _facts()
    for package in ("numpy", "scikit-learn", "matplotlib", "pandas", "jupyterlab", "ipywidgets"):
        try:
            facts[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[package] = "not installed"
    return facts
