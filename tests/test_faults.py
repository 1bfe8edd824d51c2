"""Faults a classroom meets: a process killed while it writes a checkpoint, a full disk, a
checkpoint cut short. Training must never lose the last good checkpoint, and a resumed run's
History must cover every epoch."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnkit import train
from cnnkit.data import Dataset

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 40


def _data(n: int = 64) -> Dataset:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = (rng.integers(0, 60, (n, 8, 8, 1)) + 150 * y[:, None, None, None]).astype(np.uint8)
    empty = np.zeros((0, 8, 8, 1), np.uint8)
    return Dataset(
        name="bright_dark",
        x_train=x,
        y_train=y,
        x_val=x[:16],
        y_val=y[:16],
        x_test=empty,
        y_test=np.zeros(0, np.int64),
        class_names=["dark", "bright"],
        source="generated",
        description="dark and bright 8x8 images",
    )


def _model() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def _resume(folder: Path, epochs: int) -> tuple[list[int], dict[str, list[float]]]:
    """Call fit again on ``folder``: the epochs it trained this time, and its History."""
    ran = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            ran.append(epoch)

    history = train.fit(
        _model(),
        _data(),
        epochs=epochs,
        batch_size=16,
        verbose=0,
        checkpoint_dir=folder,
        callbacks=[Probe()],
    )
    return ran, history.history


# The child trains with a checkpoint after every epoch and says so; the parent kills it at a
# random moment around an epoch boundary, while a checkpoint is likely being written.
_CHILD = textwrap.dedent(
    """
    import json, sys
    import keras
    sys.path.insert(0, {tests!r})
    from test_faults import EPOCHS, _data, _model
    from cnnkit import train

    class Say(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print("saved", epoch, flush=True)

    keras.utils.set_random_seed(0)
    history = train.fit(_model(), _data(), epochs=EPOCHS, batch_size=16, verbose=0,
                        checkpoint_dir=sys.argv[1], callbacks=[Say()])
    print(json.dumps({{"history": history.history}}), flush=True)
    """
)


def _start(script: Path, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, str(script), str(folder)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_at_random_moments_while_checkpointing_the_run_always_resumes(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(tests=str(REPO / "tests")))
    folder = tmp_path / "ckpt"
    rng = random.Random(0)
    trials, survived, saved = 6, 0, -1
    for _ in range(trials):
        child = _start(script, folder)
        seen = []
        for line in child.stdout:
            if line.startswith("saved"):
                seen.append(int(line.split()[1]))
                if len(seen) == 2:  # one epoch into this run: kill during the next save
                    time.sleep(rng.uniform(0.0, 0.05))
                    child.send_signal(signal.SIGKILL)
                    break
        _, err = child.communicate(timeout=120)  # also closes the pipes
        assert child.returncode == -signal.SIGKILL, err[-2000:]
        # Resumed after the last epoch it reported saved, or the one after that.
        assert seen[0] in (saved + 1, saved + 2), (seen, saved)
        saved = seen[-1]
        survived += 1
    assert survived == trials
    child = _start(script, folder)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-2000:]
    history = json.loads(out.strip().splitlines()[-1])["history"]
    assert all(len(values) == EPOCHS for values in history.values()), history
    assert np.isfinite(history["loss"]).all()
    assert len(list(folder.glob("epoch-*.json"))) <= 2 and not list(folder.glob(".tmp-*"))


def test_a_full_disk_stops_training_cleanly_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    real_save = keras.Model.save_weights
    saves = []

    def fills_the_disk_on_epoch_3(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        if "epoch-0002" in str(path):  # the disk fills up halfway through the third checkpoint
            with open(path, "r+b") as handle:
                handle.truncate(os.path.getsize(path) // 2)
            raise OSError(errno.ENOSPC, "No space left on device")
        saves.append(Path(path).name)

    monkeypatch.setattr(keras.Model, "save_weights", fills_the_disk_on_epoch_3)
    keras.utils.set_random_seed(0)
    with pytest.raises(OSError, match=r"last good checkpoint \(epoch 2\) is untouched"):
        train.fit(_model(), _data(), epochs=4, batch_size=16, verbose=0, checkpoint_dir=tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.glob("epoch-*.json")) == [
        "epoch-0000.json",
        "epoch-0001.json",
    ]
    assert not list(tmp_path.glob(".tmp-*")) and not (tmp_path / "epoch-0002.weights.h5").exists()
    ran, history = _resume(tmp_path, epochs=4)
    assert ran == [2, 3] and len(history["loss"]) == 4


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    keras.utils.set_random_seed(0)
    train.fit(_model(), _data(), epochs=3, batch_size=16, verbose=0, checkpoint_dir=tmp_path)
    newest = tmp_path / "epoch-0002.weights.h5"
    newest.write_bytes(newest.read_bytes()[:100])  # cut short behind the kit's back
    ran, history = _resume(tmp_path, epochs=3)
    assert ran == [2] and len(history["loss"]) == 3


def test_no_usable_checkpoint_names_the_folder_and_each_problem(tmp_path):
    keras.utils.set_random_seed(0)
    train.fit(_model(), _data(), epochs=2, batch_size=16, verbose=0, checkpoint_dir=tmp_path)
    for weights in tmp_path.glob("epoch-*.weights.h5"):
        weights.write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"No usable checkpoint in .*epoch-0001.json: .*SHA-256"):
        train.fit(_model(), _data(), epochs=2, batch_size=16, verbose=0, checkpoint_dir=tmp_path)
