"""Re-execute notebooks top to bottom in a fresh kernel and store their outputs in place.

    python tools/run_notebooks.py notebooks/03_basic_mf.ipynb [...]

Runs each notebook with the current environment's kernel from the notebooks/ folder, with
progress bars off (MF_COURSE_PROGRESS=0) so that stored outputs stay clean and exercise
checks strict (MF_COURSE_STRICT_CHECKS=1: a worked solution that fails its check stops the run),
then strips the metadata that nbstripout removes (keeping outputs and execution counts) and
prints how long each notebook took. A cell tagged `raises-exception` may fail; any other error
stops the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run(path: Path) -> float:
    """Execute one notebook in place and return its wall-clock seconds."""
    notebook = nbformat.read(path, as_version=4)
    os.environ["MF_COURSE_PROGRESS"] = "0"
    os.environ["MF_COURSE_STRICT_CHECKS"] = "1"
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    for cell in notebook.cells:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if errors and "raises-exception" not in cell.metadata.get("tags", []):
            raise RuntimeError(f"{path}: a cell raised {errors[0].ename}: {errors[0].evalue}")
    nbformat.write(notebook, path)
    subprocess.run(
        [sys.executable, "-m", "nbstripout", "--keep-output", "--keep-count", str(path)],
        check=True,
    )
    return seconds


def main(paths: list[str]) -> None:
    for name in paths:
        seconds = run(Path(name))
        print(f"{name}: {seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
