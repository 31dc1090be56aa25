"""Hostile record files, each built here: `inspect` refuses every one with one line, runs nothing, and stays
within a memory bound measured in a subprocess (peak RSS)."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from bnviz import npz
from bnviz.config import RunConfig
from bnviz.record import RecordError, RunRecord, read_npz

ROOT = Path(__file__).resolve().parents[1]
BOMB_BYTES = 3 * 2**30  # what the zip bomb inflates to: far past every limit and most machines' patience
# Peak RSS allowed above the runner's own after imports (python + numpy + bnviz.cli, ~40-60 MiB): a loader
# that inflated the bomb, or allocated the shape a header declares, would need gigabytes.
EXTRA_RSS_BOUND_MIB = 64


# --- building files ---------------------------------------------------------------------------------
def good_record() -> RunRecord:
    """A small valid record, numpy only: 4 steps, snapshots at 0 and 2, one evaluation."""
    cfg = RunConfig(steps=4, record_every=2, hist_bins=8, eval_every=4)
    record = RunRecord(cfg, {"block1.norm": 2}, ["conv1", "fc"], ["block1.norm"])
    rng = np.random.default_rng(0)
    for table, rows in (("steps", range(4)), ("snapshots", (0, 2)), ("evals", (4,))):
        for step in rows:
            row = {}
            for name, shape in record.expected_columns()[table].items():
                value = rng.uniform(0.1, 0.9, shape).astype(np.float32)
                if name == "step":
                    value = step
                elif name.endswith("channel_hist"):
                    value = rng.integers(0, 9, shape).astype(np.uint16)
                elif name.endswith("range"):
                    value = np.float32([-1, 1])
                row[name] = value
            getattr(record, table).append(**row)
    record.end("finished")
    return record


def arrays(record: RunRecord) -> dict[str, np.ndarray]:
    out = {"meta": np.array(json.dumps(record.meta()))}
    for table in ("steps", "snapshots", "evals"):
        out.update({f"{table}/{k}": v for k, v in getattr(record, table).columns().items()})
    return out


def with_meta(**changes) -> dict[str, np.ndarray]:
    record = good_record()
    meta = {**record.meta(), **changes}
    return {**arrays(record), "meta": np.array(json.dumps(meta))}


def npy_header(shape: tuple, dtype: str = "|u1") -> bytes:
    """A version 1.0 .npy header, as the format defines it (magic, version, length, padded dict)."""
    text = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def zip_of(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive written byte by byte: (name, stored data, CRC-32, declared size, method) per member,
    so a member can declare any size and hold any stream."""
    body, directory = b"", b""
    for name, data, crc, size, method in members:
        fields = struct.pack("<HHHHHIII", 20, 0, method, 0, 0, crc, len(data), size)
        header = struct.pack("<HH", len(name), 0)
        directory += (b"PK\x01\x02" + struct.pack("<H", 20) + fields + header
                      + struct.pack("<HHHII", 0, 0, 0, 0, len(body)) + name.encode())
        body += b"PK\x03\x04" + fields + header + name.encode() + data
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return body + directory + b"PK\x05\x06" + end


def deflated_zeros(n_mib: int, prefix: bytes = b"") -> bytes:
    """Raw deflate of `prefix` then n_mib MiB of zeros, built from one repeated block (a full flush resets
    the compressor, so each MiB compresses to the same ~1 KB): a 3 GiB bomb costs milliseconds to build."""
    mib = bytes(2**20)
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = block.compress(mib) + block.flush(zlib.Z_FULL_FLUSH)
    return first + one * n_mib + b"\x03\x00"  # an empty final block ends the stream


def bomb(path: Path):
    """One member declaring, in its zip entry and its .npy header, 3 GiB of uint8 (a 3 MB file)."""
    header = npy_header((BOMB_BYTES,))
    path.write_bytes(zip_of([("meta.npy", deflated_zeros(BOMB_BYTES >> 20, header), 0, len(header) + BOMB_BYTES,
                              zipfile.ZIP_DEFLATED)]))


def lying_bomb(path: Path):
    """The directory says 1 KB, the stream inflates to 3 GiB: zipfile stops at the declared size, the
    header's shape is refused."""
    header = npy_header((BOMB_BYTES,))
    first_kib = header + bytes(1024 - len(header))  # its CRC is right for the 1 KB declared
    path.write_bytes(zip_of([("meta.npy", deflated_zeros(BOMB_BYTES >> 20, header), zlib.crc32(first_kib), 1024,
                              zipfile.ZIP_DEFLATED)]))


