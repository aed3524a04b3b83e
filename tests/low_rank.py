"""A small synthetic rating table shared by test_train, test_speed and test_selection."""

from __future__ import annotations

import torch

from utils.encode import RatingTensors


def low_rank_ratings(
    n_users: int, n_items: int, n: int, seed: int, *, offsets: bool = False, noise: float = 0.0
) -> RatingTensors:
    """n ratings 1 + 2 u.v of a fixed rank-2 model, plus user and item offsets and noise if asked.

    The model (vectors and offsets) is the same for every seed; `seed` draws the rated pairs and
    the noise, so two seeds give a training and a validation table of one model.
    """
    model = torch.Generator().manual_seed(0)
    users, items = torch.rand(n_users, 2, generator=model), torch.rand(n_items, 2, generator=model)
    draw = torch.Generator().manual_seed(seed)
    user_idx = torch.randint(n_users, (n,), generator=draw)
    item_idx = torch.randint(n_items, (n,), generator=draw)
    ratings = 1 + 2 * (users[user_idx] * items[item_idx]).sum(1)
    if offsets:  # biases a model with user and item biases can learn
        user_offset, item_offset = torch.rand(n_users, generator=model), torch.rand(n_items,
                                                                                     generator=model)
        ratings = ratings + user_offset[user_idx] + item_offset[item_idx]
    if noise:  # so that small models overfit without a penalty
        ratings = ratings + noise * torch.randn(n, generator=draw)
    return RatingTensors(user_idx, item_idx, ratings)
