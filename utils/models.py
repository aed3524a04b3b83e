"""Matrix-factorization models shared by the notebooks (each class names the one that teaches it).

Every model has `forward(user_idx, item_idx) -> predictions`, which is all `utils.train.fit`
asks of a model.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

INITS = ("uniform", "normal")


def lookup(embedding: nn.Embedding, idx: torch.Tensor) -> torch.Tensor:
    """The rows of an embedding table for `idx`, the same as `embedding(idx)` but faster to train.

    `index_select`'s backward accumulates the gradient with `index_add_`, which on the CPU is
    several times faster than the backward of `nn.Embedding`'s own lookup (the bench measures it).
    """
    return embedding.weight.index_select(0, idx)


def init_embedding(embedding: nn.Embedding, init: str) -> None:
    """uniform(0, 0.05) as in the course's sources, or PyTorch's default N(0, 1) ("normal")."""
    if init == "uniform":
        nn.init.uniform_(embedding.weight, 0.0, 0.05)
    elif init == "normal":
        nn.init.normal_(embedding.weight, 0.0, 1.0)
    else:
        raise ValueError(f"init must be one of {INITS}, not {init!r}")


def squash(scores: torch.Tensor, y_range: tuple[float, float] | None) -> torch.Tensor:
    """low + (high - low) * sigmoid(scores) for y_range=(low, high); unchanged for None."""
    if y_range is None:
        return scores
    low, high = y_range
    return low + (high - low) * torch.sigmoid(scores)


class DotProductMF(nn.Module):
    """Plain MF: the prediction is the dot product of a user and an item vector (notebook 03)."""

    def __init__(self, n_users: int, n_items: int, n_factors: int = 100, init: str = "uniform"):
        super().__init__()
        self.user_emb = nn.Embedding(n_users, n_factors)
        self.item_emb = nn.Embedding(n_items, n_factors)
        init_embedding(self.user_emb, init)
        init_embedding(self.item_emb, init)

    def item_vectors(self, item_idx: torch.Tensor) -> torch.Tensor:
        """The factor vectors of the items in `item_idx`, shape (B, K)."""
        return lookup(self.item_emb, item_idx)

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        user_vecs = lookup(self.user_emb, user_idx)  # (B, K)
        item_vecs = self.item_vectors(item_idx)  # (B, K)
        return (user_vecs * item_vecs).sum(dim=1)  # (B,)


class BiasedMF(DotProductMF):
    """MF with user and item biases, a global offset and an optional sigmoid range.

    Taught in notebook 04 (biases, offset, a first look at the sigmoid range) and notebook 08
    (every switch: init, biases, sigmoid range). `offset` is the fixed global term (the training
    mean); `y_range=(low, high)` squashes the output with low + (high - low) * sigmoid(x).
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 100,
        *,
        init: str = "uniform",
        biases: bool = True,
        offset: float = 0.0,
        y_range: tuple[float, float] | None = None,
    ):
        super().__init__(n_users, n_items, n_factors, init)
        self.biases = biases
        self.y_range = y_range
        self.register_buffer("offset", torch.tensor(float(offset)))
        if biases:
            self.user_bias = nn.Embedding(n_users, 1)
            self.item_bias = nn.Embedding(n_items, 1)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)

    def item_bias_values(self, item_idx: torch.Tensor) -> torch.Tensor:
        """The biases of the items in `item_idx`, shape (B,)."""
        return lookup(self.item_bias, item_idx).squeeze(1)

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        scores = super().forward(user_idx, item_idx) + self.offset  # (B,)
        if self.biases:
            user_bias = lookup(self.user_bias, user_idx).squeeze(1)  # (B,)
            scores = scores + user_bias + self.item_bias_values(item_idx)
        return squash(scores, self.y_range)


