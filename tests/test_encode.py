"""utils.encode: the encoder, both splits (the source notebook's exact numbers) and tensors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import train_test_split

from utils.data import load_movies, load_ratings
from utils.encode import (
    SECONDS_PER_YEAR,
    UNSEEN,
    YEAR_EDGES,
    IdEncoder,
    RatingTensors,
    backtest_splits,
    encode_split,
    item_features,
    later_ratings_split,
    random_split,
    recency_weights,
    release_years,
    time_split,
    to_tensors,
)


@pytest.fixture
def ml_latest_small(mirror, monkeypatch) -> pd.DataFrame:
    monkeypatch.setenv("MOVIELENS_MIRROR", str(mirror))
    return load_ratings("ml-latest-small")


def test_seed_000_time_split_is_exact(ml_latest_small: pd.DataFrame) -> None:
    split = encode_split(*time_split(ml_latest_small, 0.8))
    assert (split.n_users, split.n_items) == (522, 7_867)
    assert (len(split.train), len(split.valid)) == (80_668, 1_311)
    assert split.n_valid_dropped == 100_836 - 80_668 - 1_311


def test_time_split_puts_the_future_in_validation(ml_latest_small: pd.DataFrame) -> None:
    train, valid = time_split(ml_latest_small, 0.8)
    assert train["timestamp"].max() < valid["timestamp"].min()
    assert len(train) + len(valid) == len(ml_latest_small)


def test_backtests_are_time_splits_of_the_training_ratings(ml_latest_small) -> None:
    train, valid = time_split(ml_latest_small, 0.8)
    backtests = backtest_splits(train, (0.7, 0.9))
    assert len(backtests) == 2
    for backtest, quantile in zip(backtests, (0.7, 0.9), strict=True):
        assert backtest.train["timestamp"].max() < backtest.valid["timestamp"].min()
        assert backtest.valid["timestamp"].max() < valid["timestamp"].min()
        assert len(backtest.train) == pytest.approx(quantile * len(train), rel=0.01)
    assert len(backtests[0].train) < len(backtests[1].train)


def test_recency_weights_decay_with_age_and_average_one() -> None:
    newest = 1_500_000_000
    ages = np.array([0.0, 1.0, 10.0, 20.0])
    weights = recency_weights(pd.Series(newest - ages * SECONDS_PER_YEAR), 10.0)
    assert weights.dtype == torch.float32
    assert float(weights.mean()) == pytest.approx(1.0)
    assert torch.allclose(weights / weights[0], torch.tensor(np.exp(-ages / 10.0)).float())


@pytest.mark.parametrize("years", [0.0, -1.0])
def test_recency_weights_need_a_positive_time_constant(years: float) -> None:
    with pytest.raises(ValueError, match="time_constant_years must be positive"):
        recency_weights(np.array([1.0, 2.0]), years)


def test_recency_weights_of_nothing() -> None:
    with pytest.raises(ValueError, match="no timestamps"):
        recency_weights(np.array([]), 1.0)


def test_random_split_matches_scikit_learn(ml_latest_small: pd.DataFrame) -> None:
    train, valid = random_split(ml_latest_small, valid_frac=0.2, seed=42)
    sk_train, sk_valid = train_test_split(ml_latest_small, test_size=0.2, random_state=42)
    pd.testing.assert_frame_equal(train, sk_train)
    pd.testing.assert_frame_equal(valid, sk_valid)


def test_random_split_depends_on_the_seed(ml_latest_small: pd.DataFrame) -> None:
    first, _ = random_split(ml_latest_small, seed=1)
    second, _ = random_split(ml_latest_small, seed=2)
    assert not first.index.equals(second.index)


def test_encoder_round_trip_and_unseen_ids() -> None:
    encoder = IdEncoder.fit(np.array([30, 10, 20, 10]))
    assert len(encoder) == 3
    assert encoder.encode(np.array([10, 20, 30, 99])).tolist() == [0, 1, 2, UNSEEN]
    assert encoder.decode(np.array([2, 0])).tolist() == [30, 10]
    assert encoder.decode(torch.tensor([1])).tolist() == [20]
    with pytest.raises(IndexError, match="0..2"):
        encoder.decode(np.array([UNSEEN]))


def test_encode_split_drops_rows_with_unseen_ids() -> None:
    train = pd.DataFrame({"user_id": [5, 5, 7], "item_id": [100, 200, 100], "rating": [1., 2, 3]})
    valid = pd.DataFrame({"user_id": [5, 8, 7], "item_id": [200, 100, 300], "rating": [4., 5, 1]})
    split = encode_split(train, valid)
    assert split.train[["user_idx", "item_idx"]].to_numpy().tolist() == [[0, 0], [0, 1], [1, 0]]
    assert split.valid[["user_id", "item_id"]].to_numpy().tolist() == [[5, 200]]
    assert split.n_valid_dropped == 2


def test_encoded_triples_map_back_to_the_original_ratings(ml_latest_small) -> None:
    split = encode_split(*random_split(ml_latest_small, seed=42))
    decoded = pd.DataFrame({
        "user_id": split.users.decode(split.train["user_idx"].to_numpy()),
        "item_id": split.items.decode(split.train["item_idx"].to_numpy()),
        "rating": split.train["rating"].to_numpy(),
    })
    merged = decoded.merge(ml_latest_small, on=["user_id", "item_id"], suffixes=("", "_orig"))
    assert len(merged) == len(decoded)
    assert (merged["rating"] == merged["rating_orig"]).all()
    assert split.train["user_idx"].max() == split.n_users - 1


def test_to_tensors_dtypes_and_subset() -> None:
    frame = pd.DataFrame({"user_idx": [0, 1, 2], "item_idx": [2, 1, 0], "rating": [1.0, 2, 3]})
    tensors = to_tensors(frame)
    assert tensors.user_idx.dtype == torch.int64 and tensors.ratings.dtype == torch.float32
    assert len(tensors) == 3
    batch = tensors.subset(torch.tensor([2, 0]))
    assert batch.item_idx.tolist() == [0, 2] and batch.ratings.tolist() == [3.0, 1.0]


def test_release_years_come_from_the_end_of_the_title() -> None:
    titles = pd.Series(["Heat (1995)", "Babylon 5", "Ready Player One (2018) ", "1984 (1956)"])
    years = release_years(titles)
    assert years.iloc[[0, 2, 3]].tolist() == [1995.0, 2018.0, 1956.0]
    assert np.isnan(years.iloc[1])


def test_item_features_one_hot_genres_and_year_bins() -> None:
    movies = pd.DataFrame({
        "item_id": [10, 20, 30, 40],
        "title": ["Old (1950)", "Edge (1995)", "No year", "New (2017)"],
        "genres": [["Drama"], ["Comedy", "Drama"], [], ["Action"]],
    })
    items = IdEncoder.fit(np.array([40, 10, 20]))  # item 30 was never rated
    features = item_features(movies, items)
    assert list(features.columns[:3]) == ["Action", "Comedy", "Drama"]
    assert len(features.columns) == 3 + len(YEAR_EDGES) + 1
    assert features.loc[0, ["Drama", "released before 1960"]].tolist() == [1.0, 1.0]
    assert features.loc[1, ["Comedy", "Drama", "released 1995-1999"]].tolist() == [1.0] * 3
    assert features.loc[2, ["Action", "released 2015 or later"]].tolist() == [1.0, 1.0]
    assert features.sum(axis=1).tolist() == [2.0, 3.0, 2.0]  # nothing else is set
    assert features.dtypes.eq("float32").all()
    genres_only = item_features(movies, items, year_edges=None)
    assert genres_only.equals(features[["Action", "Comedy", "Drama"]])


def test_item_features_without_a_year_have_no_year_bin() -> None:
    movies = pd.DataFrame({"item_id": [1], "title": ["Babylon 5"], "genres": [["Sci-Fi"]]})
    features = item_features(movies, IdEncoder.fit(np.array([1])))
    assert features.to_numpy().tolist() == [[1.0] + [0.0] * (len(YEAR_EDGES) + 1)]


def test_item_features_refuse_items_missing_from_movies() -> None:
    movies = pd.DataFrame({"item_id": [1], "title": ["A (2000)"], "genres": [["Drama"]]})
    with pytest.raises(ValueError, match="item_id 2.*movies table of the dataset"):
        item_features(movies, IdEncoder.fit(np.array([1, 2])))


def test_item_features_of_ml_latest_small(ml_latest_small: pd.DataFrame) -> None:
    items = IdEncoder.fit(ml_latest_small["item_id"])
    features = item_features(load_movies("ml-latest-small"), items)
    assert features.shape == (len(items), 19 + len(YEAR_EDGES) + 1)
    year_columns = features.columns[19:]
    # every film but the few without a year in the title sits in exactly one year bin
    assert features[year_columns].sum(axis=1).isin([0.0, 1.0]).all()
    assert features[year_columns].sum(axis=1).mean() > 0.99


@pytest.mark.parametrize("valid_frac", [-0.2, 0.0, 1.0, 1.5])
def test_random_split_refuses_a_fraction_outside_zero_to_one(valid_frac: float) -> None:
    ratings = pd.DataFrame({"user_id": range(10), "item_id": range(10)})
    with pytest.raises(ValueError, match=f"valid_frac .* between 0 and 1 .*not {valid_frac}"):
        random_split(ratings, valid_frac=valid_frac)


def test_rating_tensors_refuse_a_column_shaped_n_by_1() -> None:
    idx = torch.arange(4)
    with pytest.raises(ValueError, match=r"shapes \(4,\), \(4,\) and \(4, 1\).*reshape\(-1\)"):
        RatingTensors(idx, idx, torch.ones(4, 1))


def test_later_ratings_split_keeps_each_users_latest_ratings() -> None:
    ratings = pd.DataFrame({
        "user_id": [1] * 10 + [2] * 5 + [3] * 3,
        "item_id": np.arange(18),
        "rating": np.ones(18),
        "timestamp": np.r_[np.arange(10)[::-1], np.arange(5), np.arange(3)],
    })
    train, valid = later_ratings_split(ratings, valid_frac=0.2)
    assert len(train) + len(valid) == len(ratings)
    assert valid.groupby("user_id").size().to_dict() == {1: 2, 2: 1}  # user 3: too few ratings
    latest_train = train.groupby("user_id")["timestamp"].max()
    earliest_valid = valid.groupby("user_id")["timestamp"].min()
    assert (latest_train.loc[earliest_valid.index] < earliest_valid).all()


def test_later_ratings_split_of_ml_latest_small(ml_latest_small: pd.DataFrame) -> None:
    train, valid = later_ratings_split(ml_latest_small, 0.2)
    assert valid["user_id"].nunique() == ml_latest_small["user_id"].nunique() == 610
    assert len(valid) == pytest.approx(0.2 * len(ml_latest_small), rel=0.02)


@pytest.mark.parametrize("valid_frac", [0.0, 1.0, -0.1])
def test_later_ratings_split_refuses_a_fraction_outside_0_1(valid_frac: float) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        later_ratings_split(pd.DataFrame(columns=["user_id", "timestamp"]), valid_frac)
