"""Training that survives and goes fast: ``fit()``, learning-rate schedules, ``lr_find()``, TTA.

One scaling rule for the whole kit: images are stored as uint8 in [0, 255] and the model sees
float32 in [0, 1]. :func:`fit`, :func:`lr_find` and :func:`tta_predict` apply it in their input
pipelines, and :func:`prepare` (``cnnkit.preprocessing.prepare``, re-exported here) applies it
everywhere else (``cnnkit.report.evaluate``, a notebook's own
``model.predict(cnnkit.train.prepare(x))``), so models never need a Rescaling layer and every
caller agrees.

The input pipeline (:func:`make_dataset`: ``tf.data`` on the TensorFlow backend, a NumPy
``keras.utils.PyDataset`` on JAX or PyTorch) keeps images as uint8 until a batch is drawn,
shuffles indices rather than images, and scales and augments whole batches at once; ``tf.data``
also prefetches the next batch while the model trains on this one. ``fit``, ``lr_find`` and
``tta_predict`` run on any backend; ``fit(distribute=True)`` needs TensorFlow.
See notebooks/06_minivgg.ipynb.
"""

from ..preprocessing import predict, prepare
from .callbacks import LivePlot
from .fitting import OPTIMIZERS, fit
from .lr_range import LRFinderResult, lr_find
from .pipeline import AUGMENTS, make_dataset
from .schedules import SCHEDULES, OneCycle, cosine, make_schedule, one_cycle, step_decay
from .tta import tta_predict

__all__ = [
    "AUGMENTS",
    "OPTIMIZERS",
    "SCHEDULES",
    "LRFinderResult",
    "LivePlot",
    "OneCycle",
    "cosine",
    "fit",
    "lr_find",
    "make_dataset",
    "make_schedule",
    "one_cycle",
    "predict",
    "prepare",
    "step_decay",
    "tta_predict",
]
