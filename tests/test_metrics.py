"""Tests of utils.metrics: error metrics, scores on rounded ratings and top-k ranking metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from utils.encode import RatingTensors
from utils.metrics import (
    bootstrap_by_group,
    classification_scores,
    confusion_matrix,
    item_popularity,
    mae,
    mf_scorer,
    mse,
    per_label_scores,
    popularity_scorer,
    ranking_metrics,
    round_to_half,
)
from utils.models import BiasedMF, DotProductMF, HybridMF
from utils.train import predict

# ----------------------------------------------------------------------------- error metrics


def test_error_metrics_by_hand() -> None:
    predictions = torch.tensor([3.0, 4.0, 1.0, 5.0])
    ratings = torch.tensor([3.5, 4.0, 2.0, 3.0])
    # errors -0.5, 0, -1, 2 -> squares 0.25, 0, 1, 4
    assert mse(predictions, ratings) == pytest.approx(5.25 / 4)
    assert mae(predictions, ratings) == pytest.approx(3.5 / 4)


def test_error_metrics_are_zero_for_perfect_predictions_and_accept_integers() -> None:
    ratings = torch.tensor([1, 2, 3])
    assert mse(ratings, ratings) == 0.0
    assert mae(ratings, ratings) == 0.0


def test_error_metrics_match_sklearn() -> None:
    generator = torch.Generator().manual_seed(0)
    predictions = torch.rand(500, generator=generator) * 5
    ratings = torch.randint(1, 11, (500,), generator=generator) / 2
    assert mse(predictions, ratings) == pytest.approx(
        sk.mean_squared_error(ratings.numpy(), predictions.numpy()), rel=1e-5
    )
    assert mae(predictions, ratings) == pytest.approx(
        sk.mean_absolute_error(ratings.numpy(), predictions.numpy()), rel=1e-5
    )


# ------------------------------------------------------------------- scores on rounded ratings


def test_round_to_half_rounds_and_clips() -> None:
    values = torch.tensor([1.24, 1.26, 3.74, -0.3, 0.1, 5.3, 6.0])
    assert round_to_half(values).tolist() == [1.0, 1.5, 3.5, 0.5, 0.5, 5.0, 5.0]
    assert round_to_half(values, low=None, high=None).tolist() == [
        1.0, 1.5, 3.5, -0.5, 0.0, 5.5, 6.0
    ]
    assert round_to_half(np.array([2.2, 4.9])).tolist() == [2.0, 5.0]


def _random_labels(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(1, 11, n) / 2  # ratings 0.5 .. 5.0
    y_pred = round_to_half(rng.normal(3.5, 1.0, n)).numpy()
    return y_true, y_pred


@pytest.mark.parametrize("average", ["macro", "weighted"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_scores_match_sklearn(average: str, seed: int) -> None:
    y_true, y_pred = _random_labels(seed)
    ours = classification_scores(y_true, y_pred, average)
    # sklearn wants discrete labels: doubling the half-star ratings makes them integers.
    labels_true, labels_pred = (y_true * 2).astype(int), (y_pred * 2).astype(int)
    for name, score in [
        ("precision", sk.precision_score),
        ("recall", sk.recall_score),
        ("f1", sk.f1_score),
    ]:
        expected = score(labels_true, labels_pred, average=average, zero_division=0)
        assert ours[name] == pytest.approx(expected, abs=1e-12), name


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_labels_seen_on_one_side_only_match_sklearn(average: str) -> None:
    # 5.0 is only ever predicted, 1.0 only ever true: their zero ratios count as 0.
    y_true = torch.tensor([1.0, 2.0, 2.0, 3.0, 3.0, 3.0])
    y_pred = torch.tensor([2.0, 2.0, 3.0, 3.0, 5.0, 3.0])
    ours = classification_scores(y_true, y_pred, average)
    for name, score in [
        ("precision", sk.precision_score),
        ("recall", sk.recall_score),
        ("f1", sk.f1_score),
    ]:
        expected = score(y_true.long().numpy(), y_pred.long().numpy(), average=average,
                         zero_division=0)
        assert ours[name] == pytest.approx(expected, abs=1e-12), name


def test_per_label_scores_by_hand() -> None:
    y_true = [1.0, 1.0, 2.0, 2.0]
    y_pred = [1.0, 2.0, 2.0, 2.0]
    table = per_label_scores(y_true, y_pred)
    assert table.index.tolist() == [1.0, 2.0]
    assert table["precision"].tolist() == pytest.approx([1.0, 2 / 3])
    assert table["recall"].tolist() == pytest.approx([0.5, 1.0])
    assert table["f1"].tolist() == pytest.approx([2 / 3, 0.8])
    assert table["support"].tolist() == [2, 2]


def test_swapping_the_arguments_swaps_precision_and_recall() -> None:
    y_true, y_pred = _random_labels(3)
    forward = classification_scores(y_true, y_pred, "macro")
    swapped = classification_scores(y_pred, y_true, "macro")
    assert swapped["precision"] == pytest.approx(forward["recall"])
    assert swapped["recall"] == pytest.approx(forward["precision"])
    assert swapped["f1"] == pytest.approx(forward["f1"])


def test_confusion_matrix_matches_sklearn() -> None:
    y_true, y_pred = _random_labels(4, n=300)
    counts, labels = confusion_matrix(y_true, y_pred)
    expected = sk.confusion_matrix(y_true * 2, y_pred * 2, labels=(labels.numpy() * 2))
    assert counts.shape == (len(labels), len(labels))
    assert np.array_equal(counts.numpy(), expected)
    assert int(counts.sum()) == 300


def test_confusion_matrix_with_given_labels_and_bad_values() -> None:
    counts, labels = confusion_matrix([1.0, 2.0], [2.0, 2.0], labels=[3.0, 1.0, 2.0])
    assert labels.tolist() == [1.0, 2.0, 3.0]
    assert counts.tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="not one of the labels"):
        confusion_matrix([1.0, 2.5], [1.0, 2.0], labels=[1.0, 2.0])
    with pytest.raises(ValueError, match="values"):
        confusion_matrix([1.0, 2.0], [1.0])


def test_unknown_average_is_refused() -> None:
    with pytest.raises(ValueError, match="average"):
        classification_scores([1.0], [1.0], average="micro")


# --------------------------------------------------------------------------- ranking metrics
# Three users, five items. Hand-worked expectations are in the comments.

TRAIN = RatingTensors(
    user_idx=torch.tensor([0, 0, 1, 2, 2]),
    item_idx=torch.tensor([0, 1, 4, 0, 1]),
    ratings=torch.tensor([4.0, 3.0, 5.0, 2.0, 4.0]),
)
HELDOUT = RatingTensors(
    user_idx=torch.tensor([0, 0, 1, 1, 2]),
    item_idx=torch.tensor([2, 3, 0, 2, 3]),
    ratings=torch.tensor([5.0, 3.0, 4.0, 4.5, 2.0]),  # user 2 liked nothing held out
)
SCORES = torch.tensor(
    [
        [9.0, 8.0, 1.0, 7.0, 0.0],  # user 0: 0, 1 seen -> ranking 3, 2, 4
        [5.0, 1.0, 4.0, 3.0, 9.0],  # user 1: 4 seen -> ranking 0, 2, 3, 1
        [1.0, 2.0, 3.0, 4.0, 5.0],
    ]
)


def fixed_scorer(user_idx: torch.Tensor) -> torch.Tensor:
    return SCORES[user_idx]


def test_ranking_metrics_by_hand() -> None:
    table = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=2)
    assert table["user_idx"].tolist() == [0, 1]  # user 2 has no held-out item rated >= 4
    assert table["n_relevant"].tolist() == [1, 2]
    assert table["hits"].tolist() == [1, 2]
    # user 0: top-2 = [3, 2], the hit sits at rank 2 -> DCG 1/log2(3), ideal DCG 1.
    # user 1: top-2 = [0, 2], both relevant -> everything 1.
    assert table["precision@2"].tolist() == pytest.approx([0.5, 1.0])
    assert table["recall@2"].tolist() == pytest.approx([1.0, 1.0])
    assert table["ndcg@2"].tolist() == pytest.approx([1 / math.log2(3), 1.0])


def test_ranking_metrics_with_k_one_and_a_lower_threshold() -> None:
    table = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=1)
    # user 0: top-1 = [3], a miss; user 1: top-1 = [0], one hit of two relevant items.
    assert table["precision@1"].tolist() == pytest.approx([0.0, 1.0])
    assert table["recall@1"].tolist() == pytest.approx([0.0, 0.5])
    assert table["ndcg@1"].tolist() == pytest.approx([0.0, 1.0])
    lenient = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=1, threshold=2.0)
    # every held-out rating counts now: user 0 hits item 3, user 2's best unseen item is 4.
    assert lenient["user_idx"].tolist() == [0, 1, 2]
    assert lenient["precision@1"].tolist() == pytest.approx([1.0, 1.0, 0.0])


def test_ranking_metrics_ideal_dcg_stops_at_k() -> None:
    # user 1 has two relevant items but k=1: one hit at rank 1 is a perfect NDCG@1.
    table = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=1)
    assert table.loc[table.user_idx == 1, "ndcg@1"].item() == pytest.approx(1.0)


def test_ranking_metrics_candidate_mask() -> None:
    allowed = torch.tensor([True, True, True, False, True])  # item 3 is not a candidate
    table = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=2, candidates=allowed)
    # user 0: top-2 = [2, 4] -> hit at rank 1.
    assert table["ndcg@2"].tolist() == pytest.approx([1.0, 1.0])
    assert table["precision@2"].tolist() == pytest.approx([0.5, 1.0])


def test_masked_items_are_never_hits_even_when_too_few_candidates_remain() -> None:
    allowed = torch.tensor([False, False, True, False, False])
    table = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=3, candidates=allowed)
    # only item 2 can be recommended; user 1's relevant item 0 is masked out.
    assert table["hits"].tolist() == [1, 1]
    assert table["precision@3"].tolist() == pytest.approx([1 / 3, 1 / 3])


def test_ranking_metrics_do_not_depend_on_the_chunk_size() -> None:
    one = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=2, chunk_size=1)
    many = ranking_metrics(fixed_scorer, TRAIN, HELDOUT, 3, 5, k=2, chunk_size=256)
    assert one.equals(many)


def test_popularity_scorer_counts_training_ratings() -> None:
    assert item_popularity(TRAIN.item_idx, 5).tolist() == [2, 2, 0, 0, 1]
    scores = popularity_scorer(TRAIN.item_idx, 5)(torch.tensor([0, 2]))
    assert scores.shape == (2, 5)
    assert scores[1].tolist() == [2.0, 2.0, 0.0, 0.0, 1.0]
    scorer = popularity_scorer(torch.tensor([0, 0, 0, 1, 4, 4]), 5)  # counts 3, 1, 0, 0, 2
    table = ranking_metrics(scorer, TRAIN, HELDOUT, 3, 5, k=1)
    # user 0 has seen 0 and 1, so gets item 4 (a miss); user 1 has seen 4, gets 0 (a hit).
    assert table["hits"].tolist() == [0, 1]


def _every_pair(model: torch.nn.Module, users: torch.Tensor, n_items: int) -> torch.Tensor:
    """The reference: `predict` on every (user, item) pair, one row per user."""
    pairs_users = users.repeat_interleave(n_items)  # (B * I,)
    pairs_items = torch.arange(n_items).repeat(len(users))  # (B * I,)
    return predict(model, pairs_users, pairs_items).reshape(len(users), n_items)  # (B, I)


@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("y_range", [None, (0.0, 5.5)])
@pytest.mark.parametrize("init", ["uniform", "normal"])
def test_mf_scorer_equals_the_forward_pass(biases: bool, y_range: tuple | None, init: str) -> None:
    torch.manual_seed(1)
    model = BiasedMF(5, 7, 4, init=init, biases=biases, offset=0.3, y_range=y_range)
    if biases:  # non-zero biases, so that a mix-up of users and items would show
        torch.nn.init.normal_(model.user_bias.weight)
        torch.nn.init.normal_(model.item_bias.weight)
    users = torch.tensor([4, 0, 2])
    fast = mf_scorer(model)(users)
    slow = _every_pair(model, users, 7)
    assert fast.shape == (3, 7)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_mf_scorer_includes_the_features_of_a_hybrid_model() -> None:
    torch.manual_seed(4)
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    model = HybridMF(3, 4, 2, features, offset=0.5, y_range=(0.0, 5.5))
    torch.nn.init.normal_(model.feature_factors)
    torch.nn.init.normal_(model.feature_bias)
    assert torch.allclose(mf_scorer(model)(torch.arange(3)),
                          _every_pair(model, torch.arange(3), 4), atol=1e-5)


def test_mf_scorer_handles_the_plain_dot_product_model() -> None:
    torch.manual_seed(2)
    model = DotProductMF(3, 4, 2, init="normal")
    assert torch.allclose(mf_scorer(model)(torch.arange(3)),
                          _every_pair(model, torch.arange(3), 4), atol=1e-6)


def test_bootstrap_by_group_resamples_whole_groups() -> None:
    # group "a" always errs by 1, group "b" never: each resample's mean is a ratio of their counts
    values = np.array([1.0, 1.0, 1.0, 0.0])
    groups = np.array(["a", "a", "a", "b"])
    means = bootstrap_by_group(values, groups, n_resamples=500, seed=1)
    assert means.shape == (500,)
    assert set(np.round(means, 6)) <= {0.0, 0.75, 1.0}  # b+b, a+b, a+a
    assert 0.2 < np.mean(np.isclose(means, 0.75)) < 0.8


def test_bootstrap_by_group_is_centred_on_the_mean_and_seeded() -> None:
    rng = np.random.default_rng(0)
    values, groups = rng.normal(2.0, 1.0, 3000), rng.integers(0, 300, 3000)
    first = bootstrap_by_group(values, groups, seed=5)
    assert np.array_equal(first, bootstrap_by_group(values, groups, seed=5))
    assert abs(np.median(first) - values.mean()) < 0.01
    assert 0.01 < first.std() < 0.05  # about 1 / sqrt(3000) for unit-variance values


def test_bootstrap_by_group_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="one group per value: 3 values, 2 groups"):
        bootstrap_by_group(np.ones(3), np.zeros(2))
