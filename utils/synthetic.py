"""A synthetic MovieLens-shaped rating table for timing at ml-1m scale (notebook 07).

The ratings are made up: they exist so that speed can be measured at the size of ml-1m
(6,040 users, 3,706 rated movies, 1,000,209 ratings) on a machine that does not have it.
Never report an accuracy measured on them as a MovieLens result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# ml-1m's timestamps run from 2000-04-25 to 2003-02-28; the synthetic ones fall in that range.
ML1M_TIME_RANGE = (956_703_932, 1_046_454_590)
MAX_DENSITY = 0.5


def zipf_mandelbrot(n: int, exponent: float, offset: float) -> np.ndarray:
    """Probabilities proportional to (rank + offset) ** -exponent for ranks 1..n."""
    weights = (np.arange(1, n + 1) + offset) ** -exponent
    return weights / weights.sum()


def synthetic_ratings(
    n_users: int = 6040,
    n_items: int = 3706,
    n_ratings: int = 1_000_209,
    seed: int = 0,
    *,
    user_skew: tuple[float, float] = (1.0, 150.0),
    item_skew: tuple[float, float] = (1.1, 60.0),
    n_factors: int = 8,
) -> pd.DataFrame:
    """Distinct (user, item) pairs with Zipf-like activity and popularity, ratings 1..5.

    Returns the columns of `utils.data.load_ratings` (user_id, item_id, rating, timestamp) with
    ids 1..n_users and 1..n_items. Every user and every item has at least one rating, so an
    encoder sees exactly n_users users and n_items items. The skews are (exponent, offset) of a
    Zipf-Mandelbrot law; the defaults give medians of about 100 ratings per user and 130 per
    item, near ml-1m's 96 and 124. Ratings come from a hidden biased low-rank model plus noise,
    rounded and clipped to 1..5, so that a model has something to learn.
    """
    if min(n_users, n_items) < 1:
        raise ValueError("n_users and n_items must be at least 1")
    if not n_users + n_items <= n_ratings <= MAX_DENSITY * n_users * n_items:
        raise ValueError(
            f"n_ratings must lie between n_users + n_items ({n_users + n_items}) and "
            f"{MAX_DENSITY:.0%} of n_users * n_items ({int(MAX_DENSITY * n_users * n_items)})"
        )
    rng = np.random.default_rng(seed)
    user_p = zipf_mandelbrot(n_users, *user_skew)  # by activity rank
    item_p = zipf_mandelbrot(n_items, *item_skew)  # by popularity rank

    # One pair per user and one per item first, so that nobody is missing; then pairs drawn
    # independently by activity and popularity, duplicates dropped, until there are enough.
    keys = np.concatenate([
        np.arange(n_users) * n_items + rng.choice(n_items, n_users, p=item_p),
        rng.choice(n_users, n_items, p=user_p) * n_items + np.arange(n_items),
    ])
    keys = _unique_in_order(keys)
    while len(keys) < n_ratings:
        n_draw = int(1.3 * (n_ratings - len(keys))) + 1000
        draws = rng.choice(n_users, n_draw, p=user_p) * n_items
        draws += rng.choice(n_items, n_draw, p=item_p)
        keys = _unique_in_order(np.concatenate([keys, draws]))
    keys = rng.permutation(keys[:n_ratings])
    user_rank, item_rank = keys // n_items, keys % n_items

    # Hidden truth: global mean, biases (popular items a little better liked), factors, noise.
    user_bias = rng.normal(0.0, 0.35, n_users)
    item_bias = rng.normal(0.0, 0.40, n_items) - 0.3 * np.log(np.arange(1, n_items + 1)) / np.log(
        n_items
    )
    user_vecs = rng.normal(0.0, 0.45, (n_users, n_factors))
    item_vecs = rng.normal(0.0, 0.45, (n_items, n_factors))
    scores = (
        3.75
        + user_bias[user_rank]
        + item_bias[item_rank]
        + np.einsum("nk,nk->n", user_vecs[user_rank], item_vecs[item_rank])
        + rng.normal(0.0, 0.75, n_ratings)
    )
    # Ranks are not ids: shuffle which id is the most active user or the most popular item.
    user_ids = rng.permutation(n_users) + 1
    item_ids = rng.permutation(n_items) + 1
    return pd.DataFrame({
        "user_id": user_ids[user_rank].astype(np.int64),
        "item_id": item_ids[item_rank].astype(np.int64),
        "rating": np.clip(np.rint(scores), 1, 5).astype(np.float32),
        "timestamp": rng.integers(*ML1M_TIME_RANGE, n_ratings, endpoint=True).astype(np.int64),
    })


def _unique_in_order(keys: np.ndarray) -> np.ndarray:
    """The distinct values of `keys`, each at its first occurrence, in their original order."""
    _, first = np.unique(keys, return_index=True)
    return keys[np.sort(first)]
