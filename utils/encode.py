"""Id encoding, train/validation splits and tensors for training (taught in notebook 01)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

UNSEEN = -1
SECONDS_PER_YEAR = 365.25 * 24 * 3600


@dataclass(frozen=True)
class IdEncoder:
    """Maps raw ids seen in training to 0..n-1 and back; unseen ids encode to UNSEEN (-1)."""

    ids: np.ndarray  # sorted unique raw ids; position = index

    @classmethod
    def fit(cls, raw_ids: pd.Series | np.ndarray) -> IdEncoder:
        """Learn the encoding from the training ids."""
        return cls(np.unique(np.asarray(raw_ids)))

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, raw_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Raw ids to contiguous indices, UNSEEN where the id was not in training."""
        return pd.Index(self.ids).get_indexer(np.asarray(raw_ids)).astype(np.int64)

    def decode(self, indices: np.ndarray | torch.Tensor) -> np.ndarray:
        """Contiguous indices back to raw ids."""
        indices = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices)
        if (indices < 0).any() or (indices >= len(self.ids)).any():
            raise IndexError(f"indices must lie in 0..{len(self.ids) - 1} to be decoded")
        return self.ids[indices]


class EncoderSizes:
    """`n_users` and `n_items` for a dataclass holding `users` and `items` encoders."""

    users: IdEncoder
    items: IdEncoder

    @property
    def n_users(self) -> int:
        """Number of users in the embedding table."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items in the embedding table."""
        return len(self.items)


@dataclass(frozen=True)
class EncodedSplit(EncoderSizes):
    """A train/validation pair with user_idx and item_idx columns and the encoders behind them."""

    train: pd.DataFrame
    valid: pd.DataFrame
    users: IdEncoder
    items: IdEncoder
    n_valid_dropped: int  # validation rows whose user or item never appears in training


def encode_split(train: pd.DataFrame, valid: pd.DataFrame) -> EncodedSplit:
    """Fit encoders on `train`, encode both frames and drop validation rows with unseen ids."""
    users = IdEncoder.fit(train["user_id"])
    items = IdEncoder.fit(train["item_id"])
    train = train.assign(user_idx=users.encode(train["user_id"]),
                         item_idx=items.encode(train["item_id"]))
    valid = valid.assign(user_idx=users.encode(valid["user_id"]),
                         item_idx=items.encode(valid["item_id"]))
    seen = (valid["user_idx"] != UNSEEN) & (valid["item_idx"] != UNSEEN)
    return EncodedSplit(
        train=train.reset_index(drop=True),
        valid=valid[seen].reset_index(drop=True),
        users=users,
        items=items,
        n_valid_dropped=int((~seen).sum()),
    )


def time_split(ratings: pd.DataFrame, quantile: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on ratings before the timestamp quantile, validate on the rest (notebook 01)."""
    cutoff = np.quantile(ratings["timestamp"].to_numpy(), quantile)
    before = ratings["timestamp"] < cutoff
    return ratings[before].copy(), ratings[~before].copy()


def later_ratings_split(
    ratings: pd.DataFrame, valid_frac: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest `valid_frac` of ratings validate, the earlier ones train (notebook 05).

    Every user with at least 1 / valid_frac ratings is in the validation set, so a score averages
    over many users; ties in time keep the order of `ratings`. Unlike `time_split` this is not
    one clock for everyone: other users' later ratings stay in training.
    """
    if not 0 < valid_frac < 1:
        raise ValueError(f"valid_frac must lie strictly between 0 and 1, not {valid_frac}")
    ordered = ratings.sort_values(["user_id", "timestamp"], kind="stable")
    position = ordered.groupby("user_id").cumcount().to_numpy()
    n_of_user = ordered.groupby("user_id")["user_id"].transform("size").to_numpy()
    later = position >= n_of_user - np.floor(valid_frac * n_of_user)
    return ordered[~later].copy(), ordered[later].copy()


def backtest_splits(
    train: pd.DataFrame, quantiles: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)
) -> list[EncodedSplit]:
    """Time splits of the training ratings at several cut-offs: the past predicting its future.

    On a time split, settings are best chosen the way they will be used: each backtest trains on
    the training ratings before one timestamp quantile and validates on the later ones.
    """
    return [encode_split(*time_split(train, quantile)) for quantile in quantiles]


def recency_weights(
    timestamps: pd.Series | np.ndarray, time_constant_years: float
) -> torch.Tensor:
    """exp(-age / time constant) per rating, with age counted back from the newest; mean 1."""
    if not time_constant_years > 0:
        raise ValueError(f"time_constant_years must be positive, not {time_constant_years}")
    seconds = np.asarray(timestamps, dtype=np.float64)
    if seconds.size == 0:
        raise ValueError("no timestamps to weight")
    age_years = (seconds.max() - seconds) / SECONDS_PER_YEAR
    weights = np.exp(-age_years / time_constant_years)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


