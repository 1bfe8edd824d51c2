"""cnnkit.data: resolution order, stand-ins, folders and every promised error."""

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit import data


@pytest.fixture
def fake_home(tmp_path, monkeypatch):
    """An empty Keras cache and no data dir: nothing real is on this 'machine'."""
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("CNNKIT_DATA_DIR", raising=False)
    monkeypatch.delenv("CNNKIT_OFFLINE", raising=False)
    return home


def _write_mnist(path: Path, n_train=50, n_test=20, seed=0) -> str:
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=np.arange(n_train) % 10,
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=np.arange(n_test) % 10,
    )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_folder(root: Path, classes=("cat", "dog"), per_class=6, size=(12, 10), mode="RGB"):
    for i, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            color = (40 * i + k, 100, 200) if mode == "RGB" else 40 * i + k
            Image.new(mode, size, color).save(root / name / f"{k:03d}.png")


def test_unknown_name_lists_known_names():
    with pytest.raises(
        ValueError, match=r"Known names: mnist, fashion_mnist.*Received: name='mnsit'"
    ):
        data.load("mnsit")


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_val_split_is_checked(bad):
    with pytest.raises(ValueError, match=r"`val_split` must be in \[0, 1\)"):
        data.load("digits", val_split=bad)


def test_digits_standin_shapes_dtypes_and_classes():
    ds = data.load("digits", val_split=0.1)
    assert ds.input_shape == (28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 1797
    assert ds.num_classes == 10 and set(np.unique(ds.y_test)) == set(range(10))
    # the digit sits in the centre 20x20 box, as MNIST's do
    assert ds.x_train[:, :4].max() == 0 and ds.x_train[:, 24:].max() == 0
    assert ds.x_train.max() > 200


def test_shapes_are_reproducible_from_a_seed():
    x1, y1 = data.make_shapes(30, seed=3)
    x2, y2 = data.make_shapes(30, seed=3)
    x3, _ = data.make_shapes(30, seed=4)
    assert x1.shape == (30, 32, 32, 3) and x1.dtype == np.uint8
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert np.bincount(y1, minlength=10).tolist() == [3] * 10


def test_shapes_standin_matches_cifar10_layout():
    ds = data.load("shapes", limit=200, val_split=0.1)
    assert ds.input_shape == (32, 32, 3)
    assert ds.class_names == list(data.SHAPE_CLASSES) and ds.num_classes == 10
    assert len(ds.x_train) == 180 and len(ds.x_val) == 20 and len(ds.x_test) == 200
    assert not ds.is_real


def test_limit_is_stratified_and_reproducible():
    a = data.load("digits", limit=100, seed=1)
    b = data.load("digits", limit=100, seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    counts = np.bincount(np.concatenate([a.y_train, a.y_val]), minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11


def test_offline_falls_back_with_one_line(fake_home, capsys):
    ds = data.load("mnist", offline=True)
    out = capsys.readouterr().out
    assert ds.name == "digits" and not ds.is_real
    assert out.count("\n") == 1 and "stand-in 'digits'" in out and "CNNKIT_DATA_DIR" in out


def test_env_offline_never_downloads(fake_home, monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")

    def no_download(*args, **kwargs):
        raise AssertionError("must not download offline")

    monkeypatch.setattr("keras.utils.get_file", no_download)
    assert data.load("cifar10", limit=50).name == "shapes"


def test_offline_false_makes_missing_data_an_error(fake_home, monkeypatch):
    def failing(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr("keras.utils.get_file", failing)
    with pytest.raises(RuntimeError, match="could not be downloaded.*no network"):
        data.load("mnist", offline=False)


def test_cats_vs_dogs_has_no_standin(fake_home):
    with pytest.raises(RuntimeError, match="has no stand-in.*prefetch"):
        data.load("cats_vs_dogs", offline=True)


def test_data_dir_argument_comes_first(fake_home, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    _write_mnist(first / "mnist.npz", n_train=40)
    _write_mnist(second / "mnist.npz", n_train=60)
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(second))
    ds = data.load("mnist", data_dir=first, val_split=0)
    assert len(ds.x_train) == 40 and ds.source.startswith("data_dir: ")
    ds = data.load("mnist", val_split=0)
    assert len(ds.x_train) == 60 and ds.source.startswith("CNNKIT_DATA_DIR: ")


def test_keras_cache_is_used_after_data_dirs(fake_home, monkeypatch):
    digest = _write_mnist(fake_home / "datasets" / "mnist.npz", n_train=30)
    monkeypatch.setitem(data.manifest()["mnist"]["files"][0], "sha256", digest)
    ds = data.load("mnist", val_split=0.2)
    assert ds.source.startswith("Keras cache") and ds.is_real
    assert len(ds.x_train) == 24 and len(ds.x_val) == 6 and ds.input_shape == (28, 28, 1)


def test_download_goes_through_keras_get_file_with_the_pinned_hash(fake_home, monkeypatch):
    source = fake_home.parent / "server_mnist.npz"
    digest = _write_mnist(source, n_train=20)
    monkeypatch.setitem(data.manifest()["mnist"]["files"][0], "sha256", digest)
    calls = []

    def fake_get_file(fname, origin, file_hash, cache_subdir, cache_dir, extract):
        calls.append((fname, origin, file_hash))
        target = Path(cache_dir) / cache_subdir / fname
        target.write_bytes(source.read_bytes())
        return str(target)

    monkeypatch.setattr("keras.utils.get_file", fake_get_file)
    ds = data.load("mnist", val_split=0)
    assert calls == [("mnist.npz", data.manifest()["mnist"]["files"][0]["url"], digest)]
    assert len(ds.x_train) == 20 and ds.source.startswith("Keras cache")


def test_corrupt_cached_download_is_moved_aside_and_fetched_again(fake_home, monkeypatch):
    good = fake_home.parent / "good.npz"
    digest = _write_mnist(good, n_train=10)
    monkeypatch.setitem(data.manifest()["mnist"]["files"][0], "sha256", digest)
    cached = fake_home / "datasets" / "mnist.npz"
    cached.write_bytes(good.read_bytes()[:100])  # a truncated download, made by the kit:
    (fake_home / "datasets" / ".cnnkit-fetched.json").write_text(json.dumps([str(cached)]))

    def fake_get_file(fname, origin, file_hash, cache_subdir, cache_dir, extract):
        target = Path(cache_dir) / cache_subdir / fname
        target.write_bytes(good.read_bytes())
        return str(target)

    monkeypatch.setattr("keras.utils.get_file", fake_get_file)
    with pytest.warns(UserWarning, match="moved it aside"):
        ds = data.load("mnist", val_split=0)
    assert len(ds.x_train) == 10
    aside = list((fake_home / "datasets").glob("mnist.npz.corrupt-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 100


def test_corrupt_file_in_a_users_data_dir_is_an_error_and_kept(fake_home, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(
        ValueError, match=r"mnist.npz: it looks truncated or corrupt.*left as it is"
    ):
        data.load("mnist", data_dir=folder)
    assert (folder / "mnist.npz").read_bytes() == b"PK\x03\x04 not really a zip"


def test_labels_that_do_not_match_images(fake_home, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    np.savez(
        folder / "mnist.npz",
        x_train=np.zeros((5, 28, 28), np.uint8),
        y_train=np.zeros(4, np.uint8),
        x_test=np.zeros((2, 28, 28), np.uint8),
        y_test=np.zeros(2, np.uint8),
    )
    with pytest.raises(
        ValueError, match="Labels don't match images in the train split.*5 images but 4"
    ):
        data.load("mnist", data_dir=folder)


def test_data_dir_must_be_a_folder(fake_home, tmp_path):
    with pytest.raises(ValueError, match="`data_dir` is not a folder.*Received: data_dir="):
        data.load("mnist", data_dir=tmp_path / "missing")


def test_cifar10_image_folders_in_a_data_dir(fake_home, tmp_path):
    root = tmp_path / "dd" / "cifar10"
    _write_folder(root / "train", classes=("airplane", "automobile"), per_class=10, size=(32, 32))
    _write_folder(root / "test", classes=("airplane", "automobile"), per_class=3, size=(32, 32))
    ds = data.load("cifar10", data_dir=tmp_path / "dd", val_split=0.1)
    assert ds.class_names == ["airplane", "automobile"] and ds.input_shape == (32, 32, 3)
    assert len(ds.x_train) == 18 and len(ds.x_val) == 2 and len(ds.x_test) == 6
    assert ds.source == f"data_dir: {root}"


def test_from_directory_carves_a_reproducible_test_split(tmp_path, capsys):
    _write_folder(tmp_path / "pets", per_class=10)
    a = data.from_directory(tmp_path / "pets")
    b = data.from_directory(tmp_path / "pets")
    assert "carved 4 images from train" in capsys.readouterr().out
    assert a.input_shape == (10, 12, 3) and len(a.x_test) == 4 and len(a.x_train) == 16
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert set(a.y_test) == {0, 1}


def test_from_directory_grayscale_and_resize(tmp_path):
    _write_folder(tmp_path / "g", per_class=5, size=(9, 9), mode="L")
    ds = data.from_directory(tmp_path / "g", image_size=(16, 20), test_split=0.2)
    assert ds.input_shape == (16, 20, 1)


@pytest.mark.parametrize("cat_mode, dog_mode", [("L", "RGB"), ("RGB", "L")])
def test_from_directory_auto_colour_makes_grey_images_rgb_when_any_is_colour(
    tmp_path, cat_mode, dog_mode
):
    _write_folder(tmp_path / "m", classes=("cat",), per_class=3, mode=cat_mode)  # read first
    _write_folder(tmp_path / "m", classes=("dog",), per_class=3, mode=dog_mode)
    ds = data.from_directory(tmp_path / "m", test_split=0.34)
    assert ds.input_shape == (10, 12, 3)
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    grey = x[y == [cat_mode, dog_mode].index("L")]
    assert (grey == grey[..., :1]).all()  # the grey value in all three channels
    assert sorted(grey[:, 0, 0, 0] % 40) == [0, 1, 2]


def test_from_directory_skips_corrupt_files_with_one_warning(tmp_path):
    _write_folder(tmp_path / "p", per_class=5)
    (tmp_path / "p" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (tmp_path / "p" / "dog" / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = data.from_directory(tmp_path / "p")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "2 file(s)" in messages[0] and "broken.jpg" in messages[0]
    assert len(ds.x_train) + len(ds.x_test) == 10
    with pytest.raises(ValueError, match="not readable images.*strict=False"):
        data.from_directory(tmp_path / "p", strict=True)


def test_from_directory_errors(tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(ValueError, match="No images found in"):
        data.from_directory(tmp_path / "empty")
    with pytest.raises(ValueError, match="`path` must be a folder.*Received: path="):
        data.from_directory(tmp_path / "nope")
    _write_folder(tmp_path / "mixed", per_class=2, size=(8, 8))
    Image.new("RGB", (9, 9)).save(tmp_path / "mixed" / "cat" / "odd.png")
    with pytest.raises(ValueError, match=r"different sizes.*image_size=\(height, width\)"):
        data.from_directory(tmp_path / "mixed")
    with pytest.raises(ValueError, match="`color_mode` must be"):
        data.from_directory(tmp_path / "mixed", color_mode="rgba")


def test_from_directory_rejects_test_classes_unknown_to_train(tmp_path):
    _write_folder(tmp_path / "s" / "train", per_class=2)
    _write_folder(tmp_path / "s" / "test", classes=("cat", "fox"), per_class=2)
    with pytest.raises(ValueError, match="classes that train does not: fox"):
        data.from_directory(tmp_path / "s")


def test_draw_shape_rejects_unknown_kinds():
    from PIL import ImageDraw

    with pytest.raises(ValueError, match="Unknown shape kind.*Received: 'blob'"):
        data.draw_shape(ImageDraw.Draw(Image.new("RGB", (8, 8))), "blob", (4, 4), 3, (1, 2, 3))


def test_prefetch_reports_each_item_with_the_network_mocked(fake_home, monkeypatch):
    source = fake_home.parent / "server.npz"
    digest = _write_mnist(source, n_train=5)
    monkeypatch.setitem(data.manifest()["mnist"]["files"][0], "sha256", digest)

    def fake_get_file(fname, origin, file_hash, cache_subdir, cache_dir, extract):
        target = Path(cache_dir) / cache_subdir / fname
        target.write_bytes(source.read_bytes())
        return str(target)

    monkeypatch.setattr("keras.utils.get_file", fake_get_file)
    first = data.prefetch(["mnist"], weights=False, progress=False)
    again = data.prefetch(["mnist"], weights=False, progress=False)
    assert first[0]["status"] == "fetched" and first[0]["detail"] == "checksum verified"
    assert again[0]["status"] == "cached"
    with pytest.raises(ValueError, match="Unknown dataset name"):
        data.prefetch(["imagenet"])


def test_folder_splits_are_shuffled_not_sorted_by_class(tmp_path):
    _write_folder(tmp_path / "p", classes=("a", "b", "c"), per_class=20)
    ds = data.from_directory(tmp_path / "p", val_split=0.1)
    for labels in (ds.y_train, ds.y_val, ds.y_test):
        assert len(set(labels[:6])) > 1
    assert np.any(np.diff(ds.y_train) < 0)  # not in class order
