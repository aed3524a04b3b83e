"""Shared fixtures: the offline MovieLens mirror and a private cache folder per test."""

from __future__ import annotations

import os
import shutil
import subprocess
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


@pytest.fixture(scope="session")
def course_origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding this checkout's package, tagged v1.0: what Colab would clone."""
    root = Path(__file__).resolve().parent.parent
    origin = tmp_path_factory.mktemp("origin")
    shutil.copytree(root / "utils", origin / "utils", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "pyproject.toml", origin / "pyproject.toml")
    (origin / "notebooks").mkdir()
    (origin / "notebooks" / "README.md").write_text("The lessons.\n")
    git = ["git", "-C", str(origin), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for step in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "release"],
                 ["tag", "v1.0"]):
        subprocess.run([*git, *step], check=True, capture_output=True)
    return origin
