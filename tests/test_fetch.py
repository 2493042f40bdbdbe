"""`fetch` against a local HTTP server: verified files land, bad or cut-off downloads leave nothing behind."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import socket
import threading

import numpy as np
import pytest

from gpicl_phase import data
from gpicl_phase.data import download
from gpicl_phase.data import loaders, registry, sources

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def md5(blob: bytes) -> str:
    return hashlib.md5(blob, usedforsecurity=False).hexdigest()


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return gzip.compress(header + array.tobytes(), mtime=0)


class Server:
    """Serves ``files`` under /ok/, the same files with an inflated Content-Length under /cut/, and counts GETs."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                owner.requests.append(self.path)
                mode, _, name = self.path.lstrip("/").partition("/")
                body = owner.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                # /cut/ promises more bytes than it sends, then hangs up: a transfer dropped half-way.
                self.send_header("Content-Length", str(len(body) + (1000 if mode == "cut" else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval makes shutdown() return quickly instead of after the default 0.5 s.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # A proxy from the environment would swallow requests to 127.0.0.1.
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    registry._load_cached.cache_clear()
    yield
    registry._load_cached.cache_clear()


@pytest.fixture
def mnist_files():
    rng = np.random.default_rng(7)
    arrays = (rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), rng.integers(0, 10, 30, dtype=np.uint8),
              rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10, dtype=np.uint8))
    return {f"{stem}.gz": idx_gz(a) for stem, a in zip(loaders.IDX_FILES, arrays)}


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_files_land_verified_and_load(tmp_path, mnist_files, capsys):
    specs = {"mnist": [(name, md5(blob)) for name, blob in mnist_files.items()]}
    with Server(mnist_files) as server:
        got = data.fetch(["mnist"], cache_dir=tmp_path, base_urls={"mnist": server.url + "/ok"}, specs=specs)
        assert len(server.requests) == 4
        again = data.fetch("mnist", cache_dir=tmp_path, base_urls={"mnist": server.url + "/ok"}, specs=specs,
                           progress=False)
        assert len(server.requests) == 4, "verified files already present must not be downloaded again"
    assert got == again == {"mnist": [tmp_path / "mnist" / n for n in mnist_files]}
    for name, blob in mnist_files.items():
        assert (tmp_path / "mnist" / name).read_bytes() == blob
    assert leftovers(tmp_path / "mnist") == sorted(mnist_files)  # no .part files
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # tqdm progress went to stderr
    assert data.load("mnist", cache_dir=tmp_path).train_x.shape == (30, 196)


def test_damaged_existing_file_is_replaced(tmp_path, mnist_files):
    name, blob = next(iter(mnist_files.items()))
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / name).write_bytes(blob[: len(blob) // 2])
    with Server(mnist_files) as server:
        data.fetch(["mnist"], cache_dir=tmp_path, base_urls={"mnist": server.url + "/ok/"},
                   specs={"mnist": [(name, md5(blob))]}, progress=False)
    assert (tmp_path / "mnist" / name).read_bytes() == blob


def test_checksum_mismatch_leaves_nothing(tmp_path, mnist_files):
    name, blob = next(iter(mnist_files.items()))
    wrong = md5(blob + b"x")
    with Server(mnist_files) as server:
        with pytest.raises(data.DataError, match="checksum mismatch") as err:
            data.fetch(["mnist"], cache_dir=tmp_path, base_urls={"mnist": server.url + "/ok"},
                       specs={"mnist": [(name, wrong)]}, progress=False)
    assert md5(blob) in str(err.value) and wrong in str(err.value)
    assert leftovers(tmp_path / "mnist") == []


def test_truncated_download_leaves_nothing(tmp_path, mnist_files):
    name, blob = next(iter(mnist_files.items()))
    with Server(mnist_files) as server:
        with pytest.raises(data.DataError, match=f"cut off: {len(blob)} of {len(blob) + 1000} bytes"):
            data.fetch(["mnist"], cache_dir=tmp_path, base_urls={"mnist": server.url + "/cut"},
                       specs={"mnist": [(name, md5(blob))]}, progress=False)
    assert leftovers(tmp_path / "mnist") == []


def test_http_error_names_the_status(tmp_path):
    with Server({}) as server:
        with pytest.raises(data.DataError, match="HTTP 404"):
            data.fetch(["svhn"], cache_dir=tmp_path, base_urls={"svhn": server.url + "/ok"}, progress=False)
    assert leftovers(tmp_path / "svhn") == []


def test_offline_fails_fast_with_instructions(tmp_path):
    # Bind then close: nothing listens on this port, so a connect is refused at once, like a host without network.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(data.DataError) as err:
        data.fetch(["cifar10"], cache_dir=tmp_path, base_urls={"cifar10": f"http://127.0.0.1:{port}/x"},
                   progress=False, timeout=600)
    message = str(err.value)
    # Fast by mechanism, not by a clock: the refused connection itself ends the fetch (no retry, no waiting
    # out the 600 s timeout, which would fail the suite's own time limit).
    assert "refused" in message.lower() and "timed out" not in message.lower()
    dest = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    assert f"http://127.0.0.1:{port}/x/cifar-10-python.tar.gz" in message
    assert f"copy it to {dest}" in message and sources.REMOTE["cifar10"].files[0].md5 in message
    assert leftovers(tmp_path / "cifar10") == []


def test_names_are_checked_before_any_download(tmp_path, mnist_files):
    with Server(mnist_files) as server:
        with pytest.raises(data.DataError, match="unknown dataset 'mnsit'"):
            data.fetch(["mnist", "mnsit"], cache_dir=tmp_path, base_urls={"mnist": server.url + "/ok"},
                       progress=False)
        assert server.requests == []
        assert data.fetch(["mnist10k", "random"], cache_dir=tmp_path) == {"mnist10k": [], "random": []}
        assert server.requests == []


def test_published_checksums_are_well_formed():
    for spec in sources.REMOTE.values():
        assert spec.base_url.endswith("/") and spec.files
        for f in spec.files:
            assert re.fullmatch(r"[0-9a-f]{32}", f.md5), (spec.name, f.filename)
    assert set(sources.REMOTE) == set(sources.REMOTE_NAMES)
    assert download.DEFAULT_TIMEOUT <= 30
