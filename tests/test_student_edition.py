"""The student edition (`make student`, nbgrader generate_assignment) hides every solution and
still runs top to bottom, away from the defaults: each lesson with the knob its exercises change,
each check saying "not yet answered"."""

from __future__ import annotations

import ast
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
LESSONS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


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
    assert sorted(p.name for p in student_edition.glob("*.ipynb")) == LESSONS


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


# What a student changes in the parameters cell while doing a lesson: another SEED, another
# dataset or slice, a different model size or range. The student edition runs with these
# changes, so every lesson must also run to the end (its asserts holding) away from its defaults.
EXERCISE_CHANGES = {
    "01_data_encoding.ipynb": 'VALID_QUANTILE = 0.9\nDATASET = "ml-100k"',
    "02_embeddings_debug.ipynb": "N_FACTORS = 6",
    "03_basic_mf.ipynb": "SEED = 7",
    "04_bias_mf.ipynb": "SEED = 7",
    "05_evaluation.ipynb": "SEED = 7",
    "06_gravity_mf.ipynb": "SEED = 7",
    "07_deep_mf.ipynb": "SEED = 7",
    "08_advanced_mf.ipynb": "Y_RANGE = (0.0, 5.0)",
    "09_rankings.ipynb": 'SAMPLING_DATASET = "ml-latest-small"',
}


def test_exercise_changes_name_lessons() -> None:
    assert set(EXERCISE_CHANGES) == set(LESSONS), "every lesson runs once with changed knobs"


def _assigned_names(source: str) -> set[str]:
    """The names a cell's top-level assignments set (tuple targets included)."""
    targets = [t for node in ast.parse(source).body if isinstance(node, ast.Assign)
               for t in node.targets]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _change_parameters(notebook: nbformat.NotebookNode, change: str) -> None:
    """Append `change` to the parameters cell; every name it sets must be a knob already."""
    cell = next(c for c in notebook.cells if "parameters" in _tags(c))
    knobs = _assigned_names(cell.source) | {"SEED"}  # SEED is set by the setup cell
    for name in _assigned_names(change):
        assert name in knobs, f"{name} is not a knob of this lesson's parameters cell"
    cell.source += f"\n{change}\n"


@pytest.mark.parametrize("name", LESSONS)
def test_student_edition_runs_with_the_exercise_changes(
    student_edition: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)  # a student's kernel: checks only report
    monkeypatch.setenv("MF_COURSE_PROGRESS", "0")
    notebook = nbformat.read(student_edition / name, as_version=4)
    if name in EXERCISE_CHANGES:
        _change_parameters(notebook, EXERCISE_CHANGES[name])
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    for cell in notebook.cells:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if "raises-exception" not in _tags(cell):
            assert not errors, f"{name}: {cell.source[:60]!r} raised {errors[0].ename}"
    checks = [c for c in notebook.cells if "check" in _tags(c)]
    assert bool(checks) == (name in CONVERTED), f"{name}: check cells and WITH_SOLUTIONS disagree"
    for cell in checks:
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert "not yet answered" in printed, f"{name}: {cell.source!r} printed {printed!r}"
