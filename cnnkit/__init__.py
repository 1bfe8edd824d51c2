"""cnnkit: the helper package of a Keras 3 course on convolutional neural networks.

Notebooks start with ``cnnkit.setup()`` and pick their training budget with
``cnnkit.budget(...)``; the modules hold the machinery (``cnnkit.data``, ``cnnkit.models``,
``cnnkit.viz`` ...), imported on first use so ``import cnnkit`` stays quick.
"""

import importlib
import os

# Before anything imports TensorFlow: its C++ start-up logs are noise to a learner.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI and newer
# features (TF 2.9 release notes); on a 2-core AVX2 machine they were off, and turning them on
# trained MiniVGGNet and the ResNet 1.3x and the speed run 1.6x faster. A user's own
# TF_ENABLE_ONEDNN_OPTS (e.g. 0, for CPU runs repeatable bit for bit) is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from .env import budget, mode, setup  # noqa: E402

__version__ = "0.1.0"

REPO_URL = "https://github.com/cnnkit/cnnkit"
"""The one configured repository URL: Colab badges, Binder links and install cells use it."""

_SUBMODULES = (
    "check",
    "conv",
    "data",
    "detect",
    "env",
    "inspect",
    "models",
    "reference",
    "report",
    "train",
    "viz",
    "widgets",
)

__all__ = ["REPO_URL", "__version__", "budget", "mode", "setup", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
