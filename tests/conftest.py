"""Fixtures for every test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def no_flush_to_zero_leak():
    """Trainer.step turns on flush-to-zero for its thread (here the test's): switch it off again so later
    tests (hypothesis checks for it) see ordinary floats."""
    yield
    torch.set_flush_denormal(False)
