"""Fixtures for every test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def no_flush_to_zero_leak():
    """Trainer.step turns on flush-to-zero for its thread; keep it from changing float math in other tests."""
    yield
    torch.set_flush_denormal(False)
