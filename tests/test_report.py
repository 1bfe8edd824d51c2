"""cnnkit.report against scikit-learn on the same labels."""

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn import metrics

from cnnkit import report

NAMES = ["cat", "dog", "bird", "fish"]


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 4, 200))
    return y_true, y_pred


def test_classification_report_equals_sklearn(labels):
    y_true, y_pred = labels
    table = report.classification_report(y_true, y_pred, class_names=NAMES)
    oracle = metrics.classification_report(y_true, y_pred, target_names=NAMES, output_dict=True)
    assert list(table.index) == [*NAMES, "accuracy", "macro avg", "weighted avg"]
    assert list(table.columns) == ["precision", "recall", "f1-score", "support"]
    for row in [*NAMES, "macro avg", "weighted avg"]:
        for column in ["precision", "recall", "f1-score", "support"]:
            assert table.loc[row, column] == pytest.approx(oracle[row][column])
    assert table.loc["accuracy", "f1-score"] == pytest.approx(oracle["accuracy"])
    assert table.loc["accuracy", "support"] == 200
    assert table["support"].dtype == np.int64


def test_classification_report_keeps_classes_that_never_occur():
    table = report.classification_report([0, 0, 1], [0, 1, 1], class_names=["a", "b", "c"])
    assert table.loc["c", "support"] == 0
    assert table.loc["c", "recall"] == 0.0
    assert table.loc["accuracy", "f1-score"] == pytest.approx(2 / 3)


def test_report_accepts_one_hot_and_probabilities(labels):
    y_true, y_pred = labels
    one_hot = np.eye(4)[y_true]
    probabilities = np.eye(4)[y_pred] * 0.7 + 0.075
    table = report.classification_report(one_hot, probabilities, class_names=NAMES)
    assert table.loc["accuracy", "f1-score"] == pytest.approx(np.mean(y_true == y_pred))


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_equals_sklearn(labels, normalize):
    y_true, y_pred = labels
    ours = report.confusion_matrix(y_true, y_pred, class_names=NAMES, normalize=normalize)
    oracle = metrics.confusion_matrix(y_true, y_pred, normalize=normalize)
    np.testing.assert_allclose(ours, oracle)
    if normalize == "true":
        np.testing.assert_allclose(ours.sum(axis=1), 1.0)


def test_confusion_matrix_rejects_bad_arguments():
    with pytest.raises(
        ValueError, match=r"`normalize` must be one of .*Received: normalize='rows'"
    ):
        report.confusion_matrix([0, 1], [0, 1], normalize="rows")
    with pytest.raises(
        ValueError, match=r"Labels must lie in \[0, 1\].*Received: labels from 0 to 2"
    ):
        report.confusion_matrix([0, 2], [0, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"one label per sample.*len\(y_true\)=3, len\(y_pred\)=2"):
        report.classification_report([0, 1, 1], [0, 1])


def test_plot_confusion_matrix_shows_the_matrix(labels):
    y_true, y_pred = labels
    fig = report.plot_confusion_matrix(y_true, y_pred, class_names=NAMES, normalize="true")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    drawn = ax.images[0].get_array()
    np.testing.assert_allclose(drawn, metrics.confusion_matrix(y_true, y_pred, normalize="true"))
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert "recall" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 16 and all("." in t for t in texts)


def test_evaluate_on_a_fixed_model():
    # A model that predicts the class from which of 3 pixels is brightest: its accuracy is
    # known without training.
    inputs = keras.Input((3,))
    outputs = keras.layers.Softmax()(keras.layers.Rescaling(10.0)(inputs))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    x = rng.random((60, 3)).astype("float32")
    y = np.argmax(x, axis=1)
    y[:6] = (y[:6] + 1) % 3  # six labels the model must get wrong
    result = report.evaluate(model, x, y, class_names=["r", "g", "b"])
    assert result.accuracy == pytest.approx(54 / 60)
    assert result.confusion.sum() == 60 and result.confusion.trace() == 54
    np.testing.assert_array_equal(result.y_pred, np.argmax(x, axis=1))
    assert result.report.loc["accuracy", "f1-score"] == pytest.approx(0.9)
    assert isinstance(result.figure, Figure)
    assert result.summary() == "accuracy 0.900 on 60 images (54 right, 6 wrong)"
    with pytest.raises(ValueError, match=r"`class_names` must name the model's 3 outputs"):
        report.evaluate(model, x, y, class_names=["r", "g"])


def test_evaluate_reads_one_sigmoid_unit_as_two_classes():
    inputs = keras.Input((2, 2, 1))
    # P(dog) rises with the mean brightness: uint8 images are scaled to [0, 1] first
    h = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Activation("sigmoid")(keras.layers.Rescaling(20.0, offset=-10.0)(h))
    model = keras.Model(inputs, outputs)
    x = np.array([10, 100, 200, 250], dtype=np.uint8)[:, None, None, None] * np.ones(
        (1, 2, 2, 1), dtype=np.uint8
    )
    result = report.evaluate(model, x, [0, 0, 1, 0], class_names=["cat", "dog"])
    np.testing.assert_array_equal(result.y_pred, [0, 0, 1, 1])
    assert result.accuracy == pytest.approx(0.75)
    assert result.probabilities.shape == (4, 2)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-6)
