"""The train/test splits every model is scored on, and the tuning slice."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from utils.data import (
    DATASETS,
    MIRROR_ENV,
    VERIFIED_MARKER,
    DatasetError,
    data_dir,
    load_movies,
    load_ratings,
)
from utils.encode import (
    RatingTensors,
    encode_split,
    item_features,
    random_split,
    time_split,
    to_tensors,
)


@dataclass
class Split:
    """One train/test pair; every model trains on `train` and is scored on the same test rows."""

    key: str
    dataset: str
    train: pd.DataFrame
    test: pd.DataFrame
    seeds: tuple[int, ...] = (0,)
    fold_of: str | None = None  # the group a fold belongs to (the five-fold average)
    ndcg: bool = True
    listed: bool = True  # a column of the leaderboard (folds u2..u5 only feed the average)

    def __post_init__(self) -> None:
        self.encoded = encode_split(self.train, self.test)
        self.train_t = to_tensors(self.encoded.train)
        self.test_t = to_tensors(self.encoded.valid)
        self.global_mean = float(self.encoded.train["rating"].mean())
        self.scale = DATASETS[self.dataset].rating_scale

    @functools.cached_property
    def film_features(self) -> torch.Tensor:
        """Genre and release-year features of the encoded films (HybridMF), built once."""
        features = item_features(load_movies(self.dataset), self.encoded.items)
        return torch.tensor(features.to_numpy())


def ml1m_present() -> str | None:
    """None when ml-1m can be read without a download, else the reason it cannot."""
    root = data_dir()
    mirror = os.environ.get(MIRROR_ENV) or ""
    local = [root / "ml-1m" / VERIFIED_MARKER, root / "ml-1m.zip"]
    if mirror and "://" not in mirror:
        local.append(Path(mirror) / "ml-1m.zip")
    if not any(path.is_file() for path in local):
        return (
            "ml-1m is not on this machine (no verified cache, no ml-1m.zip saved by hand or in "
            "the mirror folder); its rows are skipped, not estimated"
        )
    try:
        load_ratings("ml-1m")
    except DatasetError as error:
        return f"ml-1m could not be read: {error}"
    return None


def make_splits(smoke: bool, skipped: list[str]) -> list[Split]:
    """The benchmark splits (smoke: one small subsample of ml-100k's u1 split)."""
    if smoke:
        base = load_ratings("ml-100k", file_name="u1.base")
        test = load_ratings("ml-100k", file_name="u1.test")
        users = base["user_id"].drop_duplicates().sample(200, random_state=0)
        return [Split("ml-100k u1 (200-user subsample)", "ml-100k",
                      base[base.user_id.isin(users)], test[test.user_id.isin(users)])]
    small = load_ratings("ml-latest-small")
    full_100k = load_ratings("ml-100k")
    splits = [
        Split("ml-latest-small random 80/20", "ml-latest-small", *random_split(small, 0.2, 42),
              seeds=(0, 1, 2)),
        Split("ml-latest-small time 80/20", "ml-latest-small", *time_split(small, 0.8),
              ndcg=False),
        Split("ml-100k random 80/20", "ml-100k", *random_split(full_100k, 0.2, 42),
              ndcg=False),
    ]
    for fold in range(1, 6):
        splits.append(Split(
            f"ml-100k u{fold}.base/u{fold}.test", "ml-100k",
            load_ratings("ml-100k", file_name=f"u{fold}.base"),
            load_ratings("ml-100k", file_name=f"u{fold}.test"),
            fold_of="ml-100k five-fold u1-u5 (mean)", ndcg=fold == 1, listed=fold == 1,
        ))
    reason = ml1m_present()
    if reason is None:
        ml1m = load_ratings("ml-1m")
        splits.append(Split("ml-1m random 80/20", "ml-1m", *random_split(ml1m, 0.2, 42)))
        splits.append(Split("ml-1m random 90/10", "ml-1m", *random_split(ml1m, 0.1, 42)))
    else:
        skipped.append(f"ml-1m random 80/20 and 90/10: {reason}")
    return splits


def tuning_split(smoke: bool) -> Split:
    """A slice of the TRAINING part of ml-latest-small's random split (10%, seed 0)."""
    if smoke:
        base = load_ratings("ml-100k", file_name="u1.base")
        base = base[base.user_id <= 200]
        train, valid = random_split(base, 0.1, seed=0)
        return Split("tuning slice (smoke)", "ml-100k", train, valid)
    train, _ = random_split(load_ratings("ml-latest-small"), 0.2, 42)
    inner_train, inner_valid = random_split(train, 0.1, seed=0)
    return Split("ml-latest-small random 80/20, train part, 90/10 slice (seed 0)",
                 "ml-latest-small", inner_train, inner_valid)



def encoded_tensors(frame: pd.DataFrame) -> tuple[RatingTensors, int, int]:
    """Encode a whole ratings table (no held-out part) and return its tensors and sizes."""
    split = encode_split(frame, frame.iloc[:0])
    return to_tensors(split.train), split.n_users, split.n_items

