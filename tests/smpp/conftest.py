"""Fixtures for the smpp tests: the node-smpp SMSC simulator (see tests/fixtures/smsc_sim.py)."""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

from smsc_sim import SimulatorFactory, SmscSimulator, smsc_simulator


@pytest.fixture
def smsc_factory() -> Iterator[SimulatorFactory]:
    """Start simulators with options (``smsc_factory(throttle_every=10)``); all stop after the test."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the SMSC simulator cannot run")
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> SmscSimulator:
            return stack.enter_context(smsc_simulator(**options))

        yield start


@pytest.fixture
def smsc(smsc_factory: SimulatorFactory) -> SmscSimulator:
    """A simulator with default options: receipts on, recording on."""
    return smsc_factory()
