"""Device choice, seeding and the version report printed by every notebook's setup cell."""

from __future__ import annotations

import os
import platform
import random
from importlib import metadata

import numpy as np
import torch

DEVICE_ENV = "MF_COURSE_DEVICE"


ACCEPTED_DEVICES = "cpu, cuda, cuda:<n> or mps"


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; `prefer` or $MF_COURSE_DEVICE overrides the choice."""
    choice = prefer or os.environ.get(DEVICE_ENV)
    if choice:
        device = _parse_device(choice, "prefer" if prefer else DEVICE_ENV)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"Device {choice!r} was asked for, but CUDA is not available.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"Device {choice!r} was asked for, but MPS is not available.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _parse_device(choice: str, origin: str) -> torch.device:
    """A device the course can train on, or an error naming the setting and the accepted values."""
    try:
        device = torch.device(choice)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        unset = f", or unset {DEVICE_ENV} to let the course choose" if origin == DEVICE_ENV else ""
        raise ValueError(f"{origin}={choice!r} is not a device the course can use: set it to "
                         f"{ACCEPTED_DEVICES}{unset}.")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch and make CPU kernels deterministic.

    Code that draws its own random numbers takes an explicit `torch.Generator` seeded where it
    is made (as `fit` does with its `seed`), so this returns nothing.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    # cuBLAS needs this workspace setting to be deterministic on CUDA.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def environment_report(device: torch.device) -> str:
    """One line of the versions that matter in a bug report."""
    packages = ["torch", "numpy", "pandas", "scikit-learn", "matplotlib"]
    versions = ", ".join(f"{name} {_version(name)}" for name in packages)
    return f"python {platform.python_version()}, {versions}; device: {describe(device)}"


def describe(device: torch.device) -> str:
    """Human-readable device name, e.g. 'cuda (NVIDIA H100)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
