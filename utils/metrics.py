"""Error metrics for rating prediction (notebook 03 onwards)."""

from __future__ import annotations

import torch


def mse(predictions: torch.Tensor, ratings: torch.Tensor) -> float:
    """Mean squared error."""
    return float(torch.mean((predictions.float() - ratings.float()) ** 2))


def rmse(predictions: torch.Tensor, ratings: torch.Tensor) -> float:
    """Root mean squared error, in rating units."""
    return mse(predictions, ratings) ** 0.5


def mae(predictions: torch.Tensor, ratings: torch.Tensor) -> float:
    """Mean absolute error, in rating units."""
    return float(torch.mean(torch.abs(predictions.float() - ratings.float())))
