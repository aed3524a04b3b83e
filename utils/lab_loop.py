"""The deep-MF lab's training epoch (U Kang's lab slides), the slow baseline for timing.

Notebook 07 explains why it is slow and times it against `utils.train.fit`; the bench reuses
it. The pattern: a map-style Dataset whose `__getitem__` builds two small tensors for ONE
rating, and a DataLoader that calls it 512 times per step and collates the results. Train
models with `utils.train.fit` instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from utils.encode import RatingTensors


class PerSampleRatings(Dataset):
    """One (user_idx, item_idx) pair and its rating per index, as two fresh tensors."""

    def __init__(self, pairs: np.ndarray, ratings: np.ndarray):
        self.pairs = pairs  # (N, 2) int64: user_idx, item_idx
        self.ratings = ratings  # (N, 1) float32

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Two tensors for a single rating: this is the per-sample work that adds up.
        return torch.LongTensor(self.pairs[idx, :]), torch.FloatTensor(self.ratings[idx, :])


def lab_loader(
    data: RatingTensors, batch_size: int = 512, shuffle: bool = True, seed: int = 0
) -> DataLoader:
    """A shuffling DataLoader over a PerSampleRatings built from encoded rating triples."""
    pairs = torch.stack([data.user_idx, data.item_idx], dim=1).cpu().numpy()  # (N, 2)
    ratings = data.ratings.cpu().numpy().reshape(-1, 1)  # (N, 1)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        PerSampleRatings(pairs, ratings), batch_size=batch_size, shuffle=shuffle,
        generator=generator,
    )


@dataclass(frozen=True)
class LabEpoch:
    """What one (possibly truncated) lab-style epoch did and how long it took."""

    train_rmse: float  # sqrt of the mean batch MSE, as the lab reports it
    n_steps: int
    n_ratings: int
    seconds: float

    @property
    def ratings_per_second(self) -> float:
        """Training throughput."""
        return self.n_ratings / self.seconds


def lab_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    device: torch.device | str,
    max_steps: int | None = None,
) -> LabEpoch:
    """One pass over `loader` the lab's way (stop after `max_steps` batches if given)."""
    model.train()
    loss_total, n_steps, n_ratings = 0.0, 0, 0
    started = time.perf_counter()
    for x, r in loader:  # x: (B, 2) int64, r: (B, 1) float32
        x, r = x.to(device), r.to(device)
        optimizer.zero_grad()
        predictions = model(x[:, 0], x[:, 1]).reshape(-1, 1)  # (B, 1)
        loss = F.mse_loss(predictions, r)
        loss_total += loss.item()  # one device synchronisation per step, as in the lab
        loss.backward()
        optimizer.step()
        n_steps += 1
        n_ratings += len(r)
        if max_steps is not None and n_steps >= max_steps:
            break
    seconds = time.perf_counter() - started
    return LabEpoch(math.sqrt(loss_total / max(n_steps, 1)), n_steps, n_ratings, seconds)