def quiet_bomb(path: Path):
    """Header and directory both claim 1,000 bytes; the stream goes on to 3 GiB: only 1,000 are inflated."""
    header = npy_header((1000,))
    content = header + bytes(1000)
    path.write_bytes(zip_of([("meta.npy", deflated_zeros(BOMB_BYTES >> 20, header), zlib.crc32(content),
                              len(content), zipfile.ZIP_DEFLATED)]))


def many_big_members(path: Path):
    """40 members of 100 MiB each: every one within the per-member limit, 4,000 MiB in all."""
    header = npy_header((100 * 2**20,))
    data = deflated_zeros(100, header)
    path.write_bytes(zip_of([(f"steps/c{i}.npy", data, 0, len(header) + 100 * 2**20, zipfile.ZIP_DEFLATED)
                             for i in range(40)]))


def huge_shape(path: Path):
    header = npy_header((10**12, 10**12), "<f8")
    content = header + bytes(64)
    path.write_bytes(zip_of([("meta.npy", content, zlib.crc32(content), len(content), zipfile.ZIP_STORED)]))


def too_many_members(path: Path):
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(npz.MAX_MEMBERS + 1):
            archive.writestr(f"m{i}.npy", b"")


def not_npy_member(path: Path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("run.sh", "echo hi")


class Payload:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def pickled(path: Path):
    np.savez(path, **{**arrays(good_record()),
                      "steps/loss": np.array([Payload(path.with_suffix(".ran"))], dtype=object)})


def bit_flipped(path: Path):
    np.savez(path, **arrays(good_record()))  # stored, not deflated: the flip reaches the CRC check
    raw = bytearray(path.read_bytes())
    at = raw.index(b"channel_hist.npy") + 200  # inside that member's data
    raw[at] ^= 0x10
    path.write_bytes(bytes(raw))


def truncated(path: Path):
    good_record().save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def with_column(name: str, value) -> dict[str, np.ndarray]:
    out = arrays(good_record())
    column = out[name].copy()
    column.flat[-1] = value
    return {**out, name: column}


CASES = {  # name: (build the file, what the one-line message must say)
    "junk": (lambda p: p.write_bytes(random.Random(0).randbytes(4096)), "not a bnviz record"),
    "empty": (lambda p: p.write_bytes(b""), "not a bnviz record"),
    "truncated": (truncated, "not a bnviz record"),
    "bit_flipped": (bit_flipped, "Bad CRC-32"),
    "pickled": (pickled, "pickled Python objects"),
    "zip_bomb": (bomb, "declares 3,072.0 MiB uncompressed; the limit per member is 512.0 MiB"),
    "lying_zip_bomb": (lying_bomb, "header declares shape (3221225472,)"),
    "quiet_zip_bomb": (quiet_bomb, "'meta' is not a JSON text"),
    "many_big_members": (many_big_members, "4,000.0 MiB uncompressed in all; the limit is 1,024.0 MiB"),
    "huge_shape": (huge_shape, "header declares shape (1000000000000, 1000000000000)"),
    "too_many_members": (too_many_members, f"{npz.MAX_MEMBERS + 1:,} members; the limit is {npz.MAX_MEMBERS:,}"),
    "not_npy_member": (not_npy_member, "'run.sh' is not an .npy array"),
    "complex_dtype": (lambda p: np.savez(p, **{**arrays(good_record()), "steps/loss": np.ones(4, complex)}),
                      "dtype complex128"),
    "future_schema": (lambda p: np.savez(p, **with_meta(schema=2)), "written by a newer bnviz"),
    "wrong_schema": (lambda p: np.savez(p, **with_meta(schema="1")), "schema '1', this bnviz reads schema 1"),
    "invalid_config": (lambda p: np.savez(p, **with_meta(config={"batch_size": "0"})),
                       "invalid config: batch_size=0 is not allowed: int in [1, 1024]"),
    "unknown_status": (lambda p: np.savez(p, **with_meta(status="exploded")), "'exploded' is not one of"),
    "nan_accuracy": (lambda p: np.savez(p, **with_column("evals/test_acc", np.nan)),
                     "evals/test_acc: holds NaN or Inf"),
    "inf_histogram_range": (lambda p: np.savez(p, **with_column("snapshots/block1.norm/pre/range", np.inf)),
                            "snapshots/block1.norm/pre/range: holds NaN or Inf"),
    "float_steps": (lambda p: np.savez(p, **{**arrays(good_record()), "steps/step": np.arange(4.0)}),
                    "steps/step: dtype float64; allowed: an integer type"),
    "negative_counts": (lambda p: np.savez(p, **with_column("snapshots/block1.norm/post/nonfinite", -3)),
                        "negative values"),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    files = {}
    for name, (build, _) in CASES.items():
        files[name] = folder / f"{name}.npz"
        build(files[name])
    return files


def test_the_good_record_loads_and_keeps_a_diverged_runs_nan_loss(tmp_path):
    path = tmp_path / "good.npz"
    np.savez(path, **with_column("steps/loss", np.nan))  # a diverged run's last loss
    record = RunRecord.load(path)
    assert np.isnan(record.steps["loss"][-1]) and np.isfinite(record.steps["loss"][:-1]).all()


def test_the_bomb_is_real(tmp_path):
    """The bomb is 3 MB on disk and its stream inflates to 3 GiB: deflated_zeros(n) is a prefix, n copies of
    one block, and an end block; 4 copies inflate to exactly 4 MiB (inflating all 3 GiB would take ~30 s)."""
    path = tmp_path / "bomb.npz"
    bomb(path)
    assert path.stat().st_size < 8 * 2**20
    header = npy_header((BOMB_BYTES,))
    small = deflated_zeros(4, header)
    assert zlib.decompress(small, -15) == header + bytes(4 * 2**20)
    one_block = len(deflated_zeros(5, header)) - len(small)
    assert len(path.read_bytes()) > len(small) + (BOMB_BYTES // 2**20 - 4) * one_block


@pytest.mark.parametrize("name", CASES)
def test_the_loader_refuses_in_process(hostile, name):
    with pytest.raises(RecordError) as refused:
        RunRecord.load(hostile[name])
    assert CASES[name][1] in str(refused.value) and str(hostile[name]) in str(refused.value)


# Linux carries a process's peak RSS across fork and exec: a child of pytest (torch loaded, ~300 MiB) starts
# with pytest's peak. A child that sh forks (sh is small), not execs, starts clean: `"$@"; exit $?` makes sh fork.
CLEAN_PYTHON = ["sh", "-c", '"$@"; exit $?', "sh", sys.executable]

RUNNER = """
import contextlib, io, json, resource, sys, tracemalloc
from bnviz import cli
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()  # numpy reports its array buffers to tracemalloc
results = {}
for path in sys.argv[1:]:
    tracemalloc.reset_peak()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        code = cli.main(["inspect", path])
    results[path] = [code, out.getvalue(), err.getvalue(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                     tracemalloc.get_traced_memory()[1]]
print(json.dumps({"base_kib": base, "results": results}))
"""
WAIT4 = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def test_inspect_refuses_each_with_one_line_in_bounded_memory(hostile):
    """Every file through `cli.main(["inspect", FILE])` in one fresh process; peak RSS never grows more than
    EXTRA_RSS_BOUND_MIB over the process's own after imports (ru_maxrss is a running peak, so its last value
    bounds every case)."""
    done = subprocess.run([*CLEAN_PYTHON, "-c", RUNNER, *map(str, hostile.values())], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for name, path in hostile.items():
        code, out, err, _, traced = report["results"][str(path)]
        assert code == 1 and out == "", name
        assert traced < EXTRA_RSS_BOUND_MIB * 2**20, (name, traced)  # Python and numpy allocations, per case
        assert err.count("\n") == 1 and err.startswith(f"error: {path}: ") and CASES[name][1] in err, err
        assert "Traceback" not in err
    peak_kib = max(r[3] for r in report["results"].values())
    assert report["base_kib"] < 128 * 1024  # a clean start (see CLEAN_PYTHON)
    assert (peak_kib - report["base_kib"]) / 1024 < EXTRA_RSS_BOUND_MIB
    assert not hostile["pickled"].with_suffix(".ran").exists()  # the pickle was never unpickled
    worst = max(r[4] for r in report["results"].values())
    print(f"{len(hostile)} hostile files: peak RSS {report['base_kib'] / 1024:.0f} -> {peak_kib / 1024:.0f} MiB, "
          f"largest traced allocation peak {worst / 2**20:.2f} MiB")


def test_python_m_bnviz_inspect_on_the_zip_bomb(tmp_path):
    """The real command: exit 1, one line, peak RSS of that process (os.wait4) under 256 MiB (~40 MiB seen)."""
    path = tmp_path / "bomb.npz"
    lying_bomb(path)
    done = subprocess.run([*CLEAN_PYTHON, "-c", WAIT4, sys.executable, "-m", "bnviz", "inspect", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    code, peak_kib = map(int, done.stdout.split())
    assert code == 1 and done.stderr.count("\n") == 1 and "declares shape" in done.stderr, done.stderr
    assert peak_kib / 1024 < 256, peak_kib
    print(f"python -m bnviz inspect on the 3 GiB zip bomb: peak RSS {peak_kib / 1024:.0f} MiB")


def test_limits_can_be_lowered_by_a_caller(tmp_path):
    path = tmp_path / "good.npz"
    good_record().save(path)
    assert "meta" in read_npz(path)
    with pytest.raises(RecordError, match="the limit per member is 0.0 MiB"):
        read_npz(path, max_member_bytes=100)
