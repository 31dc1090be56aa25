"""Fixtures for every test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def no_flush_to_zero_leak():
    """Trainer.step turns on flush-to-zero for its thread (here the test's): switch it off again so later
    tests (hypothesis checks for it) see ordinary floats."""
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(autouse=True)
def no_dataset_downloads(monkeypatch):
    """Tests talk only to loopback: a full dataset that a test (or a fuzzed link) asks for and that is not
    cached is fetched from a closed loopback port, so it fails at once, as offline. Tests of the download
    put their own mirrors in place."""
    from bnviz import data

    for name in data.MIRRORS:
        monkeypatch.setitem(data.MIRRORS, name, ("http://127.0.0.1:9/",))


@pytest.fixture
def fresh_limiter(monkeypatch):
    """A fresh server-wide limiter of one slot and one torch thread (a busy CI machine cannot stall a
    training team); every run or sweep it holds is stopped after the test."""
    from bnviz.ui import session  # streamlit: only for the tests that ask for it

    monkeypatch.setenv("BNVIZ_MAX_TRAININGS", "1")
    monkeypatch.setenv("BNVIZ_TRAIN_THREADS", "1")
    session.shared_limiter.clear()
    yield session.shared_limiter
    session.shared_limiter().stop_all()
    session.shared_limiter.clear()
