"""Training and Grad-CAM off TensorFlow: the NumPy input pipeline, and the kit on JAX.

The NumPy pipeline (``cnnkit.train.pipeline.ArrayBatches``) is checked here against the
definitions of its augmentations; the JAX runs happen in a subprocess with
``KERAS_BACKEND=jax`` and TensorFlow made unimportable, as on a machine without it.
"""

import json
import os
import random
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnkit import env, models, train, viz
from cnnkit.train.pipeline import ArrayBatches

REPO = Path(__file__).resolve().parents[1]


def _epoch(ds):
    """One epoch of an ArrayBatches as Keras draws it: batches 0..n-1, then on_epoch_end."""
    batches = [ds[i] for i in range(ds.num_batches)]
    ds.on_epoch_end()
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _padded(image, p=4):
    return np.pad(image, ((p, p), (p, p), (0, 0)))


def _crop_offsets(out, image):
    """The offsets (dy, dx) in [0, 8]^2 at which `out` is a crop of the zero-padded `image`."""
    h, w = image.shape[:2]
    big = _padded(image)
    return [
        (dy, dx)
        for dy in range(9)
        for dx in range(9)
        if np.array_equal(out, big[dy : dy + h, dx : dx + w])
    ]


# ---------------------------------------------------------------- the NumPy pipeline


def test_array_batches_scale_and_visit_every_image_once_per_epoch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 6, 6, 3), dtype=np.uint8)
    y = np.arange(50)
    ds = ArrayBatches(x, y, batch_size=16, shuffle=True, seed=1)
    assert np.shares_memory(ds.x, x)  # the uint8 images themselves, no float copy of the set
    assert ds.num_batches == 4 and [len(ds[i][1]) for i in range(4)] == [16, 16, 16, 2]
    orders = []
    for _ in range(3):
        images, labels = _epoch(ds)
        assert images.dtype == np.float32
        np.testing.assert_array_equal(np.sort(labels), y)  # each image once
        np.testing.assert_array_equal(images, train.prepare(x)[labels])  # labels stay aligned
        orders.append(labels)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    unshuffled = ArrayBatches(x, y, batch_size=16)
    np.testing.assert_array_equal(_epoch(unshuffled)[1], y)
    with pytest.raises(IndexError):
        ds[4]


def test_array_batches_seeded_order_and_augmentation_are_reproducible():
    x = np.random.default_rng(1).integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    y = np.arange(40)

    def run(seed):
        ds = ArrayBatches(x, y, batch_size=8, shuffle=True, augment="flip_shift", seed=seed)
        return [_epoch(ds) for _ in range(2)]

    first, again, other = run(7), run(7), run(8)
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][1], other[0][1])
    # seed=None follows Python's random, which cnnkit.setup() and set_random_seed seed
    random.seed(3)
    a = ArrayBatches(x, y, batch_size=8, shuffle=True)
    random.seed(3)
    b = ArrayBatches(x, y, batch_size=8, shuffle=True)
    np.testing.assert_array_equal(_epoch(a)[1], _epoch(b)[1])


def test_numpy_flip_mirrors_exactly_the_images_it_picks():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (400, 5, 7, 2), dtype=np.uint8)
    ds = ArrayBatches(x, np.arange(400), batch_size=64, shuffle=True, augment="flip", seed=3)
    images, labels = _epoch(ds)
    ref = train.prepare(x)[labels]
    mirrored = np.array([np.array_equal(a, b[:, ::-1]) for a, b in zip(images, ref, strict=True)])
    kept = np.array([np.array_equal(a, b) for a, b in zip(images, ref, strict=True)])
    assert np.all(mirrored ^ kept)  # every image is itself or its exact mirror, never both
    assert 150 <= mirrored.sum() <= 250  # a fair coin per image: 200 +- 5 standard deviations


