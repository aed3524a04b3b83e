"""Unit tests of utils.synthetic: the ml-1m-sized made-up ratings used for timing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from utils.synthetic import synthetic_ratings, zipf_mandelbrot


def test_shape_dtypes_and_ranges_of_a_small_table() -> None:
    ratings = synthetic_ratings(60, 40, 900, seed=1)
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert ratings.dtypes.to_dict() == {
        "user_id": np.int64, "item_id": np.int64, "rating": np.float32, "timestamp": np.int64,
    }
    assert len(ratings) == 900
    assert set(ratings["user_id"]) == set(range(1, 61))  # every user rates something
    assert set(ratings["item_id"]) == set(range(1, 41))  # every item is rated
    assert not ratings.duplicated(["user_id", "item_id"]).any()
    assert set(ratings["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_same_seed_same_table_other_seed_other_table() -> None:
    first = synthetic_ratings(50, 30, 500, seed=3)
    pd.testing.assert_frame_equal(first, synthetic_ratings(50, 30, 500, seed=3))
    assert not first.equals(synthetic_ratings(50, 30, 500, seed=4))


def test_ml1m_sized_defaults_are_skewed_like_movielens() -> None:
    ratings = synthetic_ratings(seed=0)
    assert len(ratings) == 1_000_209
    assert ratings["user_id"].nunique() == 6040 and ratings["item_id"].nunique() == 3706
    assert not ratings.duplicated(["user_id", "item_id"]).any()
    per_user = ratings.groupby("user_id").size()
    per_item = ratings.groupby("item_id").size()
    # Heavy tails: the busiest user and the most popular item are far above the median.
    assert 70 <= per_user.median() <= 130 and per_user.max() > 8 * per_user.median()
    assert 90 <= per_item.median() <= 170 and per_item.max() > 15 * per_item.median()
    assert 3.2 < ratings["rating"].mean() < 3.8 and 0.9 < ratings["rating"].std() < 1.3


def test_zipf_mandelbrot_is_a_decreasing_distribution() -> None:
    p = zipf_mandelbrot(100, 1.0, 5.0)
    assert p.shape == (100,) and np.isclose(p.sum(), 1.0)
    assert (np.diff(p) < 0).all()


@pytest.mark.parametrize("sizes", [(10, 10, 5), (10, 10, 60), (0, 10, 10)])
def test_impossible_sizes_are_refused(sizes: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        synthetic_ratings(*sizes)
