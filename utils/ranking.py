"""Rankings from implicit feedback (notebook 09): the leave-last-out split, negative samplers,
BPR and softmax losses with their batched training loop, EASE, full-ranking HR/NDCG/coverage,
and a saved recommender that serves top-k lists.

"Implicit" means that only *which* items a user interacted with counts (here: rated at all),
not the rating. Every metric ranks the held-out item against all the items the user has not
interacted with in training; nothing is computed on sampled negatives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from utils.encode import EncoderSizes, IdEncoder, RatingTensors, to_tensors
from utils.metrics import Scorer, item_popularity, mf_scorer, ranking_metrics, unseen_top_k
from utils.models import BiasedMF, lookup
from utils.progress import progress_bar

LOSSES = ("bpr", "sampled_softmax", "in_batch_softmax")
SAMPLERS = ("uniform", "popularity")
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# The split: each user's latest interaction is the test item.
# ---------------------------------------------------------------------------------------------


def leave_last_out(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest rating (ties broken by the larger item id) held out, the rest kept.

    Users with a single rating keep it in training and have no held-out row (notebook 09).
    """
    if ratings.empty:
        raise ValueError("no ratings to split")
    ordered = ratings.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    from_end = ordered.groupby("user_id", sort=False).cumcount(ascending=False)
    has_history = ordered.groupby("user_id", sort=False)["item_id"].transform("size") > 1
    held = (from_end == 0) & has_history
    return ordered[~held].copy(), ordered[held].copy()


@dataclass(frozen=True)
class ImplicitData(EncoderSizes):
    """One dataset encoded for ranking: encoders fitted on every rating, and the split tensors."""

    users: IdEncoder
    items: IdEncoder
    train: RatingTensors  # the ratings are kept (the rating model uses them)
    heldout: RatingTensors  # one row per user: the latest interaction


def encode_leave_last_out(ratings: pd.DataFrame) -> ImplicitData:
    """Encode every user and item of `ratings`, then split with `leave_last_out` (notebook 09)."""
    users, items = IdEncoder.fit(ratings["user_id"]), IdEncoder.fit(ratings["item_id"])

    def encoded(frame: pd.DataFrame) -> RatingTensors:
        return to_tensors(frame.assign(user_idx=users.encode(frame["user_id"]),
                                       item_idx=items.encode(frame["item_id"])))

    train, heldout = leave_last_out(ratings)
    return ImplicitData(users, items, encoded(train), encoded(heldout))


def validation_slice(data: ImplicitData) -> ImplicitData:
    """Leave-last-out again inside the training rows: the second-to-last item validates.

    The training rows are already in time order within each user, so row order is the clock.
    """
    frame = pd.DataFrame({"user_id": data.train.user_idx.numpy(),
                          "item_id": data.train.item_idx.numpy(),
                          "rating": data.train.ratings.numpy(),
                          "timestamp": np.arange(len(data.train))})
    parts = [to_tensors(part.rename(columns={"user_id": "user_idx", "item_id": "item_idx"}))
             for part in leave_last_out(frame)]
    return ImplicitData(data.users, data.items, *parts)


# ---------------------------------------------------------------------------------------------
# Metrics: hit rate, NDCG and catalogue coverage of full top-k lists.
# ---------------------------------------------------------------------------------------------


def top_k_items(
    scorer: Scorer,
    seen: RatingTensors,
    users: torch.Tensor,
    n_users: int,
    n_items: int,
    k: int = 10,
    chunk_size: int = 512,
) -> torch.Tensor:
    """The top-k unseen items of every user in `users`, chunk by chunk: (U, k) (notebook 09)."""
    chunks = [unseen_top_k(scorer, seen, users[start : start + chunk_size], n_users, n_items, k)[1]
              for start in range(0, len(users), chunk_size)]
    return torch.cat(chunks) if chunks else torch.empty(0, k, dtype=torch.int64)


