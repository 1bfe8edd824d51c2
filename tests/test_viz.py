"""cnnkit.viz: the numbers behind each figure, checked against Keras layers and known answers."""

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

from cnnkit import viz


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


@pytest.fixture(scope="module")
def small_cnn():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    h = keras.layers.MaxPooling2D(name="p1")(h)
    h = keras.layers.Conv2D(5, 3, activation="relu", name="c2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(h)
    return keras.Model(inputs, outputs, name="small_cnn")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (10, 12, 12, 1), dtype=np.uint8)


# ------------------------------------------------------------------ show_images


def test_show_images_labels_each_panel_with_its_class_name(images):
    y = np.arange(10) % 3
    fig = viz.show_images(images, y, class_names=["cat", "dog", "owl"], n=7)
    panels = _image_axes(fig)
    assert len(panels) == 7
    assert [ax.get_title() for ax in panels] == ["cat", "dog", "owl", "cat", "dog", "owl", "cat"]
    np.testing.assert_allclose(panels[3].images[0].get_array(), images[3, ..., 0] / 255.0)


def test_show_images_draws_rgb_as_colour_and_checks_shapes():
    rgb = np.random.default_rng(1).random((3, 8, 8, 3)).astype("float32")
    fig = viz.show_images(rgb)
    assert _image_axes(fig)[0].images[0].get_array().shape == (8, 8, 3)
    with pytest.raises(
        ValueError, match=r"`x` must be a batch of images.*Received: x.shape=\(8, 8\)"
    ):
        viz.show_images(np.zeros((8, 8)))


# ------------------------------------------------------------------ show_filters


def test_show_filters_draws_one_panel_per_kernel(small_cnn):
    fig = viz.show_filters(small_cnn)  # first conv: 4 filters, 1 input channel
    panels = _image_axes(fig)
    assert len(panels) == 4
    kernel = small_cnn.get_layer("c1").kernel.numpy()
    for f, ax in enumerate(panels):
        np.testing.assert_allclose(ax.images[0].get_array(), kernel[:, :, 0, f])
        low, high = ax.images[0].get_clim()
        assert high == pytest.approx(np.abs(kernel[:, :, 0, f]).max()) and low == -high

    fig = viz.show_filters(small_cnn, layer="c2", shared_scale=True)  # 5 filters x 4 channels
    assert len(_image_axes(fig)) == 20
    limit = np.abs(small_cnn.get_layer("c2").kernel.numpy()).max()
    assert {ax.images[0].get_clim() for ax in _image_axes(fig)} == {(-limit, limit)}


def test_show_filters_draws_rgb_filters_normalised_per_filter():
    layer = keras.layers.Conv2D(6, 5)
    layer.build((None, 16, 16, 3))
    panels = _image_axes(viz.show_filters(layer))
    assert len(panels) == 6
    for ax in panels:
        rgb = ax.images[0].get_array()
        assert rgb.shape == (5, 5, 3)
        assert rgb.min() == pytest.approx(0.0) and rgb.max() == pytest.approx(1.0)


def test_show_filters_rejects_a_layer_without_kernels():
    with pytest.raises(ValueError, match=r"must be a built Conv2D layer.*Received: Dense"):
        viz.show_filters(keras.layers.Dense(3))


# ------------------------------------------------------------------ feature maps


def test_feature_maps_equal_the_layer_outputs(small_cnn, images):
    maps = viz.feature_maps(small_cnn, images[0])
    assert list(maps) == ["c1", "c2"]
    x = images[:1].astype("float32") / 255.0
    c1 = small_cnn.get_layer("c1")(x)
    c2 = small_cnn.get_layer("c2")(small_cnn.get_layer("p1")(c1))
    np.testing.assert_allclose(maps["c1"], keras.ops.convert_to_numpy(c1)[0], atol=1e-5)
    np.testing.assert_allclose(maps["c2"], keras.ops.convert_to_numpy(c2)[0], atol=1e-5)
    assert maps["c2"].shape == (4, 4, 5) and maps["c2"].dtype == np.float32

    pooled = viz.feature_maps(small_cnn, images[0], layers=["p1"])
    np.testing.assert_allclose(pooled["p1"], maps["c1"].reshape(6, 2, 6, 2, 4).max(axis=(1, 3)))


def test_a_separate_activation_layer_gives_the_rectified_maps(images):
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Activation("softmax", name="softmax")(keras.layers.Dense(2)(h))
    model = keras.Model(inputs, outputs)
    maps = viz.feature_maps(model, images[0])
    assert list(maps) == ["relu"] and maps["relu"].min() >= 0.0
    conv = viz.feature_maps(model, images[0], layers=["conv"])["conv"]
    np.testing.assert_allclose(maps["relu"], np.maximum(conv, 0.0), atol=1e-6)
    np.testing.assert_allclose(
        viz.grad_cam(model, images[0]), viz.grad_cam(model, images[0], layer="relu")
    )


