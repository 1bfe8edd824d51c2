"""Downloads as a classroom meets them, against real HTTP servers on 127.0.0.1: a mirror that
serves the file, one that stalls, serves junk, cuts the file short or answers 404; archives
extracted only when verified and only into place when complete; files cnnkit did not write
left alone. Keras' own ``get_file`` does the fetching, as it does online."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import tarfile
import threading
import time
import warnings
import zipfile

import numpy as np
import pytest

from cnnkit import data
from cnnkit.data import cache, mirror


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    for name in ("CNNKIT_DATA_DIR", "CNNKIT_OFFLINE", "CNNKIT_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CNNKIT_DOWNLOAD_TIMEOUT", "0.5")
    return home


def _mnist_bytes(n_train: int = 30) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=np.arange(n_train) % 10,
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=np.arange(10) % 10,
    )
    return buffer.getvalue()


def _pin(monkeypatch, name: str, payload: bytes, *, sha: bool = True) -> dict:
    item = data.manifest()[name]["files"][0]
    monkeypatch.setitem(item, "size", len(payload))
    monkeypatch.setitem(item, "sha256", hashlib.sha256(payload).hexdigest() if sha else None)
    return item


class _Server:
    """A local HTTP server whose behaviour per request is ``mode``; stops by itself."""

    def __init__(self, files: dict[str, bytes], mode: str = "serve"):
        self.files, self.mode, self.requests = files, mode, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests += 1
                body = outer.files.get(self.path.lstrip("/"))
                if body is None or outer.mode == "404":
                    self.send_error(404)
                    return
                if outer.mode == "junk":
                    body = b"<html>a captive portal</html>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.mode == "stall":
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    time.sleep(2.0)  # far longer than the 0.5 s allowed, then give up
                    return
                if outer.mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    made = []

    def start(files, mode="serve"):
        made.append(_Server(files, mode))
        return made[-1]

    yield start
    for s in made:
        s.close()


def test_a_mirror_serves_the_verified_file_to_load(keras_home, monkeypatch, server):
    payload = _mnist_bytes()
    _pin(monkeypatch, "mnist", payload)
    room = server({"mnist.npz": payload})
    monkeypatch.setenv("CNNKIT_MIRROR", room.url + "/")
    ds = data.load("mnist", offline=False, val_split=0)
    assert ds.is_real and len(ds.x_train) == 30 and room.requests == 1
    assert (keras_home / "datasets" / "mnist.npz").read_bytes() == payload


@pytest.mark.parametrize(
    ("mode", "error", "pattern"),
    [
        (
            "stall",
            TimeoutError,
            r"mnist.npz from http://127.0.0.1:\d+/mnist.npz stalled: no data "
            r"for 0.5 s, 2 times.*CNNKIT_DOWNLOAD_TIMEOUT.*CNNKIT_MIRROR",
        ),
        (
            "junk",
            ValueError,
            r"does not match its SHA-256: the server sent another file.*moved "
            r"aside",
        ),
        ("truncate", ConnectionError, r"Could not download mnist.npz from http://127.0.0.1"),
        ("404", ConnectionError, r"Could not download mnist.npz .*404"),
    ],
)
def test_each_download_fault_gets_its_own_message(
    keras_home, monkeypatch, server, mode, error, pattern
):
    payload = _mnist_bytes()
    _pin(monkeypatch, "mnist", payload)
    room = server({"mnist.npz": payload}, mode)
    monkeypatch.setenv("CNNKIT_MIRROR", room.url)
    started = time.perf_counter()
    with pytest.raises(error, match=pattern), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the junk file's "moved aside" notice
        cache.download("mnist")
    assert time.perf_counter() - started < 10
    assert room.requests == (2 if mode == "stall" else 1)  # one retry, for stalls only
    assert not (keras_home / "datasets" / "mnist.npz").exists()  # never a partial file in place
    with pytest.raises(RuntimeError, match="could not be downloaded"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.load("mnist", offline=False)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not data.load("mnist").is_real  # without offline=False: the stand-in


def test_the_mirror_serves_only_verified_files_and_404s_the_rest(keras_home, monkeypatch):
    import urllib.error
    import urllib.request

    payload = _mnist_bytes()
    _pin(monkeypatch, "mnist", payload)
    (keras_home / "datasets" / "mnist.npz").write_bytes(payload)
    (keras_home / "datasets" / "fashion-mnist").mkdir()
    (keras_home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"bad")
    assert sorted(mirror.mirror_files()) == ["mnist.npz"]
    room = mirror.serve(0, host="127.0.0.1")
    threading.Thread(target=room.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{room.server_port}"
        assert urllib.request.urlopen(f"{url}/mnist.npz", timeout=5).read() == payload
        assert urllib.request.urlopen(url, timeout=5).read() == b"mnist.npz\n"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{url}/t10k-labels-idx1-ubyte.gz", timeout=5)
    finally:
        room.shutdown()
        room.server_close()


def test_a_mirror_with_nothing_to_serve_says_what_to_do(keras_home):
    with pytest.raises(ValueError, match=r"Nothing to serve.*prefetch"):
        mirror.serve(0, host="127.0.0.1")


def test_a_bad_mirror_address_or_timeout_is_refused(keras_home, monkeypatch):
    monkeypatch.setenv("CNNKIT_MIRROR", "192.168.1.20:8000")
    with pytest.raises(ValueError, match=r"`CNNKIT_MIRROR` must be an http\(s\) address"):
        cache.origin(data.manifest()["mnist"]["files"][0])
    monkeypatch.setenv("CNNKIT_DOWNLOAD_TIMEOUT", "-3")
    with pytest.raises(ValueError, match=r"`CNNKIT_DOWNLOAD_TIMEOUT` must be a positive number"):
        cache.download_timeout()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _cifar_archive() -> bytes:
    rng = np.random.default_rng(0)

    def batch(n):
        rows = np.zeros((n, 3073), np.uint8)
        rows[:, 0] = np.arange(n) % 10
        rows[:, 1:] = rng.integers(0, 256, (n, 3072))
        return rows.tobytes()

    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": batch(20) for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = batch(20)
    return _tar_gz(members)


def test_an_extraction_cut_short_is_never_read_and_is_redone(keras_home, monkeypatch):
    archive = _cifar_archive()
    item = _pin(monkeypatch, "cifar10", archive)
    (keras_home / "datasets" / item["fname"]).write_bytes(archive)
    half = keras_home / "datasets" / "cifar-10-binary_extracted" / "cifar-10-batches-bin"
    half.mkdir(parents=True)
    (half / "data_batch_1.bin").write_bytes(b"\x00" * 100)  # killed half-way, no marker
    with pytest.warns(UserWarning, match="without cnnkit's marker"):
        ds = data.load("cifar10", offline=True, val_split=0)
    assert ds.is_real and len(ds.x_train) == 100 and len(ds.x_test) == 20
    marker = json.loads((half.parent / ".cnnkit-extracted.json").read_text())
    assert marker["sha256"] == item["sha256"]
    assert list((keras_home / "datasets").glob("cifar-10-binary_extracted.corrupt-*"))


def test_an_unmarked_extraction_without_its_archive_falls_back_to_the_standin(keras_home, capsys):
    half = keras_home / "datasets" / "cifar-10-binary_extracted" / "cifar-10-batches-bin"
    half.mkdir(parents=True)
    (half / "data_batch_1.bin").write_bytes(b"\x00" * 100)
    ds = data.load("cifar10", offline=True, limit=50)
    assert ds.name == "shapes" and not ds.is_real
    assert "stand-in" in capsys.readouterr().out


def test_an_archive_of_the_wrong_size_is_never_extracted(keras_home, monkeypatch, server):
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("cats_and_dogs_filtered/train/cats/0.jpg", b"x")
    _pin(monkeypatch, "cats_vs_dogs", good.getvalue(), sha=False)
    item = data.manifest()["cats_vs_dogs"]["files"][0]
    room = server({item["fname"]: good.getvalue() + b"extra bytes"})
    monkeypatch.setenv("CNNKIT_MIRROR", room.url)
    with (
        pytest.raises(ValueError, match=r"gave \d+ bytes, expected \d+: moved aside"),
        pytest.warns(UserWarning),
    ):
        cache.download("cats_vs_dogs")
    assert not list((keras_home / "datasets").glob("cats_and_dogs_filtered_extracted*"))
    with pytest.raises(RuntimeError, match="could not be downloaded"), pytest.warns(UserWarning):
        data.load("cats_vs_dogs", offline=False)


def test_archive_members_outside_the_folder_are_refused(keras_home, monkeypatch):
    archive = _tar_gz({"../../escape.txt": b"no"})
    item = _pin(monkeypatch, "cifar10", archive)
    (keras_home / "datasets" / item["fname"]).write_bytes(archive)
    with pytest.raises(ValueError, match=r"a path outside its folder: refused"):
        cache.cache_ready("cifar10")
    assert not (keras_home.parent / "escape.txt").exists()
    assert not list((keras_home / "datasets").glob("cifar-10-binary_extracted*"))


def test_a_users_own_file_in_the_cache_is_reported_not_renamed(keras_home, monkeypatch, capsys):
    _pin(monkeypatch, "mnist", _mnist_bytes())
    mine = keras_home / "datasets" / "mnist.npz"
    mine.write_bytes(_mnist_bytes(n_train=40))  # valid, but not the pinned file
    with pytest.warns(UserWarning, match="cnnkit did not download it, so it is left as it is"):
        ds = data.load("mnist", offline=True)
    assert not ds.is_real and mine.read_bytes() == _mnist_bytes(n_train=40)
    assert not list(mine.parent.glob("mnist.npz.corrupt-*"))
    with pytest.raises(ValueError, match=r"is in the way.*will not overwrite it"):
        cache.download("mnist")


def test_a_folder_where_the_file_belongs_and_a_read_only_cache_are_explained(
    keras_home, monkeypatch, capsys
):
    _pin(monkeypatch, "mnist", _mnist_bytes())
    (keras_home / "datasets" / "mnist.npz").mkdir()
    ds = data.load("mnist", offline=True)
    assert not ds.is_real
    assert "is a folder where cnnkit expects the downloaded file" in capsys.readouterr().out
    (keras_home / "datasets" / "mnist.npz").rmdir()
    # Root ignores permission bits, so the cache is made read-only the way the kit asks.
    monkeypatch.setattr(cache.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match=r"datasets is read-only.*KERAS_HOME"):
        cache.download("mnist")
