"""Hygiene of the stored notebooks: clean top-to-bottom runs, stripped metadata, a lesson shape."""

from __future__ import annotations

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