YEAR_EDGES = (1960, 1970, 1980, 1990, 1995, 2000, 2005, 2010, 2015)


def release_years(titles: pd.Series) -> pd.Series:
    """The year in brackets at the end of each title ("Heat (1995)" -> 1995.0), NaN if none."""
    return titles.str.extract(r"\((\d{4})\)\s*$")[0].astype("float64")


def item_features(
    movies: pd.DataFrame, items: IdEncoder, year_edges: tuple[int, ...] | None = YEAR_EDGES
) -> pd.DataFrame:
    """One 0/1 row per encoded item: a column per genre and per release-year bin (notebook 05).

    Rows follow the item indices of `items`; the year bins are cut at `year_edges` (a film
    released in an edge year opens the next bin), and a title without a year gets no year bin.
    year_edges=None gives the genre columns only.
    """
    by_id = movies.drop_duplicates("item_id").set_index("item_id")
    missing = ~pd.Index(items.ids).isin(by_id.index)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} encoded items have no row in `movies` (for example item_id "
            f"{items.ids[missing][0]}): pass the movies table of the dataset the ratings came from"
        )
    films = by_id.loc[items.ids]
    genre_names = sorted({genre for genres in by_id["genres"] for genre in genres})
    genres = pd.DataFrame(
        [[genre in film_genres for genre in genre_names] for film_genres in films["genres"]],
        columns=genre_names,
    )
    if year_edges is None:
        return genres.astype("float32")
    bin_names = ([f"released before {year_edges[0]}"]
                 + [f"released {start}-{end - 1}" for start, end in itertools.pairwise(year_edges)]
                 + [f"released {year_edges[-1]} or later"])
    released = release_years(films["title"]).to_numpy()
    year_bin = np.searchsorted(year_edges, released, side="right")
    has_year = ~np.isnan(released)
    years = pd.DataFrame(
        (year_bin[:, None] == np.arange(len(bin_names))[None, :]) & has_year[:, None],
        columns=bin_names,
    )
    return pd.concat([genres, years], axis=1).astype("float32")


def random_split(
    ratings: pd.DataFrame, valid_frac: float = 0.2, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random split, row for row the same as scikit-learn's train_test_split."""
    if not 0 < valid_frac < 1:
        raise ValueError(f"valid_frac is the share of ratings held out, between 0 and 1 "
                         f"(exclusive), not {valid_frac!r}")
    n_valid = int(np.ceil(valid_frac * len(ratings)))
    order = np.random.RandomState(seed).permutation(len(ratings))
    return ratings.iloc[order[n_valid:]].copy(), ratings.iloc[order[:n_valid]].copy()


@dataclass(frozen=True)
class RatingTensors:
    """Encoded (user_idx, item_idx, rating) triples as tensors on one device."""

    user_idx: torch.Tensor  # (N,) int64
    item_idx: torch.Tensor  # (N,) int64
    ratings: torch.Tensor  # (N,) float32

    def __post_init__(self) -> None:
        shapes = [tuple(t.shape) for t in (self.user_idx, self.item_idx, self.ratings)]
        if any(len(shape) != 1 for shape in shapes) or len(set(shapes)) != 1:
            raise ValueError(
                f"user_idx, item_idx and ratings must be 1-D tensors of one length (N,), not of "
                f"shapes {shapes[0]}, {shapes[1]} and {shapes[2]}: flatten a column such as "
                f"(N, 1) with .reshape(-1)"
            )

    def __len__(self) -> int:
        return len(self.ratings)

    def to(self, device: torch.device | str) -> RatingTensors:
        """The same triples on another device."""
        return RatingTensors(*(t.to(device) for t in (self.user_idx, self.item_idx, self.ratings)))

    def subset(self, rows: torch.Tensor) -> RatingTensors:
        """The triples at the given row indices (a minibatch or a slice)."""
        # index_select is the same gather as self.ratings[rows], several times faster on CPU.
        return RatingTensors(*(t.index_select(0, rows) for t in
                               (self.user_idx, self.item_idx, self.ratings)))


def to_tensors(frame: pd.DataFrame, device: torch.device | str = "cpu") -> RatingTensors:
    """Tensors from a frame with user_idx, item_idx and rating columns."""
    # torch.tensor copies: pandas hands out read-only arrays under copy-on-write.
    return RatingTensors(
        torch.tensor(frame["user_idx"].to_numpy(), dtype=torch.int64),
        torch.tensor(frame["item_idx"].to_numpy(), dtype=torch.int64),
        torch.tensor(frame["rating"].to_numpy(), dtype=torch.float32),
    ).to(device)
