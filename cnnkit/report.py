"""How good is a trained classifier: report, confusion matrix and one-call evaluation.

Every number comes from scikit-learn (``sklearn.metrics``), never computed by hand, so the
course and scikit-learn's documentation agree. Figures follow the kit's rule: compute first,
draw second, ``ax=None``, return the Figure (closed, so a notebook shows it once, as a cell's
value or with ``display(fig)``).

The notebooks end every training run with :func:`evaluate`. See notebooks/04_lenet_mnist.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn import metrics

from .display import png
from .preprocessing import class_probabilities

__all__ = [
    "Evaluation",
    "classification_report",
    "confusion_matrix",
    "evaluate",
    "plot_confusion_matrix",
]

_NORMALIZE = (None, "true", "pred", "all")


def _labels(y, argument: str) -> np.ndarray:
    """Integer class labels of shape (N,) from labels, one-hot rows or probability rows."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"`{argument}` must hold integer class indices (0 to num_classes - 1), not names or "
            "other objects: map names to indices first, e.g. [class_names.index(n) for n in "
            f"names]. Received: {argument}={y.ravel()[:5]!r} (dtype {y.dtype})"
        )
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"`{argument}` must hold integer labels of shape (N,) or one row per sample of "
            f"shape (N, num_classes). Received: {argument}.shape={y.shape}"
        )
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError(
            f"`{argument}` must hold integer class labels. Received: {argument}={y[:5]}..."
        )
    return y.astype(np.int64)


def _pair(y_true, y_pred, class_names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    y_true = _labels(y_true, "y_true")
    y_pred = _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must hold one label per sample each. "
            f"Received: len(y_true)={len(y_true)}, len(y_pred)={len(y_pred)}"
        )
    if len(y_true) == 0:
        raise ValueError("`y_true` is empty: there is nothing to report on. Received: 0 labels")
    highest = int(max(y_true.max(), y_pred.max()))
    if class_names is None:
        class_names = [str(k) for k in range(highest + 1)]
    class_names = [str(name) for name in class_names]
    if min(y_true.min(), y_pred.min()) < 0 or highest >= len(class_names):
        raise ValueError(
            f"Labels must lie in [0, {len(class_names) - 1}] for the {len(class_names)} "
            f"`class_names`. Received: labels from {min(y_true.min(), y_pred.min())} "
            f"to {highest}"
        )
    return y_true, y_pred, class_names


