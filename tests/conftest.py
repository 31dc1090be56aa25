"""Fixtures for every test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def no_flush_to_zero_leak():
    """Trainer.step turns on flush-to-zero for its thread (here the test's): switch it off again so later
    tests (hypothesis checks for it) see ordinary floats."""
    yield
    torch.set_flush_denormal(False)


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
