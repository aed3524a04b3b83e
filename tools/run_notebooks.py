"""Re-execute notebooks top to bottom in a fresh kernel and store their outputs in place.

    python tools/run_notebooks.py notebooks/03_basic_mf.ipynb [...]
    python tools/run_notebooks.py --time-only notebooks/*.ipynb   # time them, write nothing

Runs each notebook with the current environment's kernel from the notebooks/ folder, with
progress bars off (MF_COURSE_PROGRESS=0) so that stored outputs stay clean and exercise
checks strict (MF_COURSE_STRICT_CHECKS=1: a worked solution that fails its check stops the run),
then strips the metadata that nbstripout removes (keeping outputs and execution counts) and
prints how long each notebook took, and how much of it the worked solutions took (the lesson
a student runs has them removed). A cell tagged `raises-exception` may fail; any other error
stops the run. `make notebooks` runs it on one CPU thread, so that stored digits do not depend on
the machine's cores; the README's run times come from `--time-only` with PyTorch's default
threads, as on a student's laptop (`--time-only` leaves the stored outputs alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """Wall-clock seconds of one executed code cell, from the timing nbclient records."""
    timing = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return 0.0
    started, ended = (datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                      for key in ("iopub.execute_input", "shell.execute_reply"))
    return (ended - started).total_seconds()


def run(path: Path, write: bool = True) -> tuple[float, float]:
    """Execute one notebook (in place if `write`); its seconds, and its solutions' seconds."""
    notebook = nbformat.read(path, as_version=4)
    os.environ["MF_COURSE_PROGRESS"] = "0"
    os.environ["MF_COURSE_STRICT_CHECKS"] = "1"
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=True,
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    for cell in notebook.cells:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if errors and "raises-exception" not in cell.metadata.get("tags", []):
            raise RuntimeError(f"{path}: a cell raised {errors[0].ename}: {errors[0].evalue}")
    in_solutions = sum(cell_seconds(cell) for cell in notebook.cells
                       if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source)
    if write:
        nbformat.write(notebook, path)
        subprocess.run(
            [sys.executable, "-m", "nbstripout", "--keep-output", "--keep-count", str(path)],
            check=True,
        )
    return seconds, in_solutions


def main(args: list[str]) -> None:
    write = "--time-only" not in args
    for name in (arg for arg in args if arg != "--time-only"):
        seconds, in_solutions = run(Path(name), write)
        print(f"{name}: {seconds:.1f} s, of which {in_solutions:.1f} s in the worked solutions")


if __name__ == "__main__":
    main(sys.argv[1:])
