"""Progress bars that show in JupyterLab and a terminal but never in stored outputs or CI logs."""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm

PROGRESS_ENV = "MF_COURSE_PROGRESS"


def progress_enabled() -> bool:
    """False under CI or when $MF_COURSE_PROGRESS is 0 (set while storing notebook outputs)."""
    if os.environ.get(PROGRESS_ENV, "").strip() in ("0", "false", "no"):
        return False
    return not os.environ.get("CI")


def progress_bar(**kwargs: Any) -> tqdm:
    """A tqdm bar that removes itself when done (leave=False) and is off where it would leak.

    In a Jupyter kernel it is a widget; elsewhere it draws only on a terminal, so a script whose
    output goes to a file or a pipe (a log, the benchmark) gets no bars.
    """
    kwargs.setdefault("leave", False)
    disable = None if progress_enabled() and not _in_jupyter_kernel() else not progress_enabled()
    return tqdm(disable=disable, **kwargs)


def _in_jupyter_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")
