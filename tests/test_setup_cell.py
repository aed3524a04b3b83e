"""The setup cell and Colab badges are generated from course.toml, and the cell fails loudly."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from utils import colab

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("setup_cell", ROOT / "tools" / "setup_cell.py")
setup_cell = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("setup_cell", setup_cell)
_spec.loader.exec_module(setup_cell)

SKIPPED_FOLDERS = {".git", ".venv", "data", "__pycache__", ".ipynb_checkpoints", "tmp"}


def _run_on_fake_colab(source: str, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(folder)
    exec(compile(source, "setup-cell", "exec"), {})


def test_notebooks_and_readme_match_course_toml() -> None:
    stale = setup_cell.stale_files(setup_cell.load_course(), write=False)
    assert not stale, f"out of date: {stale}; run python tools/setup_cell.py --write"


def test_the_placeholder_address_lives_only_in_course_toml() -> None:
    course = setup_cell.load_course()
    if course.published:
        assert "published = true" in (ROOT / "course.toml").read_text()
        return
    holders = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        for name in files:
            path = Path(folder, name)
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            if course.repository in text:
                holders.append(path.relative_to(ROOT).as_posix())
    assert holders == ["course.toml"]


def test_the_setup_cell_refuses_the_placeholder_on_colab(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    unpublished = setup_cell.Course("someone/course", published=False, release="v1.0")
    monkeypatch.delenv("MF_COURSE_GIT", raising=False)
    with pytest.raises(RuntimeError, match="no published address.*course.toml.*MF_COURSE_GIT"):
        _run_on_fake_colab(setup_cell.setup_cell_source(unpublished), monkeypatch, tmp_path)
    assert not (tmp_path / "mf-course").exists()


def test_the_setup_cell_says_what_failed_when_the_download_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    published = setup_cell.Course("someone/course", published=True, release="v1.0")
    missing = (tmp_path / "no-such-repository").as_uri()
    monkeypatch.setenv("MF_COURSE_GIT", missing)
    with pytest.raises(RuntimeError) as raised:
        _run_on_fake_colab(setup_cell.setup_cell_source(published), monkeypatch, tmp_path)
    message = str(raised.value)
    assert f"Could not download the course from {missing} at release v1.0" in message
    assert "fatal:" in message  # git's own reason
    assert "check the address, that the release exists and that the runtime is online" in message
    assert not list(tmp_path.iterdir()), "a failed clone must leave nothing behind"


def test_a_fork_sets_its_address_in_one_step(tmp_path: Path) -> None:
    course_file = tmp_path / "course.toml"
    shutil.copy(ROOT / "course.toml", course_file)
    fork = setup_cell.set_course("student/my-mf-course", "v2.0", course_file)
    assert fork == setup_cell.Course("student/my-mf-course", published=True, release="v2.0")
    assert setup_cell.load_course(course_file) == fork
    source = setup_cell.setup_cell_source(fork)
    assert '"MF_COURSE_GIT", "https://github.com/student/my-mf-course.git")' in source
    assert 'COURSE_RELEASE = "v2.0"' in source
    assert setup_cell.badge(fork, "03_basic_mf.ipynb", "#open-in-colab").endswith(
        "(https://colab.research.google.com/github/student/my-mf-course/blob/v2.0/notebooks/"
        "03_basic_mf.ipynb)"
    )


@pytest.mark.parametrize("release", ["main", "master", "v1 .0", ""])
def test_course_toml_rejects_a_moving_or_malformed_release(tmp_path: Path, release: str) -> None:
    course_file = tmp_path / "course.toml"
    course_file.write_text(
        f'[course]\nrepository = "a/b"\npublished = true\nrelease = "{release}"\n'
    )
    with pytest.raises(ValueError, match="release must be a tag"):
        setup_cell.load_course(course_file)


def test_the_readme_table_needs_a_row_for_every_notebook() -> None:
    course = setup_cell.load_course()
    readme = (ROOT / "README.md").read_text()
    with pytest.raises(ValueError, match="add a row .* for 99_new.ipynb"):
        setup_cell.updated_readme(readme, course, ["01_data_encoding.ipynb", "99_new.ipynb"])


def test_install_requirements_reads_pyproject_and_reports_pips_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def failing_pip(command: list[str], **_: object) -> subprocess.CompletedProcess:
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(RuntimeError, match="(?s)No matching distribution.*runtime is online"):
        colab.install_requirements()
    assert calls[0][:4] == [sys.executable, "-m", "pip", "install"]
    assert "scikit-learn>=1.6.1" in calls[0]
