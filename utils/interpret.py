"""Looking inside a trained model: biases, similar items, recommendations, genre agreement.

Taught in notebook 04 (bias rankings, neighbours, top-k lists) and used again in notebooks 05
and 09; notebook 06 measures with it how well the embedding space groups films by genre. The
widgets of notebooks 04 and 06 (`utils.widgets`, timed by bench/widgets_speed.py) call
`nearest_neighbours`. Everything works on whole tensors at once: no Python loop over users or
items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from utils.encode import IdEncoder, RatingTensors
from utils.models import score_all_items


def item_biases(model: nn.Module) -> torch.Tensor:
    """The learned item biases of a BiasedMF (with HybridMF's feature part), shape (n_items,)."""
    if getattr(model, "item_bias", None) is None:
        raise ValueError("this model has no item biases (build it with biases=True)")
    all_items = torch.arange(model.item_bias.num_embeddings, device=model.item_bias.weight.device)
    with torch.no_grad():
        return model.item_bias_values(all_items)


def rating_counts(data: RatingTensors, n_items: int) -> torch.Tensor:
    """How many training ratings each item has, shape (n_items,)."""
    return torch.bincount(data.item_idx, minlength=n_items)


def rank_by_score(
    scores: torch.Tensor,
    counts: torch.Tensor | None = None,
    *,
    k: int = 10,
    min_count: int = 0,
    largest: bool = True,
) -> torch.Tensor:
    """Indices of the k highest (or lowest) scores among items with at least min_count ratings."""
    scores = scores.detach().float()
    if counts is not None and min_count > 0:
        fill = -torch.inf if largest else torch.inf
        scores = torch.where(counts.to(scores.device) >= min_count, scores, fill)
    eligible = int(torch.isfinite(scores).sum())
    return torch.topk(scores, min(k, eligible), largest=largest).indices


def nearest_neighbours(
    embeddings: torch.Tensor,
    query_idx: torch.Tensor,
    k: int = 10,
    exclude_self: bool = True,
    allowed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k rows most similar by cosine to each query row: indices and similarities, (Q, k).

    `allowed` (a boolean mask over rows, e.g. items with enough ratings) limits the candidates.
    """
    dtype = torch.promote_types(embeddings.dtype, torch.float32)  # float64 stays float64
    table = F.normalize(embeddings.detach().to(dtype), dim=1)  # (N, K) unit rows
    query_idx = torch.as_tensor(query_idx, device=table.device).reshape(-1)
    similarity = table[query_idx] @ table.T  # (Q, N)
    if allowed is not None:
        similarity[:, ~allowed.to(table.device)] = -torch.inf
    if exclude_self:
        similarity[torch.arange(len(query_idx), device=table.device), query_idx] = -torch.inf
    n_candidates = int(torch.isfinite(similarity).sum(1).min())
    top = torch.topk(similarity, min(k, n_candidates), dim=1)
    return top.indices, top.values  # (Q, k), (Q, k)


def recommend(
    model: nn.Module,
    user_idx: torch.Tensor,
    n_items: int,
    seen: RatingTensors | None = None,
    k: int = 10,
    allowed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k items per user by predicted rating, skipping the pairs in `seen`; each (U, k).

    `allowed` (a boolean mask over items, e.g. enough ratings) limits the candidates.
    """
    user_idx = torch.as_tensor(user_idx).reshape(-1)
    with torch.inference_mode():
        scores = score_all_items(model, user_idx)  # (U, I)
    if scores.shape[1] != n_items:
        raise ValueError(f"the model scores {scores.shape[1]} items, not n_items={n_items}")
    scores = scores.clone()  # an inference tensor: a clone may be edited in place
    if allowed is not None:
        scores[:, ~allowed.to(scores.device)] = -torch.inf
    if seen is not None:
        # Row of each seen rating in `scores` (or -1 when its user was not asked for).
        row_of_user = torch.full(
            (int(max(user_idx.max(), seen.user_idx.max())) + 1,), -1, device=scores.device
        )
        row_of_user[user_idx.to(scores.device)] = torch.arange(len(user_idx), device=scores.device)
        rows = row_of_user[seen.user_idx.to(scores.device)]
        keep = rows >= 0
        scores[rows[keep], seen.item_idx.to(scores.device)[keep]] = -torch.inf
    top = torch.topk(scores, k, dim=1)
    return top.indices, top.values  # (U, k), (U, k)


def with_titles(
    item_idx: torch.Tensor | np.ndarray, items: IdEncoder, movies: pd.DataFrame, **columns
) -> pd.DataFrame:
    """A frame of item_id and title for encoded item indices, plus any extra columns given."""
    item_idx = np.asarray(item_idx.cpu() if isinstance(item_idx, torch.Tensor) else item_idx)
    item_ids = items.decode(item_idx.reshape(-1))
    titles = movies.set_index("item_id")["title"].reindex(item_ids).to_numpy()
    frame = pd.DataFrame({"item_id": item_ids, "title": titles})
    for name, values in columns.items():
        values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values
        frame[name] = np.asarray(values).reshape(-1)
    return frame


# --- genres against the embedding space (notebook 06) -----------------------------------------

def genre_matrix(genres: pd.Series) -> pd.DataFrame:
    """Multi-hot (movies x genres) bool frame from a Series of genre lists, index kept."""
    names = sorted({genre for movie_genres in genres for genre in movie_genres})
    rows = np.zeros((len(genres), len(names)), dtype=bool)
    column = {name: position for position, name in enumerate(names)}
    for row, movie_genres in enumerate(genres):
        rows[row, [column[genre] for genre in movie_genres]] = True
    return pd.DataFrame(rows, index=genres.index, columns=names)


def genre_pair_groups(multi_hot: pd.DataFrame, first: str, second: str) -> pd.Series:
    """Label each movie `first`, `second`, 'both' or 'neither' for a two-genre contrast."""
    in_first, in_second = multi_hot[first].to_numpy(), multi_hot[second].to_numpy()
    labels = np.select(
        [in_first & in_second, in_first, in_second], ["both", first, second], default="neither"
    )
    return pd.Series(labels, index=multi_hot.index, name=f"{first} vs {second}")


def knn_label_agreement(
    vectors: np.ndarray,
    labels: np.ndarray,
    k: int = 10,
    n_shuffles: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """How often a movie's k nearest neighbours share a label with it, against shuffled labels.

    `labels` is a bool (n, L) multi-hot matrix: two movies agree when they share at least one
    label, so films with several genres count honestly. The baseline keeps the neighbour graph
    and permutes the label rows `n_shuffles` times; `z` is (observed - mean) / std.
    """
    labels = np.asarray(labels, dtype=bool)
    if len(vectors) != len(labels):
        raise ValueError(f"{len(vectors)} vectors but {len(labels)} label rows")
    table = torch.as_tensor(np.asarray(vectors, dtype=np.float64))
    neighbours = nearest_neighbours(table, torch.arange(len(table)), k)[0].numpy()  # (n, k)

    def agreement(rows: np.ndarray) -> float:
        shared = (rows[:, None, :] & rows[neighbours]).any(axis=2)  # (n, k)
        return float(shared.mean())

    rng = np.random.default_rng(seed)
    shuffled = np.array([agreement(labels[rng.permutation(len(labels))])
                         for _ in range(n_shuffles)])
    observed = agreement(labels)
    spread = float(shuffled.std(ddof=1)) if n_shuffles > 1 else float("nan")
    return {
        "observed": observed,
        "shuffled_mean": float(shuffled.mean()),
        "shuffled_std": spread,
        "z": (observed - float(shuffled.mean())) / spread if spread > 0 else float("nan"),
    }
