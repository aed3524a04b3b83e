"""utils.device and utils.progress: device choice, seeding, the version report, progress bars."""

from __future__ import annotations

import io
import random
import re

import numpy as np
import pytest
import torch

from utils.device import environment_report, pick_device, seed_everything
from utils.progress import progress_bar, progress_enabled


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_pick_device_prefers_an_accelerator(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    monkeypatch.delenv("MF_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device() == torch.device(expected)


@pytest.mark.parametrize("setting", ["nonsense", "xpu", "meta", "cuda:x"])
def test_unusable_device_setting_names_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("MF_COURSE_DEVICE", setting)
    expected = (f"MF_COURSE_DEVICE='{setting}' is not a device the course can use: set it to "
                f"cpu, cuda, cuda:<n> or mps, or unset MF_COURSE_DEVICE")
    with pytest.raises(ValueError, match=re.escape(expected)):
        pick_device()


def test_pick_device_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("MF_COURSE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_asking_for_missing_cuda_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda")


def test_seed_everything_repeats_every_generator() -> None:
    def draw(seed: int) -> tuple:
        assert seed_everything(seed) is None
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
    assert torch.are_deterministic_algorithms_enabled()


def test_environment_report_names_versions_and_device() -> None:
    report = environment_report(torch.device("cpu"))
    # CUDA wheels say "2.11.0+cu130" in torch.__version__ and "2.11.0" in their metadata.
    assert f"torch {torch.__version__.split('+')[0]}" in report
    assert "device: cpu (" in report


def test_progress_is_off_in_ci_and_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("MF_COURSE_PROGRESS", "1")
    assert progress_enabled()
    monkeypatch.setenv("MF_COURSE_PROGRESS", "0")
    assert not progress_enabled()
    assert progress_bar(total=3).disable
    monkeypatch.setenv("MF_COURSE_PROGRESS", "1")
    monkeypatch.setenv("CI", "true")
    assert not progress_enabled()


def test_progress_bar_stays_off_when_output_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("MF_COURSE_PROGRESS", "1")
    assert progress_bar(total=3, file=io.StringIO()).disable