def test_numpy_shift_crops_the_zero_padded_image_at_offsets_0_to_8():
    rng = np.random.default_rng(4)
    x = rng.integers(1, 256, (300, 10, 10, 1), dtype=np.uint8)  # no zeros: one offset fits
    ds = ArrayBatches(x, np.arange(300), batch_size=64, shuffle=True, augment="shift", seed=5)
    images, labels = _epoch(ds)
    assert images.shape == x.shape and images.dtype == np.float32
    ref = train.prepare(x)[labels]
    offsets = [_crop_offsets(out, image) for out, image in zip(images, ref, strict=True)]
    assert all(len(found) == 1 for found in offsets)
    dy, dx = np.array([found[0] for found in offsets]).T
    assert set(dy) == set(dx) == set(range(9))  # every offset of [0, 8] occurs, none beyond

    both = ArrayBatches(x, np.arange(300), batch_size=64, augment="flip_shift", seed=6)
    images, labels = _epoch(both)
    ref = train.prepare(x)[labels]
    flipped = 0
    for out, image in zip(images, ref, strict=True):
        plain, mirror = _crop_offsets(out, image), _crop_offsets(out, image[:, ::-1])
        assert len(plain) + len(mirror) == 1
        flipped += bool(mirror)
    assert 100 <= flipped <= 200


def test_a_callable_augment_gets_the_scaled_numpy_batch():
    x = np.random.default_rng(6).integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    seen = []

    def invert(batch):
        seen.append((type(batch), batch.dtype))
        return 1.0 - batch

    ds = ArrayBatches(x, np.arange(20), batch_size=8, shuffle=True, augment=invert, seed=0)
    images, labels = _epoch(ds)
    np.testing.assert_array_equal(images, 1.0 - train.prepare(x)[labels])
    assert seen == [(np.ndarray, np.float32)] * 3


def test_repeat_runs_through_the_same_epochs_without_end():
    x = np.random.default_rng(7).integers(0, 256, (30, 4, 4, 1), dtype=np.uint8)
    ds = ArrayBatches(x, np.arange(30), batch_size=8, shuffle=True, augment="flip", seed=9)
    endless = ds.repeat()
    assert endless.num_batches is None and ds.num_batches == 4
    for epoch in range(3):
        images, labels = _epoch(ds)
        window = [endless[4 * epoch + i] for i in range(4)]
        np.testing.assert_array_equal(np.concatenate([b[1] for b in window]), labels)
        np.testing.assert_array_equal(np.concatenate([b[0] for b in window]), images)


def test_make_dataset_off_tensorflow_is_the_numpy_pipeline(monkeypatch):
    x = np.zeros((10, 4, 4, 1), np.uint8)
    y = np.arange(10)
    assert not isinstance(train.make_dataset(x, y, batch_size=4), ArrayBatches)  # tf.data
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    ds = train.make_dataset(x, y, batch_size=4, shuffle=True, augment="shift", seed=2)
    assert isinstance(ds, ArrayBatches) and isinstance(ds, keras.utils.PyDataset)
    assert (ds.batch_size, ds.shuffle, ds.augment, ds.seed) == (4, True, "shift", 2)
    with pytest.raises(ValueError, match=r"`augment` must be one of .* Received: augment='rot'"):
        train.make_dataset(x, y, batch_size=4, augment="rot")
    with pytest.raises(ValueError, match=r"`batch_size` must be .* Received: batch_size=0"):
        train.make_dataset(x, y, batch_size=0)


def test_jit_compile_default_per_backend(monkeypatch):
    monkeypatch.setattr(env, "devices", lambda: ["CPU"])
    assert train.fitting.resolve_jit_compile(None) is False  # TensorFlow on a CPU: oneDNN
    assert train.fitting.resolve_jit_compile(True) is True
    monkeypatch.setattr(env, "devices", lambda: ["CPU", "GPU:0"])
    assert train.fitting.resolve_jit_compile(None) == "auto"
    monkeypatch.setattr(env, "devices", lambda: ["CPU"])
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert train.fitting.resolve_jit_compile(None) == "auto"  # JAX without XLA runs op by op


def test_distribute_and_grad_cam_name_the_backends_they_need(monkeypatch):
    x = np.zeros((8, 6, 6, 1), np.uint8)
    data = type("Data", (), {"x_train": x, "y_train": np.zeros(8, int), "x_val": None})
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(2, 3, activation="relu")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(
        ValueError, match=r"TensorFlow backend.* Received: distribute=True with KERAS_BACKEND='jax'"
    ):
        train.fit(model, data, epochs=1, distribute=True)
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(
        ValueError, match=r"TensorFlow or JAX backend\. Received: KERAS_BACKEND='torch'"
    ):
        viz.grad_cam(model, x[0])


