"""Tests for cnnkit.train: scaling, schedules, the input pipeline, resumable fit, lr_find, TTA."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from cnnkit import train

REPO = Path(__file__).resolve().parents[1]


def _bright_dark(n=256, size=12, seed=0):
    """A task any CNN learns in a few epochs: label 1 for bright images, 0 for dark ones."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = np.where(y[:, None, None, None] == 1, 170, 60)
    x = np.clip(base + rng.integers(-50, 50, (n, size, size, 3)), 0, 255).astype(np.uint8)
    split = n * 3 // 4
    return SimpleNamespace(x_train=x[:split], y_train=y[:split], x_val=x[split:], y_val=y[split:])


def _small_cnn(size=12, filters=8):
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.Conv2D(filters, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


# ---------------------------------------------------------------- prepare


def test_prepare_scales_uint8_to_unit_range():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    out = train.prepare(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=1e-6)
    floats = np.array([0.5, 0.25], dtype=np.float64)
    np.testing.assert_array_equal(train.prepare(floats), floats.astype(np.float32))


def test_prepare_refuses_other_integers():
    with pytest.raises(ValueError, match=r"uint8 images .* Received: x with dtype=int32"):
        train.prepare(np.zeros(3, dtype=np.int32))


# ---------------------------------------------------------------- schedules


def _rates(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_one_cycle_rates_match_the_published_formula():
    # PyTorch's OneCycleLR (cos annealing, three_phase=False) written out by hand:
    # warm-up over pct*T - 1 steps from max/div to max, then down to max/(div*final_div).
    max_lr, total, pct, div, final = 0.1, 100, 0.25, 25.0, 1e4
    up = pct * total - 1
    start, end = max_lr / div, max_lr / div / final

    def expected(step):
        if step <= up:
            return max_lr + (start - max_lr) * (1 + math.cos(math.pi * step / up)) / 2
        t = (step - up) / (total - 1 - up)
        return end + (max_lr - end) * (1 + math.cos(math.pi * min(t, 1.0))) / 2

    steps = [0, 10, 24, 50, 75, 99, 150]
    got = _rates(train.one_cycle(max_lr, total), steps)
    np.testing.assert_allclose(got, [expected(s) for s in steps], rtol=1e-5, atol=1e-9)
    assert got[0] == pytest.approx(0.004)
    assert got[2] == pytest.approx(0.1)
    assert got[5] == pytest.approx(4e-7, rel=1e-3)


def test_cosine_and_step_decay_rates():
    cos = train.cosine(0.1, 100)
    np.testing.assert_allclose(_rates(cos, [0, 50, 100]), [0.1, 0.05, 0.0], atol=1e-7)
    warm = train.cosine(0.1, 100, warmup_steps=10)
    # Linear warm-up to 0.1 at step 10, then half a cosine over the remaining 90 steps.
    np.testing.assert_allclose(_rates(warm, [5, 10, 55, 100]), [0.05, 0.1, 0.05, 0.0], atol=1e-6)
    step = train.step_decay(0.1, 30, drop=0.5)
    np.testing.assert_allclose(
        _rates(step, [0, 29, 30, 59, 60, 95]), [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125], rtol=1e-6
    )


def test_make_schedule_names_and_errors():
    assert train.make_schedule("constant", 0.01, 10) == 0.01
    assert train.make_schedule(None, 0.01, 10) == 0.01
    assert float(train.make_schedule("one_cycle", 0.2, 100)(24)) == pytest.approx(0.2)
    with pytest.raises(
        ValueError, match=r"`schedule` must be one of .* Received: schedule='linear'"
    ):
        train.make_schedule("linear", 0.01, 10)
    with pytest.raises(ValueError, match=r"`total_steps` must be .* Received: total_steps=0"):
        train.one_cycle(0.1, 0)


# ---------------------------------------------------------------- the input pipeline


def test_make_dataset_scales_and_keeps_every_image_once():
    data = _bright_dark(n=50)
    ds = train.make_dataset(data.x_train, data.y_train, batch_size=16, shuffle=True, seed=1)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert [len(b) for b in xs] == [16, 16, 5]
    assert x.dtype == np.float32 and x.max() <= 1.0
    order = np.argsort(x.reshape(len(x), -1).sum(1))
    ref = train.prepare(data.x_train)
    ref_order = np.argsort(ref.reshape(len(ref), -1).sum(1))
    np.testing.assert_allclose(x[order], ref[ref_order], rtol=1e-6)
    np.testing.assert_array_equal(y[order], data.y_train[ref_order])


def test_flip_shift_augment_gives_flipped_shifted_copies():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 255, (8, 10, 10, 3), dtype=np.uint8)
    y = np.arange(8)
    ds = train.make_dataset(x, y, batch_size=8, augment="flip_shift", seed=0)
    out, labels = next(iter(ds))
    out = out.numpy()
    ref = train.prepare(x)
    for i in range(8):
        candidates = [
            view
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            for view in (train.tta._shift(ref[i : i + 1], dy, dx)[0],)
            for view in (view, view[:, ::-1])
        ]
        assert any(np.array_equal(out[i], c) for c in candidates), i
    np.testing.assert_array_equal(labels.numpy(), y)
    with pytest.raises(ValueError, match=r"`augment` must be one of .* Received: augment='rotate'"):
        train.make_dataset(x, y, batch_size=8, augment="rotate")


# ---------------------------------------------------------------- fit


@pytest.mark.slow
def test_fit_learns_and_returns_history():
    keras.utils.set_random_seed(0)
    data = _bright_dark()
    history = train.fit(_small_cnn(), data, epochs=6, batch_size=32, verbose=0, seed=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 6
    assert history.history["val_accuracy"][-1] >= 0.9


def test_a_short_run_trains_eagerly_and_learns_the_same_weights():
    # a run of at most EAGER_MAX_STEPS steps skips tracing; eager and graph steps agree
    data = _bright_dark(n=128)  # 96 training images: 3 steps of 32 per epoch
    weights = {}
    for run_eagerly in (None, False):
        keras.utils.set_random_seed(0)
        model = _small_cnn()
        train.fit(model, data, epochs=2, batch_size=32, verbose=0, seed=0, run_eagerly=run_eagerly)
        assert model.run_eagerly is (run_eagerly is None)  # 6 steps: eager by default
        weights[run_eagerly] = model.get_weights()
    for eager, graph in zip(weights[None], weights[False], strict=True):
        np.testing.assert_allclose(eager, graph, rtol=1e-4, atol=1e-5)
    long_run = _small_cnn()
    epochs = train.fitting.EAGER_MAX_STEPS // 3 + 1  # just over the limit
    train.fit(long_run, data, epochs=epochs, batch_size=32, verbose=0, seed=0)
    assert long_run.run_eagerly is False


def test_fit_validates_arguments():
    data = _bright_dark(n=40)
    with pytest.raises(ValueError, match=r"`epochs` must be .* Received: epochs=0"):
        train.fit(_small_cnn(), data, epochs=0)
    with pytest.raises(
        ValueError, match=r"`optimizer` must be one of .* Received: optimizer='rmsprop'"
    ):
        train.fit(_small_cnn(), data, epochs=1, optimizer="rmsprop")
    flat = SimpleNamespace(x_train=np.zeros((4, 3), np.uint8), y_train=np.zeros(4), x_val=None)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\) .* Received: x_train.shape=\(4, 3\)"):
        train.fit(_small_cnn(), flat, epochs=1)


@pytest.mark.slow
def test_fit_without_validation_and_with_default_strategy():
    data = _bright_dark(n=64)
    data.x_val = None
    history = train.fit(
        _small_cnn(), data, epochs=1, batch_size=32, verbose=0, distribute=True, schedule="cosine"
    )
    assert "val_loss" not in history.history and len(history.history["loss"]) == 1


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused(tmp_path):
    data = _bright_dark(n=64)
    train.fit(_small_cnn(), data, epochs=1, batch_size=32, verbose=0, checkpoint_dir=tmp_path)
    assert (tmp_path / "best.weights.h5").exists()
    # The same architecture built again (new layer names) is the same run: nothing left to do.
    again = train.fit(
        _small_cnn(), data, epochs=1, batch_size=32, verbose=0, checkpoint_dir=tmp_path
    )
    assert len(again.history["loss"]) == 1
    with pytest.raises(
        ValueError, match=r"different run \(it differs in: architecture, parameters\)"
    ):
        train.fit(_small_cnn(filters=16), data, epochs=1, batch_size=32, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"differs in: batch_size\).*Received: checkpoint_dir="):
        train.fit(_small_cnn(), data, epochs=1, batch_size=16, checkpoint_dir=tmp_path)


_RESUME_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import keras
    sys.path.insert(0, {tests!r})
    from test_train import _bright_dark, _small_cnn
    from cnnkit import train

    kill_at = int(os.environ.get("KILL_AT_EPOCH", "-1"))
    ran = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            ran.append(epoch)

        def on_train_batch_end(self, batch, logs=None):
            if ran[-1] == kill_at and batch == 1:
                os.kill(os.getpid(), signal.SIGKILL)  # a crash in the middle of an epoch

    keras.utils.set_random_seed(0)
    history = train.fit(_small_cnn(), _bright_dark(), epochs=4, batch_size=32, verbose=0,
                        checkpoint_dir=sys.argv[1], callbacks=[Probe()])
    print(json.dumps({{"ran": ran, "epochs": len(history.history["loss"]),
                      "iterations": int(history.model.optimizer.iterations.numpy())}}))
    """
)


def test_run_killed_mid_epoch_resumes_with_the_epochs_it_owed(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_RESUME_SCRIPT.format(tests=str(REPO / "tests")))
    ckpt = tmp_path / "ckpt"
    env = {**os.environ, "KILL_AT_EPOCH": "2", "CUDA_VISIBLE_DEVICES": ""}
    killed = subprocess.run(
        [sys.executable, str(script), str(ckpt)], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert json.loads((ckpt / "epoch-0001.json").read_text())["epoch"] == 1  # 2 epochs complete
    env["KILL_AT_EPOCH"] = "-1"
    resumed = subprocess.run(
        [sys.executable, str(script), str(ckpt)], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert report["ran"] == [2, 3]  # only the epochs it still owed
    assert report["epochs"] == 4  # the History covers the epochs before the crash too
    assert report["iterations"] == 4 * 6  # 192 images / 32: the schedule resumed at its step
    assert (ckpt / "best.weights.h5").exists()


# ---------------------------------------------------------------- lr_find


@pytest.mark.slow
def test_lr_find_restores_weights_and_suggests_a_rate_in_range():
    keras.utils.set_random_seed(0)
    model = _small_cnn()
    before = [w.copy() for w in model.get_weights()]
    result = train.lr_find(model, _bright_dark(), min_lr=1e-4, max_lr=10.0, steps=40)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    n = len(result.losses)
    assert 10 < n <= 40 and len(result.learning_rates) == n
    np.testing.assert_allclose(result.learning_rates[:2], [1e-4, 1e-4 * 1e5 ** (1 / 40)])
    # The suggestion is a tenth of the rate where the smoothed loss bottomed out, and that
    # bottom is a real fall from where the test started, not the first or the last batch.
    lowest = int(np.argmin(np.where(np.isfinite(result.losses), result.losses, np.inf)))
    assert 0 < lowest < n - 1
    assert result.suggestion == pytest.approx(result.learning_rates[lowest] / 10)
    assert result.losses[lowest] < 0.9 * result.losses[0]
    assert np.isfinite(result.losses[:10]).all()
    fig = result.plot()
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match=r"0 < min_lr < max_lr. Received: min_lr=1.0, max_lr=0.1"):
        train.lr_find(model, _bright_dark(), min_lr=1.0, max_lr=0.1)


# ---------------------------------------------------------------- predict


def test_predict_in_chunks_equals_keras_predict_on_the_scaled_images():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (9_000, 4, 4, 1), dtype=np.uint8)  # three chunks of 4,096
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")]
    )
    expected = model.predict(x.astype(np.float32) / 255.0, batch_size=512, verbose=0)
    got = train.predict(model, x, batch_size=512)
    assert got.shape == (9_000, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(train.predict(model, x[:10] / 255.0), expected[:10], rtol=1e-6)
    with pytest.raises(ValueError, match="uint8 images in \\[0, 255\\] or floats"):
        train.predict(model, x.astype(np.int32))


# ---------------------------------------------------------------- tta_predict


def test_tta_of_an_invariant_model_equals_predict():
    # Global max pooling ignores mirroring, and ignores zero-filled shifts while the brightest
    # pixel (the centre) stays inside the image.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 200, (6, 11, 11, 3), dtype=np.uint8)
    x[:, 5, 5, :] = 255
    model = keras.Sequential(
        [
            keras.Input((11, 11, 3)),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    plain = model.predict(train.prepare(x), verbose=0)
    np.testing.assert_allclose(train.tta_predict(model, x, flips=False), plain, rtol=1e-6)
    np.testing.assert_allclose(train.tta_predict(model, x, flips=True, shifts=2), plain, rtol=1e-5)


def test_tta_averages_the_views():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    f = train.prepare(x)
    views = [f, train.tta._shift(f, 1, 0), train.tta._shift(f, 0, -1)]
    views += [v[:, :, ::-1] for v in views]
    expected = np.mean([model.predict(v, verbose=0) for v in views], axis=0)
    got = train.tta_predict(model, x, flips=True, shifts=[(1, 0), (0, -1)])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(train.tta._shift(f, 1, 0)[:, 0], 0.0)
    np.testing.assert_array_equal(train.tta._shift(f, 1, 0)[:, 1:], f[:, :-1])


# ---------------------------------------------------------------- LivePlot


@pytest.mark.slow
def test_liveplot_records_and_stays_silent_outside_a_notebook():
    data = _bright_dark(n=40)
    model = _small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    live = train.LivePlot()
    history = model.fit(
        train.prepare(data.x_train),
        data.y_train,
        validation_split=0.2,
        epochs=2,
        verbose=0,
        callbacks=[live],
    )
    assert live.history.keys() == history.history.keys()
    np.testing.assert_allclose(live.history["val_loss"], history.history["val_loss"])


def test_liveplot_replaces_its_own_output_in_a_notebook(monkeypatch):
    import IPython.display

    shown = []

    class Handle:
        def update(self, picture):
            shown.append(("update", picture))

    def fake_display(picture, display_id=False):
        shown.append(("display", picture, display_id))
        return Handle()

    monkeypatch.setattr(train.callbacks, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    live = train.LivePlot()
    live.on_train_begin()
    for epoch in range(3):
        live.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1)})
    assert [event[0] for event in shown] == ["display", "update", "update"]
    assert shown[0][2] is True
    assert shown[-1][1].data[:4] == b"\x89PNG"

    resumed = train.LivePlot(past={"loss": [2.0, 1.5]})
    resumed.on_train_begin()
    resumed.on_epoch_end(2, {"loss": 1.2})
    assert resumed.history == {"loss": [2.0, 1.5, 1.2]}