def leave_last_out_metrics(
    scorer: Scorer, train: RatingTensors, heldout: RatingTensors, n_users: int, n_items: int,
    k: int = 10,
) -> dict[str, float]:
    """HR@k, NDCG@k and catalogue coverage@k with every unseen item a candidate (notebook 09).

    HR@k: share of users whose held-out item is in their top k. NDCG@k: 1 / log2(rank + 1) of
    that item if it is in the top k, else 0. Coverage@k: share of the catalogue that appears in
    at least one user's top k. The per-user numbers come from `utils.metrics.ranking_metrics`
    with every held-out item relevant.
    """
    table = ranking_metrics(scorer, train, heldout, n_users, n_items, k=k, threshold=-math.inf)
    top = top_k_items(scorer, train, torch.unique(heldout.user_idx.cpu()), n_users, n_items, k)
    return {f"HR@{k}": float((table["hits"] > 0).mean()),
            f"NDCG@{k}": float(table[f"ndcg@{k}"].mean()),
            f"coverage@{k}": len(torch.unique(top)) / n_items}


# ---------------------------------------------------------------------------------------------
# Negative samplers.
# ---------------------------------------------------------------------------------------------


def interaction_keys(user_idx: torch.Tensor, item_idx: torch.Tensor, n_items: int) -> torch.Tensor:
    """Sorted unique user * n_items + item codes: a set of (user, item) pairs for fast lookup."""
    return torch.unique(user_idx.cpu() * n_items + item_idx.cpu())  # sorted


def is_interaction(keys: torch.Tensor, user_idx: torch.Tensor, item_idx: torch.Tensor,
                   n_items: int) -> torch.Tensor:
    """True where (user, item) is among the pairs coded in `keys` (from `interaction_keys`)."""
    codes = user_idx * n_items + item_idx
    position = torch.searchsorted(keys, codes).clamp(max=max(len(keys) - 1, 0))
    return keys[position] == codes if len(keys) else torch.zeros_like(codes, dtype=torch.bool)


def sampling_weights(item_idx: torch.Tensor, n_items: int, sampler: str,
                     power: float = 1.0) -> torch.Tensor:
    """Probability of drawing each item: equal ("uniform") or ∝ count**power ("popularity")."""
    if sampler == "uniform":
        return torch.full((n_items,), 1.0 / n_items)
    if sampler == "popularity":
        weights = item_popularity(item_idx, n_items).double() ** power
        if weights.sum() == 0:
            raise ValueError("popularity sampling needs at least one interaction")
        return (weights / weights.sum()).float()
    raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")


