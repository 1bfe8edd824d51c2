"""`python -m cnnkit prefetch` end to end: the command line, cnnkit.data.prefetch and Keras'
cache, with only the network replaced (a fake ``keras.utils.get_file`` and a fake
``keras.applications.MobileNetV2`` that write what a download would)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from cnnkit import data
from cnnkit.__main__ import main

WEIGHTS = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, as on a fresh classroom machine."""
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("CNNKIT_DATA_DIR", raising=False)
    return home


@pytest.fixture
def network(tmp_path, monkeypatch):
    """A fake internet serving a small mnist.npz and MobileNetV2's weights; counts downloads."""
    served = tmp_path / "server" / "mnist.npz"
    served.parent.mkdir()
    rng = np.random.default_rng(0)
    np.savez(
        served,
        x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_train=np.arange(20) % 10,
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=np.arange(10) % 10,
    )
    monkeypatch.setitem(
        data.manifest()["mnist"]["files"][0],
        "sha256",
        hashlib.sha256(served.read_bytes()).hexdigest(),
    )
    calls = {"files": [], "weights": []}

    def fake_get_file(fname, origin, file_hash=None, cache_subdir="datasets", cache_dir=None, **_):
        calls["files"].append(origin)
        target = Path(cache_dir) / cache_subdir / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(served.read_bytes())
        return str(target)

    def fake_mobilenet_v2(**kwargs):
        calls["weights"].append(kwargs)
        models = Path(data.cache.keras_datasets_dir()).parent / "models"
        models.mkdir(exist_ok=True)
        (models / WEIGHTS).write_bytes(b"weights")

    monkeypatch.setattr("keras.utils.get_file", fake_get_file)
    monkeypatch.setattr("keras.applications.MobileNetV2", fake_mobilenet_v2)
    return calls


def _rows(out: str) -> dict[str, str]:
    """{item name: its printed line} from prefetch's one line per item."""
    return {line.split()[1]: line for line in out.splitlines() if len(line.split()) > 2}


def test_prefetch_command_fetches_verifies_then_finds_the_cache(keras_home, network, capsys):
    assert main(["prefetch", "mnist"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["mnist"].split()[0] == "fetched" and "checksum verified" in rows["mnist"]
    assert rows["mobilenet_v2_160"].split()[0] == "fetched"
    assert (keras_home / "datasets" / "mnist.npz").is_file()
    assert network["weights"] == [
        {"input_shape": (160, 160, 3), "include_top": False, "weights": "imagenet"}
    ]
    loaded = data.load("mnist", offline=True)
    assert loaded.is_real and loaded.source.startswith("Keras cache")

    assert main(["prefetch", "mnist"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["mnist"].split()[0] == "cached" and rows["mobilenet_v2_160"].startswith("  cached")
    assert len(network["files"]) == 1, "a verified cached file must not be downloaded again"
    assert main(["prefetch", "mnist", "--no-weights"]) == 0
    assert "mobilenet_v2_160" not in capsys.readouterr().out


def test_prefetch_command_reports_a_corrupt_download_and_fails(
    keras_home, network, capsys, monkeypatch
):
    # The server sends other bytes than the manifest pins.
    monkeypatch.setitem(data.manifest()["mnist"]["files"][0], "sha256", "0" * 64)
    assert main(["prefetch", "mnist", "--no-weights"]) == 1
    rows = _rows(capsys.readouterr().out)
    assert rows["mnist"].split()[0] == "failed"


def test_prefetch_command_rejects_unknown_names(keras_home, network, capsys):
    assert main(["prefetch", "imagenet"]) == 2
    assert "Unknown dataset name" in capsys.readouterr().err
    assert network["files"] == [] and network["weights"] == []