class HybridMF(BiasedMF):
    """BiasedMF whose items also draw on their features, such as genres and release year.

    Taught in notebook 05. Each item's 0/1 feature row (`utils.encode.item_features`) is scaled to
    sum to 1, giving f_i; the item's vector becomes q_i + f_i W and its bias b_i + f_i w, with one
    learned row of W and one number of w per feature. A film with few ratings thus borrows what
    the model learned from other films of its genres and era. The name of `feature_bias` puts it
    under `fit`'s bias_wd.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int,
        item_features: torch.Tensor,
        *,
        init: str = "uniform",
        offset: float = 0.0,
        y_range: tuple[float, float] | None = None,
    ):
        super().__init__(n_users, n_items, n_factors, init=init, offset=offset,
                         y_range=y_range)
        if item_features.dim() != 2 or item_features.shape[0] != n_items:
            raise ValueError(f"give one feature row per item: {n_items} items, features of "
                             f"shape {tuple(item_features.shape)}")
        features = item_features.float()
        self.register_buffer("features", features / features.sum(1, keepdim=True).clamp(min=1))
        self.feature_factors = nn.Parameter(torch.zeros(features.shape[1], n_factors))
        self.feature_bias = nn.Parameter(torch.zeros(features.shape[1]))

    def item_vectors(self, item_idx: torch.Tensor) -> torch.Tensor:
        features = self.features.index_select(0, item_idx)  # (B, F)
        return super().item_vectors(item_idx) + features @ self.feature_factors  # (B, K)

    def item_bias_values(self, item_idx: torch.Tensor) -> torch.Tensor:
        features = self.features.index_select(0, item_idx)  # (B, F)
        return super().item_bias_values(item_idx) + features @ self.feature_bias  # (B,)

    def with_new_items(self, new_features: torch.Tensor) -> HybridMF:
        """A copy that also scores unseen items, from their 0/1 feature rows alone (notebook 05).

        The new items get indices n_items, n_items + 1, ...; their own vector and bias are zero,
        so each is predicted from the learned parts of its genres and era only.
        """
        if new_features.dim() != 2 or new_features.shape[1] != self.features.shape[1]:
            raise ValueError(f"give one row of {self.features.shape[1]} features per new item, "
                             f"not a tensor of shape {tuple(new_features.shape)}")
        grown = copy.deepcopy(self)
        device = self.features.device
        features = new_features.float().to(device)
        features = features / features.sum(1, keepdim=True).clamp(min=1)
        grown.features = torch.cat([self.features, features])
        for table in (grown.item_emb, grown.item_bias):
            extra = torch.zeros(len(features), table.embedding_dim, device=device)
            table.weight = nn.Parameter(torch.cat([table.weight.detach(), extra]))
            table.num_embeddings = table.weight.shape[0]
        return grown


def sigmoid_offset(mean: float, y_range: tuple[float, float] | None) -> float:
    """The global offset that makes a fresh model predict `mean`, with or without a y_range.

    Without a range the offset is the mean itself; with one it is the logit of where the mean
    sits in the range, so that low + (high - low) * sigmoid(offset) == mean (notebook 04, and
    notebook 08 in full).
    """
    if y_range is None:
        return float(mean)
    low, high = y_range
    if not low < mean < high:
        raise ValueError(f"the mean {mean} must lie strictly inside y_range {y_range}")
    fraction = (mean - low) / (high - low)
    return math.log(fraction / (1.0 - fraction))


def score_all_items(model: nn.Module, user_idx: torch.Tensor) -> torch.Tensor:
    """Every item's prediction for each user in `user_idx`, shape (U, n_items), in one product.

    The same numbers as `forward` on every (user, item) pair, without building the U x I pairs:
    P_u Q^T (with HybridMF's feature part), then the biases and the offset, then the sigmoid
    range if the model has one. A `Blend` of such models averages their tables with its weights.
    """
    if isinstance(model, Blend):
        return sum(weight * score_all_items(part, user_idx)
                   for weight, part in zip(model.weights, model.models, strict=True))
    if not isinstance(model, DotProductMF):
        raise TypeError(f"score_all_items needs a DotProductMF (or a subclass) or a Blend of "
                        f"them, not {type(model).__name__}: score other models pair by pair "
                        "with utils.train.predict")
    weights = model.item_emb.weight
    all_items = torch.arange(weights.shape[0], device=weights.device)
    item_vecs = model.item_vectors(all_items)  # (I, K)
    user_idx = torch.as_tensor(user_idx, device=weights.device).reshape(-1)
    scores = lookup(model.user_emb, user_idx) @ item_vecs.T  # (U, I)
    scores = scores + getattr(model, "offset", 0.0)  # DotProductMF has no offset
    if getattr(model, "biases", False):
        scores = scores + lookup(model.user_bias, user_idx)  # (U, 1), broadcast over items
        scores = scores + model.item_bias_values(all_items)[None, :]  # (1, I)
    return squash(scores, getattr(model, "y_range", None))


class RegularizedMF(BiasedMF):
    """BiasedMF with an L2 penalty on the factors and biases used by each batch (notebook 04).

    `regularization` (added to the loss by `utils.train.fit`) is
    l2 * mean(|p_u|^2 + |q_i|^2) + bias_l2 * mean(b_u^2 + b_i^2) over the batch's ratings, the
    classic per-rating penalty of SGD matrix factorization: a user or item is shrunk in
    proportion to how often it appears. Unlike optimizer weight decay, rows that a batch does
    not touch are left alone, and the factors and biases get separate strengths.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 100,
        *,
        l2: float = 0.0,
        bias_l2: float = 0.0,
        **kwargs,
    ):
        super().__init__(n_users, n_items, n_factors, **kwargs)
        self.l2 = l2
        self.bias_l2 = bias_l2

    def regularization(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        """The batch's L2 penalty (a scalar tensor)."""
        user_vecs = lookup(self.user_emb, user_idx)  # (B, K)
        item_vecs = lookup(self.item_emb, item_idx)  # (B, K)
        penalty = self.l2 * (user_vecs.pow(2).sum(1) + item_vecs.pow(2).sum(1)).mean()
        if self.biases and self.bias_l2:
            user_bias = lookup(self.user_bias, user_idx).squeeze(1)  # (B,)
            item_bias = lookup(self.item_bias, item_idx).squeeze(1)  # (B,)
            penalty = penalty + self.bias_l2 * (user_bias.pow(2) + item_bias.pow(2)).mean()
        return penalty


class Blend(nn.Module):
    """A weighted average of trained models' predictions (notebooks 04, 05 and 07).

    Models that are regularised differently, or built differently, make different mistakes;
    their average is often more accurate than either. The weights are fixed numbers chosen on a
    slice of the training data (`utils.train.blend_scan`), not parameters to train.
    """

    def __init__(self, models: list[nn.Module], weights: list[float]):
        super().__init__()
        if len(models) != len(weights) or not models:
            raise ValueError(f"give one weight per model: {len(models)} models, "
                             f"{len(weights)} weights")
        if not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
            raise ValueError(f"the blend weights must sum to 1, not {sum(weights)}: "
                             "a weighted average keeps predictions on the rating scale")
        self.models = nn.ModuleList(models)
        self.weights = [float(w) for w in weights]

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        return sum(w * model(user_idx, item_idx)
                   for w, model in zip(self.weights, self.models, strict=True))
