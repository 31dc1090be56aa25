"""Datasets: the bundled MNIST subset (offline default) and full MNIST / Fashion-MNIST, downloaded and cached."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bnviz.config import DATASETS, ConfigError

BUNDLED = Path(__file__).resolve().parent / "assets" / "mnist_5k.npz"  # see assets/DATA_NOTICE.md

# (mean, std) of pixel/255. The published constants, so a model trained on one set transfers to the other:
# MNIST 0.1307 / 0.3081 and Fashion-MNIST 0.2860 / 0.3530 (their 60,000 training images). The bundled subset's
# own values are 0.1315 / 0.3088 (its 4,000 train images) and 0.1313 / 0.3086 (all 5,000): MNIST's fit it.
NORMALIZATION = {"mnist-5k": (0.1307, 0.3081), "mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}

DIGITS = tuple("0123456789")
CLASSES = {"mnist-5k": DIGITS, "mnist": DIGITS, "fashion-mnist": (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")}

# The four files of each full set, in the order x_train, y_train, x_test, y_test.
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# SHA-256 of the gzipped files as published, from torchvision's catalogue (pytorch/vision,
# torchvision/prototype/datasets/_builtin/mnist.py); the same sums appear in other projects' lists.
SHA256 = {
    "mnist": dict(zip(FILES, (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))),
    "fashion-mnist": dict(zip(FILES, (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"))),
}

# Tried in order; yann.lecun.com is last because it has often refused downloads.
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": ("https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
                      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
}

# IDX type codes (the third magic byte); multi-byte values are big-endian.
IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

OFFLINE_HINT = ("The bundled set dataset='mnist-5k' (5,000 real MNIST digits) works offline: "
                "choose it in the app or pass --dataset mnist-5k.")


class IdxError(ValueError):
    """A file that is not a well-formed IDX file."""


class ChecksumError(ValueError):
    """A file whose SHA-256 is not the published one."""


class DatasetUnavailable(RuntimeError):
    """A dataset that could not be read or downloaded; the message says what to do instead."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A read-only 10-class image set: uint8 images [N, 28, 28] and int64 labels [N] per split."""

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    mean: float  # of pixel/255, used by tensors(); see NORMALIZATION
    std: float
    classes: tuple[str, ...] = DIGITS

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
                raise ValueError(f"{self.name}: x_{split} must be uint8 [N, 28, 28], "
                                 f"got {x.dtype} {list(x.shape)}")
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(f"{self.name}: y_{split} must be int64 [{len(x)}], got {y.dtype} {list(y.shape)}")
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise ValueError(f"{self.name}: y_{split} must lie in 0..{len(self.classes) - 1}, "
                                 f"got {y.min()}..{y.max()}")
            # Shared by every session (cached): nobody may change it in place.
            x.flags.writeable = y.flags.writeable = False

    def tensors(self, device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
        """(x_train, y_train, x_test, y_test) on `device`: float32 [N, 1, 28, 28] as (x/255 - mean)/std; int64."""
        device = torch.device(device)

        def images(x: np.ndarray) -> torch.Tensor:
            # Sent as uint8 (a quarter of the bytes), converted on the device.
            pixels = torch.from_numpy(x.copy()).to(device)
            return pixels.unsqueeze(1).float().div_(255.0).sub_(self.mean).div_(self.std)

        def labels(y: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(y.copy()).to(device)

        return images(self.x_train), labels(self.y_train), images(self.x_test), labels(self.y_test)


def load_dataset(name: str = "mnist-5k", root: str | Path | None = None) -> Dataset:
    """The dataset `name`, loaded once per process and shared (read-only) by every caller.

    The full sets are downloaded into `data_dir(root)` on first use; `root` does not apply to the bundled set.
    """
    if name not in DATASETS:
        raise ConfigError("dataset", name, f"one of {', '.join(DATASETS)}")
    if name == "mnist-5k":
        return _load_bundled()
    return _load_full(name, data_dir(root) / name)


def data_dir(root: str | Path | None = None) -> Path:
    """Cache folder of downloaded sets: `root`, else $BNVIZ_DATA, else ~/.cache/bnviz."""
    if root is None:
        root = os.environ.get("BNVIZ_DATA") or Path.home() / ".cache" / "bnviz"
    return Path(root).expanduser().resolve()


@functools.lru_cache(maxsize=None)
def _load_bundled() -> Dataset:
    try:
        with np.load(BUNDLED, allow_pickle=False) as npz:
            x_train, y_train, x_test, y_test = (npz[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DatasetUnavailable(f"the bundled set {BUNDLED} is missing or damaged ({err}); "
                                 "regenerate it with: python scripts/make_bundled_mnist.py") from err
    mean, std = NORMALIZATION["mnist-5k"]
    return Dataset("mnist-5k", x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), mean, std)


@functools.lru_cache(maxsize=4)
def _load_full(name: str, folder: Path) -> Dataset:
    x_train, y_train, x_test, y_test = (read_idx(fetch(name, filename, folder)) for filename in FILES)
    mean, std = NORMALIZATION[name]
    return Dataset(name, x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), mean, std,
                   CLASSES[name])


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file, gzipped or not: magic 0, 0, type code, ndim; ndim big-endian uint32 sizes; the data."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the gzip signature, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise IdxError(f"{path}: damaged gzip data ({err})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise IdxError(f"{path}: not an IDX file: magic {raw[:4].hex() or 'missing'}, "
                       "expected 00 00, a type code and the number of dimensions")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IdxError(f"{path}: unknown IDX type code 0x{code:02X}; allowed: {known}")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise IdxError(f"{path}: truncated header: {len(raw)} bytes, the {ndim} dimension sizes need {start}")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(IDX_DTYPES[code])
    size = math.prod(shape) * dtype.itemsize
    if len(raw) - start != size:
        raise IdxError(f"{path}: {len(raw) - start} data bytes, but shape {list(shape)} of {dtype.name} needs "
                       f"{size}: the file is {'truncated' if len(raw) - start < size else 'longer than declared'}")
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, filename: str, folder: Path) -> Path:
    """Path of a verified `filename` in `folder`: the cached copy if its SHA-256 matches, else a download."""
    path, expected = folder / filename, SHA256[name][filename]
    note = ""
    if path.exists():
        actual = sha256_of(path)
        if actual == expected:
            return path
        path.unlink()
        note = f"The cached {path} had SHA-256 {actual}, expected {expected}: it was deleted. "
        warnings.warn(note + "Downloading it again.", stacklevel=2)
    errors = []
    for base in MIRRORS[name]:
        try:
            download(base + filename, path, expected)
            return path
        # URLError, HTTPError and timeouts are OSErrors; a connection cut mid-file is an HTTPException
        except (OSError, http.client.HTTPException, ChecksumError) as err:
            errors.append((base + filename, err))
    offline = all(_is_network_failure(err) for _, err in errors)
    tried = "; ".join(f"{url}: {err}" for url, err in errors)
    head = "No network: could not reach any mirror" if offline else "Could not download a verified copy"
    raise DatasetUnavailable(f"{note}{head} of {filename} for dataset={name!r} (tried {tried}). {OFFLINE_HINT} "
                             f"Or place the file, with SHA-256 {expected}, in {folder} "
                             "(BNVIZ_DATA sets the folder).")


def download(url: str, path: Path, sha256: str, timeout: float = 30.0) -> None:
    """Stream `url` to a temporary file beside `path`, check its SHA-256, then rename it into place atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ChecksumError(f"SHA-256 {digest.hexdigest()}, expected {sha256}; the download was deleted")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _is_network_failure(err: Exception) -> bool:
    """True when no server answered (DNS, refused, timeout), as opposed to an HTTP error or a bad file."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    return isinstance(err, (urllib.error.URLError, TimeoutError, ConnectionError))
