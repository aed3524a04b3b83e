"""Shared fixtures: the offline MovieLens mirror and a private cache folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from utils.data import MIRROR_ENV


def _mirror() -> Path:
    configured = os.environ.get(MIRROR_ENV)
    if configured and "://" not in configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "movielens"


MIRROR = _mirror()


@pytest.fixture
def mirror() -> Path:
    """The folder that holds the offline copies of the MovieLens archives."""
    if not (MIRROR / "ml-latest-small.zip").is_file():
        pytest.fail(f"no MovieLens mirror at {MIRROR}; set {MIRROR_ENV} to the archives' folder")
    return MIRROR


@pytest.fixture
def no_network_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the mirror nor the cache folder comes from the environment."""
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv("MF_COURSE_DATA", raising=False)
