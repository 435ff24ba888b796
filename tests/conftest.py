"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.core.units import Calendar

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def utc_calendar() -> Calendar:
    return Calendar.from_local(__import__("datetime").date(2026, 1, 1), "UTC")


@pytest.fixture
def repo() -> Path:
    return REPO
