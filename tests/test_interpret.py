"""Unit tests of utils.interpret on tiny hand-made tables and synthetic clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from utils.encode import IdEncoder, RatingTensors
from utils.interpret import (
    genre_matrix,
    genre_pair_groups,
    item_biases,
    knn_label_agreement,
    nearest_neighbours,
    rank_by_score,
    rating_counts,
    recommend,
    with_titles,
)
from utils.models import BiasedMF, DotProductMF, HybridMF


def _ratings(pairs: list[tuple[int, int]]) -> RatingTensors:
    users, items = zip(*pairs, strict=True)
    return RatingTensors(
        torch.tensor(users), torch.tensor(items), torch.ones(len(pairs), dtype=torch.float32)
    )


def test_rank_by_score_respects_min_count_and_direction() -> None:
    scores = torch.tensor([0.5, -1.0, 2.0, 1.0, -2.0])
    counts = torch.tensor([10, 10, 1, 10, 1])
    assert rank_by_score(scores, k=2).tolist() == [2, 3]
    assert rank_by_score(scores, counts, k=2, min_count=5).tolist() == [3, 0]
    assert rank_by_score(scores, counts, k=2, min_count=5, largest=False).tolist() == [1, 0]
    # Fewer eligible items than k: only the eligible ones come back.
    assert rank_by_score(scores, counts, k=10, min_count=5).tolist() == [3, 0, 1]


def test_rating_counts() -> None:
    data = _ratings([(0, 1), (1, 1), (2, 3)])
    assert rating_counts(data, n_items=5).tolist() == [0, 2, 0, 1, 0]


def test_item_biases_of_biased_and_plain_models() -> None:
    model = BiasedMF(3, 4, 2)
    with torch.no_grad():
        model.item_bias.weight.copy_(torch.tensor([[0.1], [0.2], [0.3], [0.4]]))
    assert torch.allclose(item_biases(model), torch.tensor([0.1, 0.2, 0.3, 0.4]))
    hybrid = HybridMF(3, 4, 2, torch.tensor([[1.0], [1.0], [0.0], [1.0]]))
    with torch.no_grad():
        hybrid.feature_bias.fill_(0.5)
    assert torch.allclose(item_biases(hybrid), torch.tensor([0.5, 0.5, 0.0, 0.5]))
    with pytest.raises(ValueError, match="no item biases"):
        item_biases(DotProductMF(3, 4, 2))
    with pytest.raises(ValueError, match="no item biases"):
        item_biases(BiasedMF(3, 4, 2, biases=False))


def test_nearest_neighbours_use_cosine_and_skip_the_query() -> None:
    embeddings = torch.tensor([[1.0, 0.0], [10.0, 0.5], [0.0, 1.0], [-1.0, 0.0]])
    indices, sims = nearest_neighbours(embeddings, torch.tensor([0, 2]), k=2)
    assert indices.shape == sims.shape == (2, 2)
    # Item 1 points almost the same way as item 0 despite its length: cosine ignores length.
    assert indices[0].tolist() == [1, 2]
    assert sims[0, 0] == pytest.approx(10 / np.hypot(10, 0.5))
    assert sims[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert 2 not in indices[1].tolist()
    with_self, _ = nearest_neighbours(embeddings, torch.tensor([3]), k=1, exclude_self=False)
    assert with_self.tolist() == [[3]]
    allowed = torch.tensor([True, False, True, True])
    limited, _ = nearest_neighbours(embeddings, torch.tensor([0]), k=5, allowed=allowed)
    assert limited.tolist() == [[2, 3]]  # item 1 is masked out, item 0 is the query itself


def test_recommend_excludes_seen_items_per_user() -> None:
    model = DotProductMF(3, 5, 1)
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.tensor([[1.0], [1.0], [-1.0]]))
        model.item_emb.weight.copy_(torch.tensor([[5.0], [4.0], [3.0], [2.0], [1.0]]))
    seen = _ratings([(0, 0), (0, 2), (1, 1), (2, 4)])
    indices, scores = recommend(model, torch.tensor([0, 1, 2]), n_items=5, seen=seen, k=2)
    assert indices.tolist() == [[1, 3], [0, 2], [3, 2]]
    assert scores[0].tolist() == [4.0, 2.0]
    # Seen ratings of users not asked for are ignored; without `seen` the best items come back.
    only_user_1, _ = recommend(model, torch.tensor([1]), n_items=5, seen=seen, k=1)
    assert only_user_1.tolist() == [[0]]
    unfiltered, _ = recommend(model, torch.tensor([0]), n_items=5, k=2)
    with pytest.raises(ValueError, match="scores 5 items, not n_items=6"):
        recommend(model, torch.tensor([0]), n_items=6, k=2)
    assert unfiltered.tolist() == [[0, 1]]
    allowed = torch.tensor([False, True, True, True, True])
    limited, _ = recommend(model, torch.tensor([1]), n_items=5, seen=seen, k=2, allowed=allowed)
    assert limited.tolist() == [[2, 3]]


def test_with_titles_decodes_indices() -> None:
    items = IdEncoder.fit(np.array([10, 30, 20]))  # index 0 -> 10, 1 -> 20, 2 -> 30
    movies = pd.DataFrame({"item_id": [10, 20, 30], "title": ["A", "B", "C"]})
    frame = with_titles(torch.tensor([2, 0]), items, movies, bias=torch.tensor([0.5, -0.5]))
    assert frame["item_id"].tolist() == [30, 10]
    assert frame["title"].tolist() == ["C", "A"]
    assert frame["bias"].tolist() == [0.5, -0.5]


def test_genre_matrix_keeps_every_genre() -> None:
    genres = pd.Series([["Comedy"], ["Comedy", "Drama"], [], ["Horror"]], index=[10, 11, 12, 13])
    multi_hot = genre_matrix(genres)
    assert list(multi_hot.columns) == ["Comedy", "Drama", "Horror"]
    assert multi_hot.sum(axis=1).tolist() == [1, 2, 0, 1]
    groups = genre_pair_groups(multi_hot, "Comedy", "Drama")
    assert groups.tolist() == ["Comedy", "both", "neither", "neither"]


def test_nearest_neighbours_of_every_row_keep_float64_and_order() -> None:
    vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]],
                           dtype=torch.float64)
    neighbours, sims = nearest_neighbours(vectors, torch.arange(5), k=2)
    assert neighbours.shape == (5, 2) and sims.dtype == torch.float64
    assert (neighbours != torch.arange(5)[:, None]).all()
    assert neighbours[0, 0] == 1 and neighbours[2, 0] == 3
    assert (sims[:, 0] >= sims[:, 1]).all()


def test_knn_agreement_sees_clusters_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.eye(3, dtype=bool), 40, axis=0)  # (120, 3), one genre each
    clustered = labels @ (5 * rng.normal(size=(3, 8))) + rng.normal(size=(120, 8))
    result = knn_label_agreement(clustered, labels, k=5, n_shuffles=10)
    assert result["observed"] > 0.95
    assert abs(result["shuffled_mean"] - 1 / 3) < 0.05
    assert result["z"] > 10
    noise = knn_label_agreement(rng.normal(size=(120, 8)), labels, k=5, n_shuffles=10)
    assert abs(noise["observed"] - noise["shuffled_mean"]) < 0.1
    with pytest.raises(ValueError):
        knn_label_agreement(clustered[:5], labels, k=2)
