"""Error metrics for rating prediction (notebook 03 onwards), a bootstrap of their spread
(notebook 05) and, from notebook 08, classification scores on rounded ratings and top-k ranking
metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from utils.encode import RatingTensors
from utils.models import score_all_items


def mse(predictions: torch.Tensor, ratings: torch.Tensor) -> float:
    """Mean squared error."""
    return float(torch.mean((predictions.float() - ratings.float()) ** 2))


def mae(predictions: torch.Tensor, ratings: torch.Tensor) -> float:
    """Mean absolute error, in rating units."""
    return float(torch.mean(torch.abs(predictions.float() - ratings.float())))


def bootstrap_by_group(
    values: torch.Tensor | np.ndarray,
    groups: torch.Tensor | np.ndarray,
    n_resamples: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """The mean of `values` over resamples of whole groups (users), drawn with replacement.

    Pass squared errors for the spread of an MSE, or the difference of two models' squared
    errors for the spread of a gain. Resampling users rather than ratings keeps together the
    ratings of one user, which share that user's errors (notebook 05).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    _, group_of_row = np.unique(np.asarray(groups).ravel(), return_inverse=True)
    if len(values) != len(group_of_row) or len(values) == 0:
        raise ValueError(f"give one group per value: {len(values)} values, "
                         f"{len(group_of_row)} groups (and at least one value)")
    n_groups = group_of_row.max() + 1
    sums = np.bincount(group_of_row, weights=values, minlength=n_groups)  # (G,)
    sizes = np.bincount(group_of_row, minlength=n_groups)  # (G,)
    drawn = np.random.default_rng(seed).integers(0, n_groups, size=(n_resamples, n_groups))
    times_drawn = np.zeros((n_resamples, n_groups))
    np.add.at(times_drawn, (np.arange(n_resamples)[:, None], drawn), 1.0)  # (R, G)
    return (times_drawn @ sums) / (times_drawn @ sizes)  # (R,)


# ---------------------------------------------------------------------------------------------
# Classification scores on rounded ratings (notebook 08, after Daniel Lam's blog post).
# ---------------------------------------------------------------------------------------------

AVERAGES = ("macro", "weighted")


def round_to_half(
    ratings: torch.Tensor | np.ndarray, low: float | None = 0.5, high: float | None = 5.0
) -> torch.Tensor:
    """Round to the nearest 0.5 (halves round to even, as numpy does) and clip to [low, high]."""
    rounded = torch.round(torch.as_tensor(ratings, dtype=torch.float64) * 2) / 2
    if low is not None or high is not None:
        rounded = rounded.clamp(min=low, max=high)
    return rounded


