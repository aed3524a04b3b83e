"""Neural rating models: the lab's DeepMF and a NeuMF-style fused model (notebook 07).

The lab's plain MF is `utils.models.DotProductMF(n_users, n_items, 10, init="normal")`:
PyTorch's default N(0, 1) embeddings, as in U Kang's deep-MF lab. Every model here has
`forward(user_idx, item_idx) -> (B,) predictions`, all that `utils.train.fit` needs.
"""

from __future__ import annotations

import torch
from torch import nn

from utils.models import init_embedding, lookup, squash


def mlp_tower(in_features: int, hidden: tuple[int, ...], dropout: float = 0.0) -> nn.Sequential:
    """Linear -> ReLU (-> Dropout) for each hidden width; no output layer."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    return nn.Sequential(*layers)


class RatingBiases(nn.Module):
    """A fixed global mean plus learned user and item biases (zeros at the start)."""

    def __init__(self, n_users: int, n_items: int, offset: float = 0.0):
        super().__init__()
        self.register_buffer("offset", torch.tensor(float(offset)))
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        user_b = lookup(self.user_bias, user_idx).squeeze(1)  # (B,)
        item_b = lookup(self.item_bias, item_idx).squeeze(1)  # (B,)
        return self.offset + user_b + item_b  # (B,)


class DeepMF(nn.Module):
    """The lab's DeepMF: [user vector, item vector] -> 10 -> 5 -> 1 with ReLU (notebook 07).

    With the defaults it is the lab's model exactly (same layers, same initialisation).
    `biases=True` adds a fixed global mean and learned user/item biases to the output;
    `dropout` is applied after each hidden ReLU; `y_range=(low, high)` squashes the output
    with a sigmoid as `utils.models.BiasedMF` does (then give `offset` in logit units).
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 10,
        hidden: tuple[int, ...] = (10, 5),
        *,
        init: str = "normal",
        dropout: float = 0.0,
        biases: bool = False,
        offset: float = 0.0,
        y_range: tuple[float, float] | None = None,
    ):
        super().__init__()
        self.y_range = y_range
        self.user_emb = nn.Embedding(n_users, n_factors)
        self.item_emb = nn.Embedding(n_items, n_factors)
        init_embedding(self.user_emb, init)
        init_embedding(self.item_emb, init)
        self.tower = mlp_tower(2 * n_factors, hidden, dropout)
        self.out = nn.Linear(hidden[-1] if hidden else 2 * n_factors, 1)
        self.biases = RatingBiases(n_users, n_items, offset) if biases else None

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        user_vecs = lookup(self.user_emb, user_idx)  # (B, K)
        item_vecs = lookup(self.item_emb, item_idx)  # (B, K)
        pair = torch.cat([user_vecs, item_vecs], dim=1)  # (B, 2K)
        scores = self.out(self.tower(pair)).squeeze(1)  # (B, H) -> (B, 1) -> (B,)
        if self.biases is not None:
            scores = scores + self.biases(user_idx, item_idx)
        return squash(scores, self.y_range)


class NeuMF(nn.Module):
    """GMF (element-wise product) beside an MLP tower, fused by one linear layer (notebook 07).

    He et al., "Neural Collaborative Filtering" (WWW 2017), adapted to rating regression: the
    two branches have their own embeddings, their outputs are concatenated and mapped to one
    score, and a fixed global mean plus user/item biases are added (`biases=True`).
    `dropout` acts on the GMF product and after each hidden ReLU; `y_range` as in DeepMF.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 16,
        mlp_factors: int = 16,
        hidden: tuple[int, ...] = (32, 16, 8),
        *,
        init: str = "uniform",
        dropout: float = 0.0,
        biases: bool = True,
        offset: float = 0.0,
        y_range: tuple[float, float] | None = None,
    ):
        super().__init__()
        self.y_range = y_range
        self.gmf_user = nn.Embedding(n_users, n_factors)
        self.gmf_item = nn.Embedding(n_items, n_factors)
        self.mlp_user = nn.Embedding(n_users, mlp_factors)
        self.mlp_item = nn.Embedding(n_items, mlp_factors)
        for embedding in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            init_embedding(embedding, init)
        self.tower = mlp_tower(2 * mlp_factors, hidden, dropout)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(n_factors + (hidden[-1] if hidden else 2 * mlp_factors), 1)
        self.biases = RatingBiases(n_users, n_items, offset) if biases else None

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        gmf = lookup(self.gmf_user, user_idx) * lookup(self.gmf_item, item_idx)  # (B, K)
        mlp_vecs = [lookup(self.mlp_user, user_idx), lookup(self.mlp_item, item_idx)]
        pair = torch.cat(mlp_vecs, dim=1)  # (B, 2M)
        fused = torch.cat([self.dropout(gmf), self.tower(pair)], dim=1)  # (B, K + H)
        scores = self.out(fused).squeeze(1)  # (B,)
        if self.biases is not None:
            scores = scores + self.biases(user_idx, item_idx)
        return squash(scores, self.y_range)
