"""The race-and-crash simulation: its support modules sit next to the tests that use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from simworld import Knobs, Simulation

# No injected user edits, thread interleavings, crashes or network faults: the test drives every step itself.
CALM = Knobs(user=0.0, other_thread=0.0, crash=0.0, network=0.0)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulation]:
    """Two devices on one simulated cloud, nothing happening unless the test makes it happen."""
    s = Simulation(7, tmp_path, knobs=CALM, devices=2)
    try:
        yield s
    finally:
        s.close()