def classification_report(
    y_true, y_pred, *, class_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, with accuracy and averages.

    A thin DataFrame view of ``sklearn.metrics.classification_report``: every class of
    ``class_names`` gets a row (classes never predicted score 0 rather than warn), then
    ``"accuracy"`` (its value in the ``f1-score`` column, as scikit-learn prints it),
    ``"macro avg"`` and ``"weighted avg"``.

    Args:
        y_true: true labels, int of shape (N,) (or one-hot rows of shape (N, num_classes)).
        y_pred: predicted labels of shape (N,), or probabilities of shape (N, num_classes).
        class_names: one name per class; defaults to ``"0"``, ``"1"``, ...

    Returns:
        A DataFrame with columns ``precision``, ``recall``, ``f1-score`` (floats in [0, 1])
        and ``support`` (int, number of true samples).

    See notebooks/04_lenet_mnist.ipynb.
    """
    y_true, y_pred, class_names = _pair(y_true, y_pred, class_names)
    scores = metrics.classification_report(
        y_true,
        y_pred,
        labels=list(range(len(class_names))),
        target_names=class_names,
        output_dict=True,
        zero_division=0,
    )
    accuracy = scores.pop("accuracy", None)
    if accuracy is None:  # scikit-learn leaves it out when labels is a strict subset
        accuracy = metrics.accuracy_score(y_true, y_pred)
    table = pd.DataFrame(scores).T
    rows = [*class_names, "accuracy", "macro avg", "weighted avg"]
    table.loc["accuracy"] = [np.nan, np.nan, accuracy, float(len(y_true))]
    table = table.loc[rows, ["precision", "recall", "f1-score", "support"]]
    table["support"] = table["support"].astype(np.int64)
    return table


def confusion_matrix(
    y_true,
    y_pred,
    *,
    class_names: Sequence[str] | None = None,
    normalize: str | None = None,
) -> np.ndarray:
    """The confusion matrix: row = true class, column = predicted class.

    Args:
        y_true: true labels of shape (N,) (or one-hot rows).
        y_pred: predicted labels of shape (N,) (or probability rows).
        class_names: one name per class; only its length matters here (every class gets a
            row and a column, even one that never occurs).
        normalize: None for counts; ``"true"`` divides each row by its total (the diagonal
            is then each class's recall); ``"pred"`` divides columns, ``"all"`` the whole.

    Returns:
        (num_classes, num_classes) int64 counts, or float64 fractions when normalized.

    See notebooks/04_lenet_mnist.ipynb.
    """
    _check_normalize(normalize)
    y_true, y_pred, class_names = _pair(y_true, y_pred, class_names)
    return metrics.confusion_matrix(
        y_true, y_pred, labels=list(range(len(class_names))), normalize=normalize
    )


def _check_normalize(normalize) -> None:
    if normalize not in _NORMALIZE:
        raise ValueError(
            '`normalize` must be one of None, "true", "pred" or "all". '
            f"Received: normalize={normalize!r}"
        )


def plot_confusion_matrix(
    y_true,
    y_pred,
    *,
    class_names: Sequence[str] | None = None,
    normalize: str | None = None,
    ax=None,
    cmap: str = "Blues",
    title: str | None = None,
) -> Figure:
    """Draw the confusion matrix with scikit-learn's ``ConfusionMatrixDisplay``.

    Args:
        y_true, y_pred, class_names, normalize: as in :func:`confusion_matrix`.
        ax: a matplotlib Axes to draw into; a new figure when None.
        cmap: a sequential colour map (light = few, dark = many).
        title: the axes title; by default says what the numbers are.

    Returns:
        The matplotlib Figure.

    See notebooks/04_lenet_mnist.ipynb.
    """
    matrix = confusion_matrix(y_true, y_pred, class_names=class_names, normalize=normalize)
    names = class_names if class_names is not None else [str(k) for k in range(len(matrix))]
    k = len(names)
    own = ax is None
    if own:
        side = float(np.clip(0.45 * k + 2.5, 4.5, 10.0))
        fig, ax = plt.subplots(figsize=(side + 1.0, side), layout="constrained")
    display = metrics.ConfusionMatrixDisplay(matrix, display_labels=list(names))
    display.plot(
        ax=ax,
        cmap=cmap,
        values_format=".2f" if normalize else "d",
        xticks_rotation=45 if max(len(str(n)) for n in names) > 3 else "horizontal",
        include_values=k <= 20,
        colorbar=True,
    )
    if display.text_ is not None and k > 10:
        for text in display.text_.ravel():
            text.set_fontsize(7)
    if normalize == "true":
        default = "Confusion matrix (each row sums to 1: the diagonal is recall)"
    elif normalize:
        default = f"Confusion matrix (normalized over {normalize})"
    else:
        default = f"Confusion matrix ({int(matrix.sum())} images)"
    ax.set_title(title if title is not None else default, fontsize=10)
    fig = ax.figure
    if own:
        plt.close(fig)
    return fig


@dataclass
class Evaluation:
    """What :func:`evaluate` found: one object a notebook shows and asserts on.

    Attributes:
        accuracy: fraction of correct predictions in [0, 1].
        report: the :func:`classification_report` DataFrame.
        confusion: the (num_classes, num_classes) count matrix.
        figure: the confusion-matrix Figure (normalized over true classes).
        y_true, y_pred: int64 labels of shape (N,).
        probabilities: float32 model outputs of shape (N, num_classes).
        class_names: one name per class.
    """

    accuracy: float
    report: pd.DataFrame
    confusion: np.ndarray
    figure: Figure = field(repr=False)
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    class_names: list[str] = field(repr=False)

    def summary(self) -> str:
        """One line: accuracy and how many images it was measured on."""
        return (
            f"accuracy {self.accuracy:.3f} on {len(self.y_true):,} images "
            f"({int(self.confusion.trace()):,} right, "
            f"{len(self.y_true) - int(self.confusion.trace()):,} wrong)"
        )

    def _ipython_display_(self) -> None:
        from IPython.display import Markdown, display

        display(Markdown(f"**{self.summary()}**"))
        display(self.report.round(3))
        display(png(self.figure))


def evaluate(
    model,
    x,
    y,
    *,
    class_names: Sequence[str] | None = None,
    batch_size: int = 256,
    normalize: str | None = "true",
) -> Evaluation:
    """Evaluate a trained classifier in one call: accuracy, report and confusion matrix.

    Args:
        model: a Keras classifier whose output is one row of scores per image,
            shape (N, num_classes) (softmax probabilities or logits), or one sigmoid unit
            (N, 1) for two classes.
        x: the images, e.g. (N, H, W, C): uint8 as ``cnnkit.data.load`` returns them (scaled
            to [0, 1] by ``cnnkit.train.prepare``, as in training) or floats already scaled.
        y: true labels of shape (N,) (or one-hot rows).
        class_names: one name per class; defaults to ``"0"``, ``"1"``, ...
        batch_size: images per prediction batch.
        normalize: how the confusion-matrix figure is normalized (see
            :func:`confusion_matrix`); the stored ``confusion`` is always counts.

    Returns:
        An :class:`Evaluation`; in a notebook it shows its summary line, report and figure.

    See notebooks/04_lenet_mnist.ipynb.
    """
    _check_normalize(normalize)
    probabilities = class_probabilities(model, x, batch_size=batch_size)
    broken = ~np.isfinite(probabilities).all(axis=1)
    if broken.any():
        raise ValueError(
            f"The model's outputs are not finite (NaN or inf) for {int(broken.sum()):,} of "
            f"{len(broken):,} images, so there is no honest accuracy to report: training "
            "probably diverged (lower the learning rate, check the inputs are scaled) or the "
            f"weights are broken. Received: outputs of image {int(np.argmax(broken))} = "
            f"{probabilities[int(np.argmax(broken))][:4]}"
        )
    if class_names is None:
        class_names = [str(k) for k in range(probabilities.shape[1])]
    class_names = [str(name) for name in class_names]
    if len(class_names) != probabilities.shape[1]:
        raise ValueError(
            f"`class_names` must name the model's {probabilities.shape[1]} outputs. "
            f"Received: {len(class_names)} class_names"
        )
    y_pred = np.argmax(probabilities, axis=1).astype(np.int64)
    y_true, y_pred, class_names = _pair(y, y_pred, class_names)
    return Evaluation(
        accuracy=float(metrics.accuracy_score(y_true, y_pred)),
        report=classification_report(y_true, y_pred, class_names=class_names),
        confusion=confusion_matrix(y_true, y_pred, class_names=class_names),
        figure=plot_confusion_matrix(y_true, y_pred, class_names=class_names, normalize=normalize),
        y_true=y_true,
        y_pred=y_pred,
        probabilities=probabilities.astype(np.float32),
        class_names=class_names,
    )