# ---------------------------------------------------------------- the kit on JAX, no TensorFlow

# Before anything else: a finder that refuses TensorFlow, as on a machine without it.
_NO_TENSORFLOW = textwrap.dedent(
    """
    import sys

    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "tensorflow":
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, _NoTensorFlow())
    """
)


def _run_on_jax(body: str, *args: str) -> subprocess.CompletedProcess:
    if find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install jax); TensorFlow ran the rest")
    script = _NO_TENSORFLOW + textwrap.dedent(body)
    run = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_the_kit_imports_on_jax_without_tensorflow():
    run = _run_on_jax(
        """
        import importlib, json
        import keras
        import cnnkit
        modules = ["cnnkit.train", "cnnkit.viz", "cnnkit.data", "cnnkit.models", "cnnkit.report",
                   "cnnkit.inspect", "cnnkit.preprocessing", "cnnkit.env", "cnnkit.detect"]
        for name in modules:
            importlib.import_module(name)
        try:
            import tensorflow  # noqa: F401
            blocked = False
        except ImportError:
            blocked = True
        print(json.dumps({"backend": keras.backend.backend(), "blocked": blocked,
                          "tf": sorted(m for m in sys.modules if m.startswith("tensorflow"))}))
        """
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"backend": "jax", "blocked": True, "tf": []}


def _residual_net():
    """A conv net whose explained layer is crossed by a skip connection (as in a ResNet)."""
    inputs = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="a")(inputs)
    b = keras.layers.Conv2D(6, 3, padding="same", name="explain")(a)
    h = keras.layers.ReLU()(keras.layers.Add()([a, b]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h), name="residual")


_GRAD_CAM_SCRIPT = """
import json
import numpy as np
import keras
from cnnkit import models, viz
from test_backends import _residual_net

folder = sys.argv[1]
for name, build, layer, class_index in json.loads(sys.argv[2]):
    model = models.lenet() if build == "lenet" else _residual_net()
    model.load_weights(f"{folder}/{name}.weights.h5")
    image = np.load(f"{folder}/{name}_image.npy")
    np.save(f"{folder}/{name}_jax.npy", viz.grad_cam(model, image, layer=layer,
                                                   class_index=class_index))
assert keras.backend.backend() == "jax" and "tensorflow" not in sys.modules
"""


def test_grad_cam_on_jax_equals_the_tensorflow_heatmap(tmp_path):
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    cases = [
        ("lenet_default", "lenet", None, None),  # the last conv, the predicted class
        ("lenet_class3", "lenet", "conv1", 3),
        ("residual_skip", "residual", "explain", 1),  # the head reads the shortcut too
    ]
    expected = {}
    for name, build, layer, class_index in cases:
        model = models.lenet() if build == "lenet" else _residual_net()
        model.save_weights(tmp_path / f"{name}.weights.h5")
        image = rng.integers(0, 256, model.input_shape[1:], dtype=np.uint8)
        np.save(tmp_path / f"{name}_image.npy", image)
        expected[name] = viz.grad_cam(model, image, layer=layer, class_index=class_index)
        assert expected[name].max() == pytest.approx(1.0), name  # a heatmap worth comparing
    script = f"sys.path.insert(0, {str(REPO / 'tests')!r})\n" + _GRAD_CAM_SCRIPT
    _run_on_jax(script, str(tmp_path), json.dumps(cases))
    for name, _, _, _ in cases:
        got = np.load(tmp_path / f"{name}_jax.npy")
        assert got.shape == expected[name].shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected[name], atol=1e-3, err_msg=name)


