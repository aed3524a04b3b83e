"""The student edition (`make student`, nbgrader generate_assignment) hides every solution and
still runs top to bottom, each check saying "not yet answered"."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_notebooks import WITH_SOLUTIONS

from utils.checks import STRICT_ENV

ROOT = Path(__file__).resolve().parent.parent
# The lessons with worked solutions; test_notebooks.py checks that this list is complete.
CONVERTED = WITH_SOLUTIONS
SOLUTION_MARK = "### BEGIN SOLUTION"


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


@pytest.fixture(scope="module")
def student_edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student edition of every lesson, built the way `make student` builds it."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "notebooks", course / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", course)
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "notebooks", "--no-db",
         "--force"],
        cwd=course, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return course / "student" / "notebooks"


def test_every_lesson_has_a_student_edition(student_edition: Path) -> None:
    lessons = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in student_edition.glob("*.ipynb")) == lessons


@pytest.mark.parametrize("name", CONVERTED)
def test_solutions_are_hidden_and_the_rest_intact(student_edition: Path, name: str) -> None:
    source = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    student = nbformat.read(student_edition / name, as_version=4).cells
    assert [c for c in source if "instructor-only" in _tags(c)], f"{name}: no self-check answers"
    assert len(student) == len([c for c in source if "instructor-only" not in _tags(c)])
    kept = [c for c in source if "instructor-only" not in _tags(c)]
    for original, handed_out in zip(kept, student, strict=True):
        if original.metadata.get("nbgrader", {}).get("solution"):
            assert SOLUTION_MARK not in handed_out.source
            assert "YOUR CODE HERE" in handed_out.source or handed_out.source == "YOUR ANSWER HERE"
            assert handed_out.get("outputs", []) == []
        elif "check" in _tags(original):
            assert handed_out.source == original.source and handed_out.outputs == []
        else:  # everything else, stored outputs included, is handed out as it is
            assert handed_out.source == original.source
            assert handed_out.get("outputs") == original.get("outputs")
    assert not any(SOLUTION_MARK in c.source for c in student)


@pytest.mark.parametrize("name", CONVERTED)
def test_student_edition_runs_and_checks_say_not_yet_answered(
    student_edition: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)  # a student's kernel: checks only report
    monkeypatch.setenv("MF_COURSE_PROGRESS", "0")
    notebook = nbformat.read(student_edition / name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    for cell in notebook.cells:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if "raises-exception" not in _tags(cell):
            assert not errors, f"{name}: {cell.source[:60]!r} raised {errors[0].ename}"
    checks = [c for c in notebook.cells if "check" in _tags(c)]
    assert checks, f"{name}: no check cells"
    for cell in checks:
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert "not yet answered" in printed, f"{name}: {cell.source!r} printed {printed!r}"