def confusion_matrix(
    y_true: torch.Tensor | np.ndarray,
    y_pred: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Counts (L, L) with true labels as rows and predicted labels as columns, and the labels.

    `labels` defaults to the sorted union of both inputs; every value must be one of them.
    """
    y_true = torch.as_tensor(y_true, dtype=torch.float64).flatten()
    y_pred = torch.as_tensor(y_pred, dtype=torch.float64).flatten()
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} values but y_pred has {len(y_pred)}")
    if labels is None:
        labels = torch.unique(torch.cat([y_true, y_pred]))  # sorted
    else:
        labels = torch.sort(torch.as_tensor(labels, dtype=torch.float64).flatten()).values
    n_labels = len(labels)
    true_pos = torch.searchsorted(labels, y_true).clamp(max=max(n_labels - 1, 0))
    pred_pos = torch.searchsorted(labels, y_pred).clamp(max=max(n_labels - 1, 0))
    if len(y_true) and not (
        bool((labels[true_pos] == y_true).all()) and bool((labels[pred_pos] == y_pred).all())
    ):
        raise ValueError("a value in y_true or y_pred is not one of the labels")
    counts = torch.bincount(true_pos * n_labels + pred_pos, minlength=n_labels * n_labels)
    return counts.reshape(n_labels, n_labels), labels  # (L, L), (L,)


def per_label_scores(
    y_true: torch.Tensor | np.ndarray, y_pred: torch.Tensor | np.ndarray
) -> pd.DataFrame:
    """Precision, recall, F1 and support of every label (0 where a ratio is 0/0, like sklearn)."""
    counts, labels = confusion_matrix(y_true, y_pred)
    counts = counts.double()
    true_pos = counts.diagonal()  # (L,)
    predicted = counts.sum(dim=0)  # (L,) how often each label was predicted
    support = counts.sum(dim=1)  # (L,) how often each label is the truth

    def ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))

    return pd.DataFrame(
        {
            "precision": ratio(true_pos, predicted).numpy(),
            "recall": ratio(true_pos, support).numpy(),
            "f1": ratio(2 * true_pos, predicted + support).numpy(),
            "support": support.long().numpy(),
        },
        index=pd.Index(labels.numpy(), name="label"),
    )


def classification_scores(
    y_true: torch.Tensor | np.ndarray, y_pred: torch.Tensor | np.ndarray, average: str = "macro"
) -> dict[str, float]:
    """Precision, recall and F1 over the labels, "macro" (plain mean) or "weighted" by support.

    The same numbers as scikit-learn's precision/recall/f1_score(..., zero_division=0).
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
    table = per_label_scores(y_true, y_pred)
    if average == "macro":
        weights = np.full(len(table), 1.0 / max(len(table), 1))
    else:
        weights = table["support"].to_numpy() / max(table["support"].sum(), 1)
    names = ("precision", "recall", "f1")
    return {name: float(table[name].to_numpy() @ weights) for name in names}


# ---------------------------------------------------------------------------------------------
# Top-k ranking metrics (notebook 08): score every item for a user, mask what the user rated in
# training, take the top k and compare with the held-out items the user rated >= a threshold.
# ---------------------------------------------------------------------------------------------

Scorer = Callable[[torch.Tensor], torch.Tensor]  # user_idx (B,) -> scores (B, n_items)


def item_popularity(item_idx: torch.Tensor, n_items: int) -> torch.Tensor:
    """How many training ratings each item has: (n_items,) int64."""
    return torch.bincount(item_idx.cpu(), minlength=n_items)


def popularity_scorer(item_idx: torch.Tensor, n_items: int) -> Scorer:
    """The most-popular baseline: every user gets the items with the most training ratings."""
    counts = item_popularity(item_idx, n_items).float()  # (I,)
    return lambda user_idx: counts.expand(len(user_idx), n_items)  # (B, I)


def mf_scorer(model: nn.Module) -> Scorer:
    """`utils.models.score_all_items` as a Scorer: float scores on the CPU, no gradients."""

    @torch.inference_mode()
    def score(user_idx: torch.Tensor) -> torch.Tensor:
        return score_all_items(model, user_idx).float().cpu()

    return score


def _rows_to_mask(
    user_idx: torch.Tensor, item_idx: torch.Tensor, users: torch.Tensor, n_users: int, n_items: int
) -> torch.Tensor:
    """A (len(users), n_items) boolean matrix: True where a (user, item) pair is in the rows."""
    position = torch.full((n_users,), -1, dtype=torch.int64)
    position[users] = torch.arange(len(users))
    rows = position[user_idx]
    keep = rows >= 0
    mask = torch.zeros(len(users), n_items, dtype=torch.bool)
    mask[rows[keep], item_idx[keep]] = True
    return mask  # (B, I)


def unseen_top_k(
    scorer: Scorer,
    seen: RatingTensors,
    users: torch.Tensor,
    n_users: int,
    n_items: int,
    k: int,
    candidates: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and indices (each (B, k)) of the k best items per user among those not in `seen`.

    Seen items (and items outside the boolean `candidates` mask) score -inf, so they come last
    and a user with fewer than k candidates gets -inf entries at the end (notebooks 08 and 09).
    """
    seen = seen.to("cpu")
    scores = scorer(users.cpu()).float().clone()  # (B, I)
    scores[_rows_to_mask(seen.user_idx, seen.item_idx, users.cpu(), n_users, n_items)] = -torch.inf
    if candidates is not None:
        scores[:, ~candidates.cpu()] = -torch.inf
    return torch.topk(scores, k, dim=1)  # (B, k), (B, k)


def ranking_metrics(
    scorer: Scorer,
    train: RatingTensors,
    heldout: RatingTensors,
    n_users: int,
    n_items: int,
    *,
    k: int = 10,
    threshold: float = 4.0,
    candidates: torch.Tensor | None = None,
    chunk_size: int = 256,
) -> pd.DataFrame:
    """precision@k, recall@k and NDCG@k of each user with a held-out item rated >= threshold.

    Candidates are the items the user did not rate in `train` (and, if `candidates` is a
    (n_items,) boolean mask, only those items). precision@k = hits / k, recall@k = hits /
    relevant, NDCG@k with binary gains and the ideal ranking of min(k, relevant) hits.
    """
    train, heldout = train.to("cpu"), heldout.to("cpu")
    liked = heldout.ratings >= threshold
    relevant_users, relevant_items = heldout.user_idx[liked], heldout.item_idx[liked]
    users = torch.unique(relevant_users)  # sorted
    discounts = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))  # (k,)
    ideal = torch.cumsum(discounts, dim=0)  # (k,) best DCG with 1..k hits
    results = []
    for start in range(0, len(users), chunk_size):
        chunk = users[start : start + chunk_size]  # (B,)
        top_scores, top_items = unseen_top_k(scorer, train, chunk, n_users, n_items, k,
                                             candidates)  # (B, k), (B, k)
        relevant = _rows_to_mask(relevant_users, relevant_items, chunk, n_users, n_items)
        hits = relevant.gather(1, top_items) & torch.isfinite(top_scores)  # (B, k)
        n_relevant = relevant.sum(dim=1)  # (B,)
        n_hits = hits.sum(dim=1)
        dcg = (hits.double() * discounts).sum(dim=1)  # (B,)
        idcg = ideal[n_relevant.clamp(max=k) - 1]  # (B,)
        results.append(
            pd.DataFrame(
                {
                    "user_idx": chunk.numpy(),
                    "n_relevant": n_relevant.numpy(),
                    "hits": n_hits.numpy(),
                    f"precision@{k}": (n_hits.double() / k).numpy(),
                    f"recall@{k}": (n_hits.double() / n_relevant).numpy(),
                    f"ndcg@{k}": (dcg / idcg).numpy(),
                }
            )
        )
    columns = ["user_idx", "n_relevant", "hits", f"precision@{k}", f"recall@{k}", f"ndcg@{k}"]
    return pd.concat(results, ignore_index=True) if results else pd.DataFrame(columns=columns)
