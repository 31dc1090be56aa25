"""The dataset cache under faults, served by a loopback HTTP server: a partial cached file, a connection cut
mid-file. Each is caught by its SHA-256 (or the cut) and fetched again, or reported; no partial file stays."""

from __future__ import annotations

import hashlib
import http.server
import threading
import warnings

import numpy as np
import pytest

from bnviz import data
from tests.test_data import small_set


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # /good/NAME serves the file, /cut/NAME promises all of it and sends half
        _, mode, name = self.path.split("/")
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if mode == "good" else body[: len(body) // 2])
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    files = small_set()
    monkeypatch.setitem(data.SHA256, "mnist", {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    Handler.files = files
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield files, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_a_partial_cached_file_is_caught_by_its_checksum_and_fetched_again(tmp_path, server, monkeypatch):
    files, base = server
    monkeypatch.setitem(data.MIRRORS, "mnist", (f"{base}/good/",))
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    partial = folder / data.FILES[0]
    partial.write_bytes(files[data.FILES[0]][:100])  # an interrupted copy
    with pytest.warns(UserWarning, match="deleted"):
        ds = data.load_dataset("mnist", root=tmp_path)
    assert partial.read_bytes() == files[data.FILES[0]]
    np.testing.assert_array_equal(ds.x_train, data.read_idx(partial))
    assert sorted(p.name for p in folder.iterdir()) == sorted(data.FILES)


def test_a_connection_cut_mid_file_falls_back_to_the_next_mirror(tmp_path, server, monkeypatch):
    files, base = server
    monkeypatch.setitem(data.MIRRORS, "mnist", (f"{base}/cut/", f"{base}/good/"))
    ds = data.load_dataset("mnist", root=tmp_path)
    assert ds.x_train.shape == (6, 28, 28)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(data.FILES)  # no .part left


def test_every_mirror_cut_mid_file_is_a_clear_error_and_leaves_nothing(tmp_path, server, monkeypatch):
    _, base = server
    monkeypatch.setitem(data.MIRRORS, "mnist", (f"{base}/cut/",))
    with warnings.catch_warnings(), pytest.raises(data.DatasetUnavailable) as err:
        data.load_dataset("mnist", root=tmp_path)
    message = str(err.value)
    # urllib hands back the short body without complaint: the SHA-256 is what catches it
    assert "Could not download a verified copy" in message and "the download was deleted" in message
    assert "mnist-5k" in message and list((tmp_path / "mnist").iterdir()) == []
