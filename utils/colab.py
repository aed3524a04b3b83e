"""Colab support for the setup cell: pip-install what the runtime lacks of the course's ranges."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The course's dependency ranges, read from pyproject.toml."""
    with pyproject.open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def install_requirements(pyproject: Path = PYPROJECT) -> None:
    """pip-install the ranges (a no-op where the runtime has them); raise with pip's reason."""
    wanted = requirements(pyproject)
    command = [sys.executable, "-m", "pip", "install", "--quiet", *wanted]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(
            f"pip could not install the course's requirements ({', '.join(wanted)}):\n"
            f"{result.stderr.strip()[-2000:]}\nCheck that the runtime is online, then run the "
            "setup cell again."
        )
