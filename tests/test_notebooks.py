"""Hygiene of the stored notebooks: clean top-to-bottom runs, stripped metadata, a lesson shape."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
SETUP_MARKER = "# Setup, the same cell opens every lesson"


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_run_is_clean_and_in_order(path: Path) -> None:
    cells = [c for c in _code_cells(path) if c.source.strip()]
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: re-run top to bottom"
    for cell in cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        deliberate = "raises-exception" in cell.metadata.get("tags", [])
        assert bool(errors) == deliberate, (
            f"{path.name}, cell {cell.execution_count}: "
            + ("an error output" if errors else "tagged raises-exception but raised nothing")
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stripped_with_nbstripout(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--keep-output", "--keep-count", "--verify",
         str(path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, f"{path.name}: run nbstripout --keep-output --keep-count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_shape(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    first_code = _code_cells(path)[0]
    assert SETUP_MARKER in first_code.source, f"{path.name}: the shared setup cell comes first"
    title = notebook.cells[0]
    assert title.cell_type == "markdown", f"{path.name}: a markdown title cell comes first"
    heading = [line for line in title.source.split("\n") if line and not line.startswith("[![")]
    assert heading[0].startswith("# "), f"{path.name}: the title cell opens with a # heading"
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "## Summary" in markdown and "## Exercises" in markdown
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one parameters cell of UPPER_CASE knobs"


# The lessons in the instructor-kit format (TEACHING.md, tools/add_solutions.py): each exercise
# has a worked solution, checks where an answer can be checked, and a self-check. Every lesson is
# in it; a new lesson joins the list once its solutions are written.
WITH_SOLUTIONS = ["01_data_encoding.ipynb", "02_embeddings_debug.ipynb", "03_basic_mf.ipynb",
                  "04_bias_mf.ipynb", "05_evaluation.ipynb", "06_gravity_mf.ipynb",
                  "07_deep_mf.ipynb", "08_advanced_mf.ipynb", "09_rankings.ipynb"]


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def test_the_list_of_converted_lessons_is_true() -> None:
    converted = [p.name for p in NOTEBOOKS
                 if any(_is_solution(c) for c in nbformat.read(p, as_version=4).cells)]
    assert converted == WITH_SOLUTIONS


@pytest.mark.parametrize("name", WITH_SOLUTIONS)
def test_every_exercise_has_a_solution_and_the_lesson_a_self_check(name: str) -> None:
    cells = nbformat.read(NOTEBOOKS[0].parent / name, as_version=4).cells
    exercises = next(c.source for c in cells if "## Exercises" in c.source)
    listed = re.findall(r"^(\d+)\. ", exercises.split("## Exercises")[1], flags=re.MULTILINE)
    for number in listed:
        header = next((i for i, c in enumerate(cells)
                       if c.source.startswith(f"### Exercise {number}\n")), None)
        assert header is not None, f"{name}: exercise {number} has no '### Exercise' cell"
        following = cells[header + 1:header + 4]
        assert any(c.cell_type == "code" and _is_solution(c) for c in following), (
            f"{name}: exercise {number} has no solution code cell")
        assert any(c.cell_type == "markdown" and _is_solution(c) for c in following), (
            f"{name}: exercise {number} has no prose answer")
    self_check = [c.source for c in cells if c.source.startswith("## Self-check")]
    assert len(self_check) == 1, f"{name}: one '## Self-check' cell at the end"
    assert 5 <= len(re.findall(r"^\d+\. ", self_check[0], flags=re.MULTILINE)) <= 10
    assert any("instructor-only" in c.metadata.get("tags", []) for c in cells), (
        f"{name}: the self-check answers go in a cell tagged instructor-only")


@pytest.mark.parametrize("name", WITH_SOLUTIONS)
def test_stored_solutions_pass_their_checks(name: str) -> None:
    cells = nbformat.read(NOTEBOOKS[0].parent / name, as_version=4).cells
    for cell in [c for c in cells if "check" in c.metadata.get("tags", [])]:
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert ": correct: " in printed, f"{name}: {cell.source!r} printed {printed!r}"
