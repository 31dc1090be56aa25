"""RunRecord: lossless save/load without pickle, refusal of bad files, even thinning."""

import json
import zipfile

import numpy as np
import pytest

from bnviz.config import RunConfig
from bnviz.record import MAX_SNAPSHOTS, RecordError, RunRecord, Series
from bnviz.trainer import Trainer


@pytest.fixture(scope="module")
def record():
    return Trainer(RunConfig(batch_size=8, steps=9, record_every=3, eval_every=9, momentum=None)).step(9)


def test_save_load_round_trip_is_lossless(record, tmp_path):
    path = tmp_path / "run.npz"
    record.save(path)
    loaded = RunRecord.load(path)
    assert loaded.config == record.config and loaded.status == record.status == "finished"
    assert (loaded.sites, loaded.layers, loaded.batchnorm_sites) == (record.sites, record.layers,
                                                                     record.batchnorm_sites)
    for table in ("steps", "snapshots", "evals"):
        ours, theirs = getattr(record, table).columns(), getattr(loaded, table).columns()
        assert ours.keys() == theirs.keys()
        for name in ours:
            np.testing.assert_array_equal(ours[name], theirs[name])
            assert ours[name].dtype == theirs[name].dtype


def test_a_pickled_file_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array(json.dumps({"schema": 1})), payload=np.array([{"x": 1}], dtype=object))
    with pytest.raises(RecordError, match="pickle"):
        RunRecord.load(path)


def test_a_corrupt_or_foreign_file_is_refused(record, tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(RecordError, match="not a bnviz record"):
        RunRecord.load(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(RecordError, match="meta"):
        RunRecord.load(foreign)
    good = tmp_path / "good.npz"
    record.save(good)
    arrays = dict(np.load(good, allow_pickle=False))
    future = dict(arrays, meta=np.array(json.dumps(dict(json.loads(str(arrays["meta"])), schema=99))))
    with pytest.raises(RecordError, match="schema 99"):
        RunRecord.from_arrays(future)
    cut = dict(arrays, **{"steps/loss": arrays["steps/loss"][:-1]})
    with pytest.raises(RecordError, match="steps/loss has shape"):
        RunRecord.from_arrays(cut)
    missing = {k: v for k, v in arrays.items() if k != "snapshots/block1.norm/post/mean"}
    with pytest.raises(RecordError, match="missing"):
        RunRecord.from_arrays(missing)
    bad_config = dict(arrays, meta=np.array(json.dumps(dict(json.loads(str(arrays["meta"])),
                                                            config={"batch_size": "0"}))))
    with pytest.raises(RecordError, match="batch_size"):
        RunRecord.from_arrays(bad_config)


def test_truncated_zip_is_refused(record, tmp_path):
    path = tmp_path / "run.npz"
    record.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordError):
        RunRecord.load(path)
    assert zipfile.is_zipfile(tmp_path / "run.npz") is False


def test_thinning_keeps_evenly_spaced_snapshots_and_doubles_the_cadence():
    record = RunRecord(RunConfig(record_every=5), {}, [], [])
    for i in range(MAX_SNAPSHOTS + 1):
        record.add_snapshot(step=i * 5, update_ratio=np.zeros(0))
    steps = record.snapshots["step"]
    assert len(steps) == MAX_SNAPSHOTS // 2 + 1 and record.snapshot_every == 10
    assert steps[0] == 0 and set(np.diff(steps)) == {10}


def test_series_reads_while_appending():
    series = Series()
    series.append(a=1.0, b=np.ones(2))
    assert series["a"].tolist() == [1.0]
    series.append(a=2.0, b=np.zeros(2))
    assert series["a"].tolist() == [1.0, 2.0] and series["b"].shape == (2, 2) and len(series) == 2


def test_hist_gives_edges_and_counts(record):
    edges, counts = record.hist("block2.norm", "post")
    assert edges.shape == (len(record.snapshots), record.config.hist_bins + 1)
    assert counts.shape == (len(record.snapshots), record.config.hist_bins)
    lo, hi = record.snapshots["block2.norm/post/range"].T
    np.testing.assert_allclose(edges[:, 0], lo) and np.testing.assert_allclose(edges[:, -1], hi)
    one = record.hist("block2.norm", "post", channel=5)[1]
    assert (one <= counts).all() and one.sum() > 0


def test_file_objects_work_like_paths(record):
    import io
    buffer = io.BytesIO()
    record.save(buffer)
    buffer.seek(0)
    assert RunRecord.load(buffer).config == record.config
    with pytest.raises(RecordError, match="no such file"):
        RunRecord.load("/nonexistent/run.npz")