_TRAIN_SCRIPT = """
import json, math
import keras
import numpy as np
from cnnkit import data as cdata, models, train
from cnnkit.train.pipeline import ArrayBatches

folder = sys.argv[1]
data = cdata.load("digits", seed=0)  # 1,294 real 8x8 digits at 28x28, ten classes
assert isinstance(train.make_dataset(data.x_train, data.y_train, batch_size=64), ArrayBatches)
report = {"steps": math.ceil(len(data.x_train) / 64)}


class Crash(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 2:
            raise RuntimeError("crash in the middle of the second epoch")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


class Probe(keras.callbacks.Callback):
    ran = []

    def on_epoch_begin(self, epoch, logs=None):
        self.ran.append(epoch)


def run(callback):
    keras.utils.set_random_seed(0)
    return train.fit(models.lenet(), data, epochs=2, augment="flip_shift", seed=0, verbose=0,
                     checkpoint_dir=f"{folder}/ckpt", callbacks=[callback])


try:
    run(Crash())
except RuntimeError:
    report["crashed"] = True
history = run(Probe())
report["ran"] = list(Probe.ran)
report["history"] = history.history
report["iterations"] = int(keras.ops.convert_to_numpy(history.model.optimizer.iterations))
Probe.ran.clear()
report["again"] = len(run(Probe()).history["loss"])
report["ran_again"] = list(Probe.ran)

model = history.model
x = data.x_test[:40]
report["tta_shape"] = list(train.tta_predict(model, x, flips=True, shifts=2).shape)
f = train.prepare(x)
padded = np.pad(f, ((0, 0), (2, 2), (2, 2), (0, 0)))
views = [padded[:, 2 - dy : 30 - dy, 2 - dx : 30 - dx] for dy, dx in
         [(0, 0), (0, 2), (0, -2), (2, 0), (-2, 0)]]  # zero-filled shifts by (dy, dx)
views += [v[:, :, ::-1] for v in views]
manual = np.mean([model.predict(v, verbose=0) for v in views], axis=0)
tta = train.tta_predict(model, x, flips=True, shifts=2)
report["tta_error"] = float(np.abs(tta - manual).max())
report["tta_row_sums"] = float(np.abs(tta.sum(axis=1) - 1).max())
plain = train.tta_predict(model, x, flips=False)
report["plain_error"] = float(np.abs(plain - model.predict(f, verbose=0)).max())

fresh = models.lenet()
before = [w.copy() for w in fresh.get_weights()]
found = train.lr_find(fresh, data, min_lr=1e-4, max_lr=10.0, steps=30)
report["lr_restored"] = all(np.array_equal(a, b) for a, b in zip(before, fresh.get_weights()))
report["lr_rates"] = found.learning_rates.tolist()
report["lr_losses"] = [float(v) if np.isfinite(v) else None for v in found.losses]
report["lr_suggestion"] = found.suggestion
report["tensorflow_loaded"] = "tensorflow" in sys.modules
print(json.dumps(report))
"""


@pytest.mark.slow
def test_fit_resume_lr_find_and_tta_run_on_jax_without_tensorflow(tmp_path):
    run = _run_on_jax(_TRAIN_SCRIPT, str(tmp_path))
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["crashed"] and report["ran"] == [1]  # resumed with the epoch it owed
    history = report["history"]
    assert len(history["loss"]) == 2  # the History covers the epoch before the crash too
    assert history["loss"][1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.3  # ten classes: chance is 0.1
    assert report["iterations"] == 2 * report["steps"]  # the schedule resumed at its step
    assert report["again"] == 2 and report["ran_again"] == []  # a finished run trains nothing
    assert (tmp_path / "ckpt" / "best.weights.h5").exists()

    assert report["tta_shape"] == [40, 10]
    assert report["tta_error"] < 1e-5 and report["tta_row_sums"] < 1e-5
    assert report["plain_error"] < 1e-6

    assert report["lr_restored"]
    rates, losses = np.array(report["lr_rates"]), report["lr_losses"]
    assert 10 < len(losses) <= 30 and len(rates) == len(losses)
    np.testing.assert_allclose(rates[:2], [1e-4, 1e-4 * 1e5 ** (1 / 30)])
    finite = np.array([np.inf if v is None else v for v in losses])
    assert np.isfinite(finite[:10]).all()
    assert report["lr_suggestion"] == pytest.approx(rates[int(np.argmin(finite))] / 10)
    assert not report["tensorflow_loaded"]
