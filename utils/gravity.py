"""Gravity-regularised matrix factorization (taught in notebook 06).

The gravity term of Google's recommendation-systems course is the mean squared prediction over
ALL user-item pairs, rated or not. It pulls the predictions for pairs nobody rated towards zero,
which is the training mean once ratings are centred. Written out it needs the full
n_users x n_items matrix of predictions; the trace identity

    mean_ij (u_i . v_j)^2 = trace((U^T U)(V^T V)) / (n_users n_items)
                          = sum((U^T U) * (V^T V)) / (n_users n_items)

needs only the two K x K Gram matrices: O((n_users + n_items) K^2) time and O(K^2) memory
instead of O(n_users n_items K) time and O(n_users n_items) memory.
"""

from __future__ import annotations

import torch

from utils.models import BiasedMF, lookup

GRAVITY_TARGETS = ("prediction", "interaction")


def gravity_direct(user_vecs: torch.Tensor, item_vecs: torch.Tensor) -> torch.Tensor:
    """Mean of (u_i . v_j)^2 over all pairs, from the full prediction matrix (small cases only)."""
    scores = user_vecs @ item_vecs.T  # (n_users, n_items)
    return (scores**2).mean()


def gravity(user_vecs: torch.Tensor, item_vecs: torch.Tensor) -> torch.Tensor:
    """Mean of (u_i . v_j)^2 over all pairs via the trace identity of the two K x K Grams."""
    user_gram = user_vecs.T @ user_vecs  # (K, K)
    item_gram = item_vecs.T @ item_vecs  # (K, K)
    return (user_gram * item_gram).sum() / (len(user_vecs) * len(item_vecs))


def augment_with_biases(
    user_vecs: torch.Tensor,
    item_vecs: torch.Tensor,
    user_bias: torch.Tensor,
    item_bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors whose dot product is the biased score: [u, b_u, 1] . [v, 1, b_i]."""
    user_ones = torch.ones_like(user_bias)
    item_ones = torch.ones_like(item_bias)
    users = torch.cat([user_vecs, user_bias.reshape(-1, 1), user_ones.reshape(-1, 1)], dim=1)
    items = torch.cat([item_vecs, item_ones.reshape(-1, 1), item_bias.reshape(-1, 1)], dim=1)
    return users, items  # (n_users, K + 2), (n_items, K + 2)


def l2_per_row(*tables: torch.Tensor) -> torch.Tensor:
    """Sum over tables of the mean squared row norm, sum(W^2) / n_rows (notebook 06's L2)."""
    return sum((table**2).sum() / len(table) for table in tables)


class GravityMF(BiasedMF):
    """Biased MF whose `regularization` adds L2 and gravity penalties (notebook 06).

    The model predicts centred ratings: u.v + b_u + b_i (+ the fixed `offset`, 0 when the
    ratings were centred beforehand). `gravity_on="prediction"` penalises the mean square of the
    whole score minus `offset` over all pairs (exact, via the augmented Gram matrices);
    `"interaction"` penalises only the u.v part, as in the course without biases.
    `l2` multiplies sum(U^2)/n_users + sum(V^2)/n_items, the source notebook's form, which pulls
    every row equally; `l2_per_rating` multiplies the batch mean of |u|^2 + |v|^2, the classic
    SGD form, which pulls a row once per rating it has; `bias_l2` is that form for the biases.
    The penalties use the whole tables, so they suit full-batch training (one step per epoch).
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 32,
        *,
        l2: float = 0.1,
        gravity: float = 1.0,
        bias_l2: float = 0.0,
        biases: bool = True,
        gravity_on: str = "prediction",
        l2_per_rating: float = 0.0,
        init: str = "normal",
        init_std: float = 0.1,
        offset: float = 0.0,
    ):
        if gravity_on not in GRAVITY_TARGETS:
            raise ValueError(f"gravity_on must be one of {GRAVITY_TARGETS}, not {gravity_on!r}")
        super().__init__(n_users, n_items, n_factors, init=init, biases=biases,
                         offset=offset)
        if init == "normal":  # N(0, init_std^2) rather than N(0, 1): the course's small init
            torch.nn.init.normal_(self.user_emb.weight, 0.0, init_std)
            torch.nn.init.normal_(self.item_emb.weight, 0.0, init_std)
        self.l2, self.gravity, self.bias_l2 = l2, gravity, bias_l2
        self.gravity_on, self.l2_per_rating = gravity_on, l2_per_rating

    def gravity_term(self) -> torch.Tensor:
        """Mean over all user-item pairs of the squared (centred) score, never materialised."""
        users, items = self.user_emb.weight, self.item_emb.weight  # (n_users, K), (n_items, K)
        if self.biases and self.gravity_on == "prediction":
            users, items = augment_with_biases(
                users, items, self.user_bias.weight, self.item_bias.weight
            )  # (n_users, K + 2), (n_items, K + 2)
        return gravity(users, items)

    def regularization(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        """L2 on the embedding tables (and biases) plus gravity; `fit` adds it to the loss."""
        penalty = self.l2 * l2_per_row(self.user_emb.weight, self.item_emb.weight)
        if self.l2_per_rating:  # the batch's rows, so a row counts once per rating it has
            penalty = penalty + self.l2_per_rating * l2_per_row(
                lookup(self.user_emb, user_idx),  # (B, K)
                lookup(self.item_emb, item_idx),  # (B, K)
            )
        if self.biases and self.bias_l2:
            penalty = penalty + self.bias_l2 * l2_per_row(
                self.user_bias.weight, self.item_bias.weight
            )
        if self.gravity:
            penalty = penalty + self.gravity * self.gravity_term()
        return penalty