def sample_negatives(
    probs: torch.Tensor,
    user_idx: torch.Tensor,
    n_negatives: int,
    generator: torch.Generator,
    keys: torch.Tensor | None = None,
    max_rounds: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Items drawn from `probs`, n_negatives per user, (B, N), and a (B, N) mask of the valid ones.

    With `keys` (the user's positives, `interaction_keys`), draws that hit a positive are drawn
    again, all at once, up to max_rounds times; any left are marked invalid (notebook 09).
    """
    n_items = len(probs)
    shape = (len(user_idx), n_negatives)

    def draw(count: int) -> torch.Tensor:
        return torch.multinomial(probs, count, replacement=True, generator=generator)

    negatives = draw(shape[0] * shape[1]).reshape(shape)  # (B, N)
    if keys is None:
        return negatives, torch.ones(shape, dtype=torch.bool)
    users = user_idx.cpu()[:, None].expand(shape).reshape(-1)  # (B * N,)
    flat = negatives.view(-1)  # (B * N,), shares memory with negatives
    clash = is_interaction(keys, users, flat, n_items)
    for _ in range(max_rounds):
        redo = torch.nonzero(clash).squeeze(1)  # only the clashing draws are looked up again
        if len(redo) == 0:
            break
        flat[redo] = draw(len(redo))
        clash[redo] = is_interaction(keys, users[redo], flat[redo], n_items)
    return negatives, ~clash.reshape(shape)


# ---------------------------------------------------------------------------------------------
# Losses and the training loop.
# ---------------------------------------------------------------------------------------------


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor,
             valid: torch.Tensor) -> torch.Tensor:
    """Pairwise BPR: mean of -log sigmoid(positive - negative) over the valid (B, N) pairs."""
    losses = F.softplus(neg_scores - pos_scores[:, None])  # (B, N) = -log sigmoid(pos - neg)
    return (losses * valid).sum() / valid.sum().clamp(min=1)


def softmax_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor,
                 valid: torch.Tensor) -> torch.Tensor:
    """Listwise: cross-entropy of the positive among itself and its (B, N) valid negatives."""
    logits = torch.cat([pos_scores[:, None], neg_scores.masked_fill(~valid, -torch.inf)], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.int64))


def item_scores(model: BiasedMF, user_vecs: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
    """Dot product plus item bias for users (B, K) against items (B, N) or (M,); the user bias
    and the offset are left out, since they shift all of one user's items alike."""
    item_vecs = model.item_vectors(item_idx.reshape(-1)).reshape(*item_idx.shape, -1)
    bias = model.item_bias_values(item_idx.reshape(-1)).reshape(item_idx.shape)
    if item_idx.dim() == 1:  # items shared by the whole batch: (B, M)
        return user_vecs @ item_vecs.T + bias[None, :]
    return (user_vecs[:, None, :] * item_vecs).sum(-1) + bias  # (B, N)


def ranking_batch_loss(
    model: BiasedMF, users: torch.Tensor, positives: torch.Tensor, loss: str,
    probs: torch.Tensor, n_negatives: int, generator: torch.Generator, keys: torch.Tensor,
) -> torch.Tensor:
    """The loss of one batch of (user, positive) pairs with its negatives (notebook 09).

    bpr: n_negatives per pair from `probs`, the user's positives redrawn. sampled_softmax:
    n_negatives shared by the batch, with log-probability correction (logits - log q) so that
    popular draws do not count more than they should; a negative equal to the row's positive is
    masked. in_batch_softmax: the other rows' positives are the negatives (masked where equal).
    """
    user_vecs = lookup(model.user_emb, users)  # (B, K)
    pos_scores = item_scores(model, user_vecs, positives[:, None])[:, 0]  # (B,)
    if loss == "bpr":
        negatives, valid = sample_negatives(probs, users, n_negatives, generator, keys)
        return bpr_loss(pos_scores, item_scores(model, user_vecs, negatives), valid)
    if loss == "sampled_softmax":
        shared = torch.multinomial(probs, n_negatives, replacement=True, generator=generator)
        log_q = torch.log(probs * n_negatives)
        neg_scores = item_scores(model, user_vecs, shared) - log_q[shared][None, :]  # (B, M)
        valid = shared[None, :] != positives[:, None]
        return softmax_loss(pos_scores - log_q[positives], neg_scores, valid)
    if loss == "in_batch_softmax":
        neg_scores = item_scores(model, user_vecs, positives)  # (B, B), diagonal = positives
        valid = positives[None, :] != positives[:, None]
        return softmax_loss(pos_scores, neg_scores, valid)
    raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")


def fit_ranking(
    model: BiasedMF,
    train: RatingTensors,
    *,
    loss: str = "bpr",
    sampler: str = "uniform",
    n_negatives: int = 1,
    n_epochs: int = 10,
    lr: float = 0.01,
    wd: float = 0.0,
    batch_size: int = 1024,
    seed: int = 0,
) -> pd.DataFrame:
    """Train MF for ranking with Adam on shuffled minibatches of (user, item) pairs (notebook 09).

    Batches are drawn by index from the tensors (one randperm per epoch); each epoch's mean loss
    and seconds are returned, one row per epoch.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")
    if len(train) == 0:
        raise ValueError("the training set is empty")
    n_items = model.item_emb.num_embeddings
    train = train.to("cpu")
    probs = sampling_weights(train.item_idx, n_items, sampler)
    keys = interaction_keys(train.user_idx, train.item_idx, n_items)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    generator = torch.Generator().manual_seed(seed)
    history = []
    bar = progress_bar(total=n_epochs, desc="epochs", unit="epoch")
    for epoch in range(1, n_epochs + 1):
        started, loss_sum = time.perf_counter(), torch.zeros(())
        model.train()
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch_size):
            batch = train.subset(order[start : start + batch_size])
            batch_loss = ranking_batch_loss(model, batch.user_idx, batch.item_idx, loss, probs,
                                            n_negatives, generator, keys)
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            loss_sum += batch_loss.detach() * len(batch)
        history.append({"epoch": epoch, "train_loss": float(loss_sum) / len(train),
                        "seconds": time.perf_counter() - started})
        bar.update()
    bar.close()
    return pd.DataFrame(history).set_index("epoch")


def ranking_mf(n_users: int, n_items: int, n_factors: int, seed: int = 0) -> BiasedMF:
    """The course's BiasedMF, started from N(0, 0.1²) factors, to be trained on a ranking loss."""
    torch.manual_seed(seed)
    model = BiasedMF(n_users, n_items, n_factors)
    for table in (model.user_emb, model.item_emb):
        nn.init.normal_(table.weight, 0.0, 0.1)
    return model


# ---------------------------------------------------------------------------------------------
# EASE: a closed-form item-item model.
# ---------------------------------------------------------------------------------------------


def recency_weights(train: RatingTensors, half_life: float | None) -> torch.Tensor:
    """Each training row's weight 2**(-n / half_life), n = the user's ratings after it, (N,).

    The rows must be grouped by user in time order, as `encode_leave_last_out` and
    `validation_slice` leave them; half_life None weighs every row 1 (notebook 09).
    """
    user_idx = train.user_idx.cpu()
    if len(user_idx) > 1 and bool((user_idx[1:] < user_idx[:-1]).any()):
        raise ValueError("recency_weights needs the rows grouped by user in time order: pass "
                         "the training rows of encode_leave_last_out or validation_slice")
    if half_life is None:
        return torch.ones(len(user_idx), dtype=torch.float64)
    if not half_life > 0:
        raise ValueError(f"half_life must be positive (or None for no decay), not {half_life}")
    last_row = torch.cumsum(torch.bincount(user_idx), 0) - 1  # each user's latest row
    later = last_row[user_idx] - torch.arange(len(user_idx))  # (N,) ratings after each row
    return 0.5 ** (later.double() / half_life)


def fit_ease(
    train: RatingTensors, n_users: int, n_items: int, l2: float,
) -> Callable[[torch.Tensor | None], torch.Tensor]:
    """EASE fitted once (Steck 2019; notebook 09): a function from history weights to scores.

    EASE learns item-item weights B with a zero diagonal that minimise |X - XB|² + l2 |B|²;
    with P = (XᵀX + l2 I)⁻¹ the solution is B = I - P / diag(P), so the scores are
    XB = X - XP / diag(P). When users are fewer than items, the same XP and diag(P) come from
    a users × users inverse (Woodbury identity): XP = MX with M = (XXᵀ + l2 I)⁻¹.
    The returned function gives every user's score of every item, (U, I): XB for None, or HB
    for one weight per training row (e.g. `recency_weights`), H holding each rated item's
    weight; B is always learned from the 0/1 matrix X, so trying weights costs no new inverse.
    """
    if not l2 > 0:
        raise ValueError(f"l2 must be positive, not {l2}")
    rows, cols = train.user_idx.cpu(), train.item_idx.cpu()
    x = torch.zeros(n_users, n_items, dtype=torch.float64)
    x[rows, cols] = 1.0  # (U, I) binary
    if n_users < n_items:
        m = torch.linalg.inv(x @ x.T + l2 * torch.eye(n_users, dtype=torch.float64))  # (U, U)
        xp = m @ x  # (U, I): XP = MX
        diag_p = (1.0 - (x * xp).sum(0)) / l2  # (I,)

        def times_p(history: torch.Tensor) -> torch.Tensor:  # HP = (H - HXᵀMX) / l2
            return (history - (history @ x.T) @ xp) / l2
    else:
        p = torch.linalg.inv(x.T @ x + l2 * torch.eye(n_items, dtype=torch.float64))  # (I, I)
        xp, diag_p = x @ p, torch.diagonal(p)

        def times_p(history: torch.Tensor) -> torch.Tensor:
            return history @ p

    def scores(history_weights: torch.Tensor | None = None) -> torch.Tensor:
        if history_weights is None:
            return (x - xp / diag_p[None, :]).float()  # XP is known: no further product
        if history_weights.shape != (len(train),):
            raise ValueError(f"history_weights must hold one weight per training row, "
                             f"({len(train)},), not {tuple(history_weights.shape)}")
        history = torch.zeros_like(x)
        history[rows, cols] = history_weights.cpu().double()  # (U, I)
        return (history - times_p(history) / diag_p[None, :]).float()  # (U, I)

    return scores


def ease_scores(train: RatingTensors, n_users: int, n_items: int, l2: float,
                history_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Every user's EASE score of every item, (U, I): `fit_ease` and its scores in one call."""
    return fit_ease(train, n_users, n_items, l2)(history_weights)


def table_scorer(scores: torch.Tensor) -> Scorer:
    """A scorer that reads the rows of a precomputed (U, I) score table."""
    return lambda user_idx: scores[user_idx.to(scores.device)]


# ---------------------------------------------------------------------------------------------
# Serving: save, load, recommend.
# ---------------------------------------------------------------------------------------------


@dataclass
class Recommender:
    """A trained MF model with its id encoders and the items each user has already seen.

    `save` writes one file (torch.save of the state dict, the model's settings, the encoders'
    raw ids, the seen pairs and FORMAT_VERSION); `load` checks them before building the model
    (notebook 09).
    """

    model: BiasedMF
    users: IdEncoder
    items: IdEncoder
    seen: RatingTensors

    def __post_init__(self) -> None:
        n_users, n_items = self.model.user_emb.num_embeddings, self.model.item_emb.num_embeddings
        if (len(self.users), len(self.items)) != (n_users, n_items):
            raise ValueError(f"the encoders know {len(self.users)} users and {len(self.items)} "
                             f"items but the model has {n_users} and {n_items}: pass the "
                             "encoders the model was trained with")

    def recommend(self, user_id: object, k: int = 10) -> np.ndarray:
        """The raw ids of the k best items that `user_id` has not seen, best first."""
        user_idx = self.users.encode(np.array([user_id]))
        if user_idx[0] < 0:
            raise KeyError(f"user {user_id!r} is unknown to this model; it knows "
                           f"{len(self.users)} users")
        return self.items.decode(self.top_k(torch.tensor(user_idx), k)[0])

    def top_k(self, user_idx: torch.Tensor, k: int = 10, chunk_size: int = 512) -> torch.Tensor:
        """The top-k unseen item indices of every user in `user_idx`, (U, k), chunked."""
        return top_k_items(mf_scorer(self.model), self.seen, user_idx, len(self.users),
                           len(self.items), k, chunk_size)

    def save(self, path: str | Path) -> None:
        """Write the model, its settings, the encoders and the seen pairs to one file."""
        model = self.model
        torch.save({
            "format_version": FORMAT_VERSION,
            "model_class": type(model).__name__,
            "settings": {"n_users": len(self.users), "n_items": len(self.items),
                         "n_factors": model.user_emb.embedding_dim, "biases": model.biases,
                         "offset": float(model.offset), "y_range": model.y_range},
            "state_dict": model.state_dict(),
            "user_ids": self.users.ids.tolist(),
            "item_ids": self.items.ids.tolist(),
            "seen": torch.stack([self.seen.user_idx.cpu(), self.seen.item_idx.cpu()]),
        }, path)

    @classmethod
    def load(cls, path: str | Path, model_class: type[BiasedMF] = BiasedMF) -> Recommender:
        """Read a file written by `save`; a wrong version, class or size raises ValueError."""
        saved = torch.load(path, weights_only=True)
        version = saved.get("format_version") if isinstance(saved, dict) else None
        if version != FORMAT_VERSION:
            raise ValueError(f"{path} has format version {version}, this code reads version "
                             f"{FORMAT_VERSION}: save the model again with this version")
        if saved["model_class"] != model_class.__name__:
            raise ValueError(f"{path} holds a {saved['model_class']}, not a "
                             f"{model_class.__name__}: pass model_class={saved['model_class']}")
        settings = saved["settings"]
        sizes = {"user ids": (len(saved["user_ids"]), settings["n_users"]),
                 "item ids": (len(saved["item_ids"]), settings["n_items"]),
                 "user table": (saved["state_dict"]["user_emb.weight"].shape[0],
                                settings["n_users"]),
                 "item table": (saved["state_dict"]["item_emb.weight"].shape[0],
                                settings["n_items"])}
        for name, (found, expected) in sizes.items():
            if found != expected:
                raise ValueError(f"{path} is inconsistent: {found} rows in its {name}, "
                                 f"{expected} expected from its settings; save it again")
        model = model_class(settings["n_users"], settings["n_items"], settings["n_factors"],
                            biases=settings["biases"], offset=settings["offset"],
                            y_range=settings["y_range"])
        model.load_state_dict(saved["state_dict"])
        seen = saved["seen"]
        return cls(model, IdEncoder(np.array(saved["user_ids"])),
                   IdEncoder(np.array(saved["item_ids"])),
                   RatingTensors(seen[0], seen[1], torch.ones(seen.shape[1])))


def throughput(recommender: Recommender, k: int = 10, chunk_size: int = 512) -> dict[str, float]:
    """Seconds to compute every user's top k, and users and (user, item) scores per second."""
    all_users = torch.arange(len(recommender.users))
    started = time.perf_counter()
    recommender.top_k(all_users, k, chunk_size)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "users_per_second": len(all_users) / seconds,
            "scores_per_second": len(all_users) * len(recommender.items) / seconds}
