"""Plots shared by the notebooks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes


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
