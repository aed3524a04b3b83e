"""Constants and the progress log shared by the bench modules."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
MARK_START, MARK_END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"
# ml-1m's shape: the synthetic speed set and the scaling points keep its ratings per user/item.
ML1M_USERS, ML1M_ITEMS, ML1M_RATINGS = 6040, 3706, 1_000_209
NDCG_K, NDCG_THRESHOLD = 10, 4.0
HEAD_TO_HEAD = 3  # timed fits of each contender against surprise SVD (the median is kept)
Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def log(message: str) -> None:
    """Progress on stderr with the elapsed wall time, so that a slow section shows itself."""
    print(f"[{time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


T0 = time.perf_counter()
