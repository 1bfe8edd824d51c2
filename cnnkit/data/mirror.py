"""A classroom mirror: serve the instructor's verified dataset cache to a room without internet.

One laptop that holds the data (``python -m cnnkit prefetch`` run once while online) starts
``python -m cnnkit mirror --port 8000``; every learner's machine sets
``CNNKIT_MIRROR=http://<that laptop>:8000`` and ``cnnkit.data.load`` then fetches each file from
``<mirror>/<file name>`` instead of its manifest URL, with the same checksum and size checks.
"""

from __future__ import annotations

import http.server
import os
from pathlib import Path

from .cache import checksum_ok, keras_datasets_dir
from .dataset import manifest

__all__ = ["mirror_files", "serve"]


def mirror_files(directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """The files a mirror can serve: ``{file name: path}`` for every verified manifest file.

    Dataset archives are looked up in Keras' dataset cache (or ``directory``), pretrained
    weights in its ``models`` folder beside it. A file whose checksum (or size) does not match
    the manifest is left out, so a mirror never spreads a broken download.
    """
    root = Path(directory) if directory is not None else keras_datasets_dir()
    files = {}
    for name, entry in manifest().items():
        if name == "pretrained":
            for spec in entry.values():
                path = root.parent / "models" / spec["fname"]
                if path.is_file():
                    files[spec["fname"]] = path
            continue
        for item in entry["files"]:
            path = root / item.get("subdir", "") / item["fname"]
            if path.is_file() and checksum_ok(path, item):
                files[item["fname"]] = path
    return files


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, Path] = {}

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        name = self.path.lstrip("/").split("?", 1)[0]
        if not name:
            body = "".join(f"{n}\n" for n in sorted(self.files)).encode()
            self._send(200, body, "text/plain; charset=utf-8")
            return
        path = self.files.get(name)
        if path is None:
            self._send(404, f"{name} is not in this mirror\n".encode(), "text/plain")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                self.wfile.write(chunk)

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the http.server API)
        pass


def serve(
    port: int = 8000, *, host: str = "0.0.0.0", directory: str | os.PathLike | None = None
) -> http.server.ThreadingHTTPServer:
    """An HTTP server (bound, not yet serving) for :func:`mirror_files`; call ``serve_forever()``.

    Args:
        port: TCP port to listen on (0 picks a free one; read it from ``server.server_port``).
        host: address to bind; ``"0.0.0.0"`` serves the whole room, ``"127.0.0.1"`` this machine.
        directory: the dataset cache to serve (default: Keras' cache, ``~/.keras/datasets``).

    Raises:
        ValueError: when the cache holds no verified file to serve.
    """
    files = mirror_files(directory)
    if not files:
        raise ValueError(
            "Nothing to serve: the cache holds no verified dataset file. Run "
            "`python -m cnnkit prefetch` while online first. "
            f"Received: directory={str(directory or keras_datasets_dir())!r}"
        )
    handler = type("MirrorHandler", (_Handler,), {"files": files})
    return http.server.ThreadingHTTPServer((host, int(port)), handler)
