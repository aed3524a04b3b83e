"""Progress bars that show in JupyterLab and a terminal but never in stored outputs or CI logs."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm

PROGRESS_ENV = "MF_COURSE_PROGRESS"


def progress_enabled() -> bool:
    """False under CI or when $MF_COURSE_PROGRESS is 0 (set while storing notebook outputs)."""
    if os.environ.get(PROGRESS_ENV, "").strip() in ("0", "false", "no"):
        return False
    return not os.environ.get("CI")


def progress_bar(**kwargs: Any) -> tqdm:
    """A tqdm bar that removes itself when done (leave=False) and is off where it would leak."""
    kwargs.setdefault("leave", False)
    return tqdm(disable=not progress_enabled(), **kwargs)
