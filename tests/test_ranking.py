"""utils.ranking: the split, full-ranking metrics by hand, samplers, losses, EASE, serving."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from utils.encode import IdEncoder, RatingTensors
from utils.models import BiasedMF, HybridMF
from utils.ranking import (
    LOSSES,
    Recommender,
    ease_scores,
    fit_ease,
    fit_ranking,
    interaction_keys,
    is_interaction,
    leave_last_out,
    leave_last_out_metrics,
    ranking_mf,
    recency_weights,
    sample_negatives,
    sampling_weights,
    table_scorer,
    throughput,
    top_k_items,
)


def _pairs(users: list[int], items: list[int]) -> RatingTensors:
    return RatingTensors(torch.tensor(users), torch.tensor(items), torch.ones(len(users)))


# Two users, five items. User 0 saw item 0 and will interact with item 2; user 1 saw item 4 and
# will interact with item 0.
SCORES = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5],
                       [0.1, 0.2, 0.3, 0.4, 0.5]])
TRAIN = _pairs([0, 1], [0, 4])
HELDOUT = _pairs([0, 1], [2, 0])


def test_metrics_by_hand() -> None:
    # User 0's unseen items by score: 1, 2, 3, 4 -> top 2 = [1, 2]: a hit at rank 2.
    # User 1's: 3, 2, 1, 0 -> top 2 = [3, 2]: a miss. Items in some list: {1, 2, 3}.
    result = leave_last_out_metrics(table_scorer(SCORES), TRAIN, HELDOUT, 2, 5, k=2)
    assert result["HR@2"] == pytest.approx(0.5)
    assert result["NDCG@2"] == pytest.approx((1 / math.log2(3) + 0) / 2)
    assert result["coverage@2"] == pytest.approx(3 / 5)
    top = top_k_items(table_scorer(SCORES), TRAIN, torch.tensor([0, 1]), 2, 5, k=2)
    assert top.tolist() == [[1, 2], [3, 2]]


def test_a_hit_at_the_top_scores_one() -> None:
    result = leave_last_out_metrics(table_scorer(SCORES), TRAIN, _pairs([0], [1]), 2, 5, k=1)
    assert result["HR@1"] == 1.0 and result["NDCG@1"] == 1.0


def test_leave_last_out_holds_out_the_latest_and_breaks_ties_by_item() -> None:
    ratings = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3],
                            "item_id": [10, 11, 12, 20, 21, 30],
                            "rating": [4.0] * 6,
                            "timestamp": [5, 9, 1, 7, 7, 3]})
    train, heldout = leave_last_out(ratings)
    assert sorted(zip(heldout.user_id, heldout.item_id, strict=True)) == [(1, 11), (2, 21)]
    assert len(train) + len(heldout) == len(ratings) and 30 in set(train.item_id)
    with pytest.raises(ValueError, match="no ratings"):
        leave_last_out(ratings.iloc[:0])


def test_uniform_and_popularity_sampling_frequencies() -> None:
    item_idx = torch.tensor([0] * 6 + [1] * 3 + [2])  # counts 6, 3, 1, 0
    popular = sampling_weights(item_idx, 4, "popularity")
    assert torch.allclose(popular, torch.tensor([0.6, 0.3, 0.1, 0.0]))
    assert torch.allclose(sampling_weights(item_idx, 4, "uniform"), torch.full((4,), 0.25))
    generator = torch.Generator().manual_seed(0)
    for probs in (popular, sampling_weights(item_idx, 4, "uniform")):
        drawn, valid = sample_negatives(probs, torch.zeros(20_000, dtype=torch.int64), 5,
                                        generator)
        frequencies = torch.bincount(drawn.flatten(), minlength=4) / drawn.numel()
        assert valid.all() and torch.allclose(frequencies, probs, atol=0.01)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sampling_weights(item_idx, 4, "random")


def test_negatives_never_hit_a_positive() -> None:
    positives = _pairs([0, 0, 0, 1], [0, 1, 2, 3])  # user 0 knows 3 of the 5 items
    keys = interaction_keys(positives.user_idx, positives.item_idx, 5)
    assert is_interaction(keys, torch.tensor([0, 0, 1]), torch.tensor([2, 3, 3]), 5).tolist() \
        == [True, False, True]
    users = torch.tensor([0, 1] * 500)
    drawn, valid = sample_negatives(torch.full((5,), 0.2), users, 8,
                                    torch.Generator().manual_seed(1), keys)
    clashes = is_interaction(keys, users[:, None].expand_as(drawn), drawn, 5)
    assert not clashes[valid].any() and valid.float().mean() > 0.99


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_learns_the_structure(loss: str) -> None:
    # Users 0..9 interact with items 0..4, users 10..19 with items 5..9.
    users = torch.arange(20).repeat_interleave(5)
    items = (torch.arange(5).repeat(20) + 5 * (users >= 10)).long()
    train = _pairs(users.tolist(), items.tolist())
    model = ranking_mf(20, 12, 8)
    history = fit_ranking(model, train, loss=loss, n_negatives=4, n_epochs=30, lr=0.05,
                          batch_size=32)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    with torch.no_grad():
        scores = model.user_emb.weight @ model.item_emb.weight.T  # (20, 12)
    own = scores[:10, :5].mean() - scores[:10, 5:10].mean()
    assert own > 0
    with pytest.raises(ValueError, match="loss must be one of"):
        fit_ranking(model, train, loss="pointwise")


def _ease_weights_by_the_book(x: np.ndarray, l2: float) -> np.ndarray:
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    assert np.allclose(np.diag(b), 0.0)
    return b


def _ease_by_the_book(x: np.ndarray, l2: float) -> np.ndarray:
    return x @ _ease_weights_by_the_book(x, l2)


@pytest.mark.parametrize("n_users, n_items", [(6, 15), (15, 6)])
def test_ease_matches_the_closed_form_on_both_sides(n_users: int, n_items: int) -> None:
    x = (np.random.default_rng(0).random((n_users, n_items)) < 0.3).astype(float)
    user_idx, item_idx = np.nonzero(x)
    scores = ease_scores(_pairs(user_idx.tolist(), item_idx.tolist()), n_users, n_items, 2.0)
    assert np.allclose(scores.numpy(), _ease_by_the_book(x, 2.0), atol=1e-5)
    with pytest.raises(ValueError, match="l2 must be positive"):
        ease_scores(_pairs([0], [0]), 1, 1, 0.0)


def test_recency_weights_by_hand() -> None:
    # User 0 rated items 1, 2, 3 in that order (2, 1 and 0 ratings after each); user 2 one item.
    train = _pairs([0, 0, 0, 2], [1, 2, 3, 0])
    assert recency_weights(train, 1.0).tolist() == [0.25, 0.5, 1.0, 1.0]
    assert recency_weights(train, 2.0).tolist() == pytest.approx([0.5, 2**-0.5, 1.0, 1.0])
    assert recency_weights(train, None).tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="half_life must be positive"):
        recency_weights(train, 0.0)
    with pytest.raises(ValueError, match="grouped by user"):
        recency_weights(_pairs([1, 0], [0, 1]), 1.0)


def test_recency_weighted_ease_by_hand() -> None:
    # Items 0 and 1 always rated together, item 2 alone: with l2 = 1, XᵀX = [[2, 2, 0],
    # [2, 2, 0], [0, 0, 1]]; P = inv(XᵀX + I) gives B[0, 1] = B[1, 0] = 2/3 and nothing else.
    train = _pairs([0, 0, 1, 1, 2], [0, 1, 0, 1, 2])
    weights = torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    score = fit_ease(train, 3, 3, 1.0)
    assert score()[0].tolist() == pytest.approx([2 / 3, 2 / 3, 0.0])  # the 0/1 history
    scores = score(weights)
    # User 0's history weighs item 0 by 0.5 and item 1 by 1: scores (2/3, 1/3, 0).
    assert scores[0].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert scores[2].tolist() == pytest.approx([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="one weight per training row"):
        ease_scores(train, 3, 3, 1.0, weights[:2])


@pytest.mark.parametrize("n_users, n_items", [(6, 15), (15, 6)])
def test_weighted_ease_matches_the_closed_form_on_both_sides(n_users: int, n_items: int) -> None:
    x = (np.random.default_rng(1).random((n_users, n_items)) < 0.3).astype(float)
    user_idx, item_idx = np.nonzero(x)  # grouped by user, as recency_weights needs
    train = _pairs(user_idx.tolist(), item_idx.tolist())
    weights = recency_weights(train, 2.0)
    history = np.zeros_like(x)
    history[user_idx, item_idx] = weights.numpy()
    scores = ease_scores(train, n_users, n_items, 2.0, weights)
    assert np.allclose(scores.numpy(), history @ _ease_weights_by_the_book(x, 2.0), atol=1e-5)


def _recommender() -> Recommender:
    torch.manual_seed(0)
    model = BiasedMF(4, 6, 3, offset=3.5)
    users = IdEncoder(np.array([10, 20, 30, 40]))
    items = IdEncoder(np.array([100, 200, 300, 400, 500, 600]))
    return Recommender(model, users, items, _pairs([0, 0, 2], [1, 4, 0]))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    recommender = _recommender()
    recommender.save(tmp_path / "model.pt")
    loaded = Recommender.load(tmp_path / "model.pt")
    for user_id in (10, 20, 30, 40):
        assert (loaded.recommend(user_id, k=3) == recommender.recommend(user_id, k=3)).all()
    for name, tensor in recommender.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor)
    assert (loaded.items.ids == recommender.items.ids).all()
    speed = throughput(loaded, k=2)
    assert speed["seconds"] > 0 and speed["users_per_second"] > 0


def test_recommend_excludes_seen_items() -> None:
    recommender = _recommender()
    unseen = recommender.recommend(10, k=4)  # user 10 saw items 200 and 500
    assert sorted(unseen.tolist()) == [100, 300, 400, 600]
    assert 100 not in recommender.recommend(30, k=5).tolist()
    with pytest.raises(KeyError, match="unknown"):
        recommender.recommend(99)


def _edit_saved(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "model.pt"
    _recommender().save(path)
    saved = torch.load(path, weights_only=True)
    saved.update(changes)
    torch.save(saved, path)
    return path


def test_load_refuses_another_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format version 99"):
        Recommender.load(_edit_saved(tmp_path, format_version=99))


def test_load_refuses_another_model_class(tmp_path: Path) -> None:
    _recommender().save(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="holds a BiasedMF, not a HybridMF"):
        Recommender.load(tmp_path / "model.pt", model_class=HybridMF)


def test_load_refuses_mismatched_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3 rows in its user ids, 4 expected"):
        Recommender.load(_edit_saved(tmp_path, user_ids=[10, 20, 30]))
    with pytest.raises(ValueError, match="the encoders know 3 users"):
        Recommender(BiasedMF(4, 6, 3), IdEncoder(np.array([1, 2, 3])),
                    IdEncoder(np.arange(6)), _pairs([0], [0]))
