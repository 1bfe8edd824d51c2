"""cnnkit.env: modes and budgets, the setup line, seeds, strategies."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import cnnkit
from cnnkit import env


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"CNNKIT_FAST": "1"}, "fast"),
        ({"CNNKIT_FAST": "0"}, "cpu"),
        ({"CNNKIT_FAST": "1", "CNNKIT_BUDGET": "gpu"}, "gpu"),
        ({"CNNKIT_BUDGET": "cpu"}, "cpu"),
    ],
)
def test_mode_follows_the_switches(monkeypatch, variables, expected):
    monkeypatch.delenv("CNNKIT_FAST", raising=False)
    monkeypatch.delenv("CNNKIT_BUDGET", raising=False)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    assert env.mode() == expected  # this machine has no GPU, so "cpu" is the full mode


def test_budget_picks_the_value_of_the_mode(monkeypatch):
    monkeypatch.setenv("CNNKIT_BUDGET", "fast")
    assert cnnkit.budget(fast=1, cpu=10, gpu=40) == 1
    monkeypatch.setenv("CNNKIT_BUDGET", "cpu")
    assert cnnkit.budget(fast=1, cpu=10, gpu=40) == 10
    monkeypatch.setenv("CNNKIT_BUDGET", "gpu")
    assert cnnkit.budget(fast=1, cpu=10, gpu=40) == 40
    assert cnnkit.budget(fast=1, cpu=10) == 10  # gpu defaults to the CPU value
    assert cnnkit.budget(fast=600, cpu=None, gpu=None) is None  # None is a real value


def test_bad_budget_name_is_explained(monkeypatch):
    monkeypatch.setenv("CNNKIT_BUDGET", "turbo")
    with pytest.raises(ValueError, match=r"`CNNKIT_BUDGET` must be one of fast, cpu, gpu.*'turbo'"):
        env.mode()


def test_offline_and_data_dir_switches(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_OFFLINE", "yes")
    assert env.is_offline()
    monkeypatch.setenv("CNNKIT_OFFLINE", "0")
    assert not env.is_offline()
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path))
    assert env.data_dir() == tmp_path
    monkeypatch.delenv("CNNKIT_DATA_DIR")
    assert env.data_dir() is None


def test_set_seed_repeats_numpy_and_keras_draws():
    import keras

    env.set_seed(7)
    a = np.random.rand(3), keras.random.uniform((3,)).numpy()  # noqa: NPY002 - the global seed
    env.set_seed(7)
    b = np.random.rand(3), keras.random.uniform((3,)).numpy()  # noqa: NPY002
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_setup_prints_one_quiet_line_in_a_fresh_process(tmp_path):
    """What a learner sees from the setup cell: one line, no TensorFlow start-up noise."""
    done = subprocess.run(
        [sys.executable, "-c", "import cnnkit; cnnkit.setup(seed=3)"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CNNKIT_FAST": "1"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "Keras 3." in lines[0] and "devices: CPU" in lines[0] and "mode: fast" in lines[0]
    assert "oneDNN" not in done.stderr and "cuda" not in done.stderr.lower()


def test_strategy_is_the_default_one_on_a_cpu(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert env.strategy() is tf.distribute.get_strategy()
    assert env.strategy().num_replicas_in_sync == 1


def test_devices_lists_the_cpu_then_each_accelerator(monkeypatch):
    import tensorflow as tf

    found = {"GPU": ["gpu0", "gpu1"], "TPU": []}
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: found[kind])
    assert env.devices() == ["CPU", "GPU:0", "GPU:1"]
    found["GPU"] = []
    assert env.devices() == ["CPU"]


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("0", "0")])
def test_import_turns_onednn_on_unless_the_user_chose(given, expected):
    # TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it is imported: `import cnnkit` must set
    # it first (AVX2 CPUs get oneDNN off otherwise), and must keep a user's own choice.
    import os

    environment = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if given is not None:
        environment["TF_ENABLE_ONEDNN_OPTS"] = given
    code = "import os, cnnkit; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == expected


def test_silence_hides_numpys_np_object_warning_that_keras_onnx_export_triggers():
    env.silence()
    with warnings.catch_warnings(record=True) as caught:
        hasattr(np, "object")  # what keras/src/export/tf2onnx_lib.py does
    assert not [w for w in caught if "np.object" in str(w.message)]
