"""Dry-run reading and running times of lessons, section by section (the tables in TEACHING.md).

    python tools/lesson_times.py notebooks/01_data_encoding.ipynb [...]

A dry run reads markdown at 200 words a minute and spends 5 seconds per line of code reading and
running it; the notebook's execution time comes on top (tools/run_notebooks.py measures it).
The worked solutions and self-check answers are left out: they are not read in class.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

WORDS_PER_MINUTE = 200
SECONDS_PER_CODE_LINE = 5
INSTRUCTOR_ONLY = "instructor-only"


def sections(path: Path) -> list[tuple[str, int, int]]:
    """(section heading, prose words, non-blank code lines) for each "## " section."""
    rows = [["title, what you will learn, setup", 0, 0]]
    for cell in nbformat.read(path, as_version=4).cells:
        if "nbgrader" in cell.metadata or INSTRUCTOR_ONLY in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            rows.append([cell.source.splitlines()[0][3:], 0, 0])
        if cell.cell_type == "markdown":
            rows[-1][1] += len(re.findall(r"\w+", cell.source))
        else:
            rows[-1][2] += sum(1 for line in cell.source.splitlines() if line.strip())
    return [tuple(row) for row in rows]


def main(paths: list[str]) -> None:
    for name in paths:
        print(f"{name}\n| section | words | code lines | dry run (min) |\n|---|---:|---:|---:|")
        total = 0.0
        for heading, words, lines in sections(Path(name)):
            minutes = words / WORDS_PER_MINUTE + lines * SECONDS_PER_CODE_LINE / 60
            total += minutes
            print(f"| {heading} | {words} | {lines} | {minutes:.1f} |")
        print(f"| **lesson** | | | **{total:.1f}** |\n")


if __name__ == "__main__":
    main(sys.argv[1:])
