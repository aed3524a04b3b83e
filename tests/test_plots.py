"""utils.plots: the shared figures draw what they say."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from utils.plots import plot_counts, plot_history  # noqa: E402


def test_plot_history_draws_loss_and_every_mse_column() -> None:
    history = pd.DataFrame(
        {"train_loss": [2.0, 1.0], "valid_mse": [2.5, 1.5], "test_mse": [2.6, 1.6],
         "valid_rmse": [1.6, 1.2]},
        index=pd.Index([1, 2], name="epoch"),
    )
    ax = plot_history(history, title="demo")
    assert [line.get_label() for line in ax.get_lines()] == ["train loss", "valid mse", "test mse"]
    assert ax.get_title() == "demo"


def test_plot_counts_is_a_log_histogram() -> None:
    ax = plot_counts(pd.Series([1, 2, 2, 50, 300]), what="movie")
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "ratings per movie"
