"""read_npz: the one guarded reader of a bnviz .npz file, refusing junk, pickles and zip bombs cheaply;
read_meta: the JSON object every kind of record file (run, comparison, sweep) carries as `meta`;
write_npz: the one writer, atomic on a path.

A .npz is a zip archive of .npy members. Nothing here trusts a size it is told: the zip directory's sizes and
each .npy header's shape are checked against the limits before any data is read, and each member is then
streamed into a buffer of the size its header declares, refusing a member that inflates past it. zipfile
checks each member's CRC-32 when its stream ends, so a bit flip anywhere is refused too.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import math
import zipfile
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 512 * 2**20  # the file itself (a full-length mlp record is ~150 MB before compression)
MAX_MEMBER_BYTES = 512 * 2**20  # one array, uncompressed
MAX_TOTAL_BYTES = 1024 * 2**20  # all arrays together, uncompressed: the most memory a load may take
MAX_MEMBERS = 20_000  # arrays in one file (a run has ~100; a sweep of 100 mlp runs ~8,000)
ALLOWED_KINDS = "biufU"  # bool, int, uint, float, unicode (the JSON meta): never objects, never structs
CHUNK = 1 << 20  # bytes inflated at a time


class RecordError(ValueError):
    """A record file that is not a valid bnviz record."""


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def read_npz(path, *, max_file_bytes: int = MAX_FILE_BYTES, max_member_bytes: int = MAX_MEMBER_BYTES,
             max_total_bytes: int = MAX_TOTAL_BYTES, max_members: int = MAX_MEMBERS,
             origin: str | None = None) -> dict[str, np.ndarray]:
    """Every array of a bnviz .npz file (a path or a binary file object), as plain numeric/unicode numpy
    arrays; raises RecordError, naming the problem and the limit, for anything else. Memory stays within
    the arrays' declared size (at most max_total_bytes) plus one CHUNK. `origin` names the file in messages
    (default: the path; give it for a file object, e.g. an upload's file name)."""
    origin = str(path) if origin is None else origin
    if isinstance(path, (str, Path)):
        if not Path(path).is_file():
            raise RecordError(f"{origin}: no such file")
        size = Path(path).stat().st_size
    else:
        size = path.seek(0, io.SEEK_END)
        path.seek(0)
    if size > max_file_bytes:
        raise RecordError(f"{origin}: the file is {_mib(size)}; the limit is {_mib(max_file_bytes)}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _checked_members(archive, origin, max_member_bytes, max_total_bytes, max_members)
            return {name[:-len(".npy")]: _read_member(archive, info, origin, max_member_bytes)
                    for name, info in members.items()}
    except RecordError:
        raise
    except Exception as err:  # BadZipFile (a bad CRC), zlib.error, EOFError, an encrypted member (RuntimeError),
        # an unknown compression method (NotImplementedError), a bad .npy header (ValueError): all a refusal
        raise RecordError(f"{origin}: not a bnviz record (.npz): {type(err).__name__}: {err}") from None


def _checked_members(archive: zipfile.ZipFile, origin: str, max_member_bytes: int, max_total_bytes: int,
                     max_members: int) -> dict[str, zipfile.ZipInfo]:
    """The members by name, after checking the directory's count, names and declared sizes."""
    infos = archive.infolist()
    if len(infos) > max_members:
        raise RecordError(f"{origin}: {len(infos):,} members; the limit is {max_members:,}")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise RecordError(f"{origin}: member {info.filename!r} is not an .npy array")
        if info.filename in members:
            raise RecordError(f"{origin}: member {info.filename!r} appears twice")
        if info.file_size > max_member_bytes:
            raise RecordError(f"{origin}: member {info.filename!r} declares {_mib(info.file_size)} uncompressed; "
                              f"the limit per member is {_mib(max_member_bytes)}")
        members[info.filename] = info
    total = sum(info.file_size for info in infos)
    if total > max_total_bytes:
        raise RecordError(f"{origin}: the members declare {_mib(total)} uncompressed in all; "
                          f"the limit is {_mib(max_total_bytes)}")
    return members


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, origin: str, max_member_bytes: int) -> np.ndarray:
    """One member: its .npy header checked (dtype, shape, size), then its data streamed into place."""
    where = f"{origin}: member {info.filename!r}"
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise RecordError(f"{where}: .npy format version {version}; readable: 1.0, 2.0, 3.0")
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or dtype.kind not in ALLOWED_KINDS:
            what = "pickled Python objects" if dtype.hasobject else f"dtype {dtype}"
            raise RecordError(f"{where}: refused, it holds {what}; allowed: bool, int, uint, float and "
                              "unicode arrays (no pickles)")
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a huge shape cannot overflow
        if nbytes > max_member_bytes:
            raise RecordError(f"{where}: its header declares shape {shape} of {dtype} ({_mib(nbytes)}); "
                              f"the limit per member is {_mib(max_member_bytes)}")
        array = np.empty(shape, dtype, order="F" if fortran else "C")
        buffer = memoryview(array.reshape(-1, order="A").view(np.uint8)) if nbytes else memoryview(b"")
        filled = 0
        while filled < nbytes:
            got = stream.readinto(buffer[filled: filled + CHUNK])
            if not got:
                raise RecordError(f"{where}: truncated: {filled:,} data bytes, its header declares {nbytes:,}")
            filled += got
        if stream.read(1):  # more data than the header declares: refused, not read
            raise RecordError(f"{where}: holds more data than its header's shape {shape} of {dtype}")
    return array


def read_meta(arrays: dict[str, np.ndarray], origin: str = "record") -> dict:
    """The JSON object in a record file's `meta` entry (every kind of record file has one)."""
    if "meta" not in arrays:
        raise RecordError(f"{origin}: no 'meta' entry; not a bnviz record")
    if arrays["meta"].shape != () or arrays["meta"].dtype.kind != "U":
        raise RecordError(f"{origin}: 'meta' is not a JSON text (a 0-d unicode array), it is "
                          f"{arrays['meta'].dtype} {arrays['meta'].shape}")
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as err:
        raise RecordError(f"{origin}: unreadable meta: {err}") from None
    if not isinstance(meta, dict):
        raise RecordError(f"{origin}: meta is not a JSON object")
    return meta


def write_npz(path, arrays: dict[str, np.ndarray]):
    """Write a compressed .npz to a binary file object, or to a path atomically: a temporary file in the
    same folder, flushed to disk, then renamed over `path`. A failed save (disk full, read-only folder)
    raises OSError and leaves `path` as it was, never half-written."""
    if not isinstance(path, (str, Path)):
        np.savez_compressed(path, **arrays)
        return
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:  # a file object keeps numpy from appending ".npz"
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())  # a full disk may only say so here
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
