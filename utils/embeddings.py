"""Looking inside learned item embeddings: genre labels and neighbour agreement (notebook 06)."""

from __future__ import annotations

import numpy as np
import pandas as pd


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


def nearest_neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k most cosine-similar other rows, (n, k); the row itself excluded."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T  # (n, n)
    np.fill_diagonal(similarity, -np.inf)
    top = np.argpartition(-similarity, k, axis=1)[:, :k]  # (n, k), unordered
    order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


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
    neighbours = nearest_neighbours(np.asarray(vectors, dtype=np.float64), k)  # (n, k)

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
