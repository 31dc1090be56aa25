"""The microscope asked for a full dataset it cannot have (offline, nothing cached) names the dataset and
shows a batch of the bundled set instead of an exception box."""

from streamlit.testing.v1 import AppTest

from test_app import APP, MICROSCOPE


def test_an_unavailable_dataset_is_named_and_the_bundled_set_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("BNVIZ_DATA", str(tmp_path))  # no cached copy of full MNIST
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"dataset": "mnist"})
    at.switch_page(MICROSCOPE).run()
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(w.value for w in at.warning)
    assert "dataset='mnist'" in warning and "bundled set (mnist-5k) instead" in warning, warning
    assert at.metric[0].label == "Compute"  # the page went on with the bundled batch
