"""Plots shared by the notebooks."""

from __future__ import annotations

import importlib.util
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from utils.progress import progress_enabled


def plot_history(history: pd.DataFrame, ax: Axes | None = None, title: str = "") -> Axes:
    """Training loss and every *_mse column of a `fit` history against the epoch."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history.index, history["train_loss"], label="train loss")
    for column in history.columns:
        if column.endswith("_mse"):
            ax.plot(history.index, history[column], label=column.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_counts(counts: pd.Series, ax: Axes | None = None, what: str = "user") -> Axes:
    """Histogram on log axes of how many ratings each user (or movie) has."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.hist(counts, bins=50, log=True)
    ax.set_xlabel(f"ratings per {what}")
    ax.set_ylabel(f"number of {what}s (log)")
    ax.grid(alpha=0.3)
    return ax


def interactive_3d_available(requested: bool | None = None) -> bool:
    """Whether to draw with the ipympl widget backend (notebook 06's rotatable 3D view).

    True/False force the choice (True still needs ipympl installed). None guesses: ipympl is
    importable, a Jupyter server started the kernel ($JPY_SESSION_NAME, set by JupyterLab),
    and neither CI nor MF_COURSE_PROGRESS=0 (stored outputs, nbval) asks for static output.
    """
    if requested is False or importlib.util.find_spec("ipympl") is None:
        return False
    if requested:
        return True
    in_colab = "google.colab" in sys.modules  # needs a custom widget manager: static by default
    return progress_enabled() and "JPY_SESSION_NAME" in os.environ and not in_colab


def plot_groups(
    points: np.ndarray,
    groups: pd.Series | np.ndarray,
    order: list[str] | None = None,
    ax: Axes | None = None,
    title: str = "",
) -> Axes:
    """Scatter 2D or 3D points coloured by group, with counts in the legend (notebook 06)."""
    points = np.asarray(points)
    groups = np.asarray(groups)
    if ax is None:
        fig = plt.figure(figsize=(5, 4.5))
        ax = fig.add_subplot(projection="3d" if points.shape[1] == 3 else None)
    for name in order if order is not None else sorted(set(groups)):
        chosen = groups == name
        ax.scatter(*points[chosen].T, s=8, alpha=0.7, label=f"{name} ({chosen.sum()})")
    ax.set_title(title)
    ax.legend(fontsize="small", markerscale=2)
    return ax