def test_feature_maps_work_on_sequential_models(images):
    with_input = keras.Sequential(
        [keras.Input((12, 12, 1)), keras.layers.Conv2D(2, 3, name="conv"), keras.layers.Flatten()]
    )
    assert viz.feature_maps(with_input, images[0])["conv"].shape == (10, 10, 2)
    called = keras.Sequential([keras.layers.Conv2D(2, 3, name="conv"), keras.layers.Flatten()])
    called(images[:1].astype("float32"))
    assert viz.feature_maps(called, images[0])["conv"].shape == (10, 10, 2)
    unbuilt = keras.Sequential([keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"has no defined input yet.*keras.Input"):
        viz.feature_maps(unbuilt, images[0])


def test_feature_maps_reject_bad_layers(small_cnn, images):
    with pytest.raises(ValueError, match=r"`layer` must name a layer.*Received: layer='c9'"):
        viz.feature_maps(small_cnn, images[0], layers=["c9"])
    with pytest.raises(ValueError, match=r"feature map.*\['gap'\]"):
        viz.feature_maps(small_cnn, images[0], layers=["gap"])
    with pytest.raises(ValueError, match=r"`image` must be one image of shape \(12, 12, 1\)"):
        viz.feature_maps(small_cnn, images[:2])


def test_show_feature_maps_draws_every_channel_of_each_layer(small_cnn, images):
    maps = viz.feature_maps(small_cnn, images[0])
    fig = viz.show_feature_maps(small_cnn, images[0], max_channels=8)
    # the input, 4 maps of c1 and 5 of c2
    assert len(_image_axes(fig)) == 1 + 4 + 5
    rows = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert rows == ["c1\n12x12x4", "c2\n4x4x5"]
    c2_panels = _image_axes(fig)[5:]
    strongest = np.argsort(-maps["c2"].mean(axis=(0, 1)), kind="stable")
    assert [ax.get_title() for ax in c2_panels] == [f"ch {c}" for c in strongest]
    np.testing.assert_allclose(c2_panels[0].images[0].get_array(), maps["c2"][..., strongest[0]])

    fig = viz.show_feature_maps(small_cnn, images[0], max_channels=2, order="first")
    assert [ax.get_title() for ax in _image_axes(fig)] == ["input", "ch 0", "ch 1", "ch 0", "ch 1"]


# ------------------------------------------------------------------ Grad-CAM


def _planted(n, rng, size=32, patch=6):
    """Noise images with one of two patterns (a filled square or a ring) at a random spot."""
    square = np.ones((patch, patch), dtype="float32")
    ring = square.copy()
    ring[1:-1, 1:-1] = 0.0
    x = rng.uniform(0.0, 0.25, (n, size, size, 1)).astype("float32")
    y = rng.integers(0, 2, n)
    corners = rng.integers(0, size - patch + 1, (n, 2))
    for i, (r, c) in enumerate(corners):
        x[i, r : r + patch, c : c + patch, 0] = square if y[i] == 0 else ring
    return x, y, corners + patch / 2 - 0.5


@pytest.fixture(scope="module")
def pattern_finder():
    """A tiny CNN trained in seconds to tell a square from a ring anywhere in the image."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x, y, _ = _planted(600, rng)
    inputs = keras.Input((32, 32, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    return model


@pytest.mark.slow  # its fixture trains the pattern finder
def test_grad_cam_peaks_on_the_planted_pattern(pattern_finder):
    x, y, centres = _planted(40, np.random.default_rng(2))
    accuracy = np.mean(np.argmax(pattern_finder.predict(x, verbose=0), axis=1) == y)
    assert accuracy >= 0.9, f"the tiny CNN did not learn the patterns (accuracy {accuracy:.2f})"
    hits = 0
    for image, label, centre in zip(x, y, centres, strict=True):
        heat = viz.grad_cam(pattern_finder, image, class_index=int(label))
        assert heat.shape == (32, 32) and heat.dtype == np.float32
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
        peak = np.unravel_index(np.argmax(heat), heat.shape)
        hits += np.hypot(*(np.array(peak) - centre)) <= 5.0
    assert hits >= 0.8 * len(x), f"the heatmap peak hit the pattern in {hits} of {len(x)} images"


def test_grad_cam_explains_the_predicted_class_by_default(pattern_finder):
    x, _, _ = _planted(1, np.random.default_rng(3))
    predicted = int(np.argmax(pattern_finder.predict(x, verbose=0)[0]))
    np.testing.assert_allclose(
        viz.grad_cam(pattern_finder, x[0]),
        viz.grad_cam(pattern_finder, x[0], layer="last_conv", class_index=predicted),
    )
    with pytest.raises(ValueError, match=r"`class_index` must lie in \[0, 1\].*class_index=2"):
        viz.grad_cam(pattern_finder, x[0], class_index=2)


def test_show_grad_cam_overlays_the_heatmap(pattern_finder):
    x, _, _ = _planted(1, np.random.default_rng(4))
    fig = viz.show_grad_cam(pattern_finder, x[0], class_names=["square", "ring"])
    overlay = fig.axes[1].images[1].get_array()
    np.testing.assert_allclose(overlay, viz.grad_cam(pattern_finder, x[0]))
    assert fig.axes[1].get_title().startswith("Grad-CAM for ")


# ------------------------------------------------------------------ curves


HISTORY = {
    "loss": [1.0, 0.6, 0.4],
    "val_loss": [1.1, 0.7, 0.8],
    "accuracy": [0.3, 0.6, 0.7],
    "val_accuracy": [0.3, 0.5, 0.45],
}


def test_plot_history_draws_train_and_validation_curves():
    fig = viz.plot_history(HISTORY)
    loss_ax, accuracy_ax = fig.axes
    train, validation, best = loss_ax.get_lines()
    np.testing.assert_allclose(train.get_ydata(), HISTORY["loss"])
    np.testing.assert_allclose(validation.get_ydata(), HISTORY["val_loss"])
    np.testing.assert_allclose(train.get_xdata(), [1, 2, 3])
    assert (best.get_xdata()[0], best.get_ydata()[0]) == (2, 0.7)  # lowest validation loss
    assert accuracy_ax.get_ylabel() == "accuracy"
    np.testing.assert_allclose(accuracy_ax.get_lines()[1].get_ydata(), HISTORY["val_accuracy"])
    with pytest.raises(ValueError, match=r"`history` must be a keras History.*Received: list"):
        viz.plot_history([0.5, 0.4])


# ------------------------------------------------------------------ predictions


@pytest.fixture(scope="module")
def brightness_model():
    """Predicts the class whose channel is brightest: known probabilities, no training."""
    inputs = keras.Input((2, 2, 3))
    h = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Softmax()(keras.layers.Rescaling(10.0)(h))
    return keras.Model(inputs, outputs)


def _bright(channel_means):
    return np.broadcast_to(
        np.asarray(channel_means, "float32")[:, None, None, :], (len(channel_means), 2, 2, 3)
    ).copy()


def test_misclassified_puts_the_most_confident_mistake_first(brightness_model):
    x = _bright([[0.9, 0.1, 0.0], [0.5, 0.6, 0.0], [0.0, 0.1, 0.9], [0.0, 1.0, 0.0]])
    y = np.array([0, 0, 1, 0])  # images 1, 2, 3 are wrong; image 3 the worst, image 1 the least
    np.testing.assert_array_equal(viz.misclassified(brightness_model, x, y), [3, 2, 1])
    fig = viz.show_misclassified(brightness_model, x, y, class_names=["red", "green", "blue"], n=2)
    titles = [ax.get_title() for ax in _image_axes(fig)]
    assert len(titles) == 2
    assert titles[0].startswith("pred green (") and titles[0].endswith("true red (0%)")
    assert "3 of 4 images misclassified" in fig.texts[0].get_text()


def test_show_predictions_marks_right_and_wrong(brightness_model):
    x = _bright([[0.9, 0.1, 0.0], [0.5, 0.6, 0.0]])
    fig = viz.show_predictions(brightness_model, x, [0, 0], class_names=["red", "green", "blue"])
    first, second = _image_axes(fig)
    probability = keras.ops.convert_to_numpy(keras.ops.softmax(np.array([9.0, 1.0, 0.0])))[0]
    assert first.get_title() == f"pred red ({probability:.0%})\ntrue red"
    assert first.title.get_color() != second.title.get_color()
    assert "accuracy 50.0% on 2 images" in fig.texts[0].get_text()


# ------------------------------------------------------------------ plot_model


def test_plot_model_explains_how_to_get_graphviz(small_cnn, monkeypatch):
    monkeypatch.setattr(viz, "_has_graphviz", lambda: False)
    with pytest.warns(UserWarning, match=r"pip install pydot.*graphviz"):
        fig = viz.plot_model(small_cnn)
    assert isinstance(fig, Figure)
    boxes = [text.get_text() for text in fig.axes[0].texts if text.get_text()]
    assert len(boxes) == len(small_cnn.layers)
    assert boxes[1].startswith("c1  (Conv2D)") and boxes[1].endswith("(12, 12, 4)")
    assert f"{small_cnn.count_params():,} parameters" in fig.axes[0].get_title()


def test_grad_cam_on_a_sigmoid_unit_splits_evidence_between_the_two_classes():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((10, 10, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    image = np.random.default_rng(5).integers(0, 256, (10, 10, 3), dtype=np.uint8)
    dogs = viz.grad_cam(model, image, class_index=1)
    cats = viz.grad_cam(model, image, class_index=0)
    # class 0's score is minus class 1's logit: each pixel is evidence for one side only
    assert dogs.max() == pytest.approx(1.0) and cats.max() == pytest.approx(1.0)
    assert np.all(dogs * cats == 0.0)
    fig = viz.show_grad_cam(model, image, class_index=0, class_names=["cat", "dog"])
    assert fig.axes[1].get_title().startswith("Grad-CAM for cat (p=")


def test_plot_model_shows_the_graphviz_picture_when_graphviz_is_there(small_cnn, monkeypatch):
    import matplotlib.pyplot as plt

    drawn = {}

    def fake_plot_model(model, to_file, show_shapes, dpi):
        drawn.update(model=model, show_shapes=show_shapes)
        plt.imsave(to_file, np.linspace(0, 1, 30 * 20).reshape(30, 20), cmap="gray")

    monkeypatch.setattr(viz, "_has_graphviz", lambda: True)
    monkeypatch.setattr(keras.utils, "plot_model", fake_plot_model)
    fig = viz.plot_model(small_cnn)
    assert drawn == {"model": small_cnn, "show_shapes": True}
    assert fig.axes[0].images[0].get_array().shape[:2] == (30, 20)


def test_plot_model_fallback_elides_long_models_and_flags_branches(monkeypatch):
    monkeypatch.setattr(viz, "_has_graphviz", lambda: False)
    inputs = keras.Input((8,))
    h = inputs
    for i in range(60):
        h = keras.layers.Dense(4, name=f"d{i}")(h)
    model = keras.Model(inputs, keras.layers.Add()([h, h]))
    with pytest.warns(UserWarning, match="pip install pydot"):
        fig = viz.plot_model(model)
    boxes = [text.get_text() for text in fig.axes[0].texts if text.get_text()]
    assert len(boxes) == 40
    assert boxes[20] == "...  (23 more layers)" and boxes[-1].startswith("add")
    assert "62 layers" in fig.axes[0].get_title() and "branches" in fig.axes[0].get_title()


def test_grad_cam_refuses_a_layer_the_class_scores_do_not_depend_on():
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 3, activation="relu", name="c")(inputs)
    scores = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
    side = keras.layers.Conv2D(2, 3, name="side")(inputs)  # a second output, beside the scores
    model = keras.Model(inputs, [scores, side])
    image = np.random.default_rng(6).integers(0, 256, (8, 8, 1), dtype=np.uint8)
    assert viz.grad_cam(model, image, layer="c").shape == (8, 8)
    with pytest.raises(ValueError, match=r"do not depend on its output\. Received: layer='side'"):
        viz.grad_cam(model, image, layer="side")


def test_grid_figures_draw_into_subfigures_of_one_figure(small_cnn, images, brightness_model):
    import matplotlib.pyplot as plt

    parent = plt.figure(figsize=(12, 8), layout="constrained")
    left, middle, right = parent.subfigures(1, 3)
    assert viz.show_images(images, n=4, fig=left) is left
    assert viz.show_filters(small_cnn, fig=middle) is middle
    x = _bright([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]])
    assert viz.show_predictions(brightness_model, x, [0, 1, 2], n=3, fig=right) is right
    # The panels landed in the one figure: 4 images, 4 one-channel filters, 3 predictions.
    assert len(_image_axes(left)) == 4 and len(_image_axes(middle)) == 4
    assert len(_image_axes(right)) == 3
    assert len([ax for ax in parent.axes if ax.images]) == 11
    assert plt.fignum_exists(parent.number)  # a figure the caller made stays open
    plt.close(parent)


def test_plot_model_draws_on_a_given_axes(small_cnn, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(viz, "_has_graphviz", lambda: False)
    fig, (ax, other) = plt.subplots(1, 2)
    with pytest.warns(UserWarning, match="pydot and Graphviz"):
        assert viz.plot_model(small_cnn, ax=ax) is fig
    assert "small_cnn" in ax.get_title() and not other.get_title()
    plt.close(fig)
