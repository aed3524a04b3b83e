"""The training loop: `train_epoch` (one pass over shuffled minibatches, written out in notebook
03) and `fit`, which adds learning-rate steps, early stopping, weighting, history and progress;
`fold_in` fits new users to a trained model whose items stay frozen (notebook 05).

Batches are drawn by index from tensors that already sit on the device: one `randperm` per
epoch, then slices of it. There is no per-sample Dataset/DataLoader in the hot path.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable, Iterator

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from utils.encode import RatingTensors
from utils.metrics import mae, mse
from utils.models import Blend
from utils.progress import progress_bar

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OPTIMIZERS = ("adam", "adamw", "sgd")


def make_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    wd: float,
    momentum: float = 0.9,
    bias_wd: float | None = None,
) -> torch.optim.Optimizer:
    """Adam (L2 added to the gradient), AdamW (decoupled decay) or SGD with momentum.

    bias_wd, if given, is the weight decay of every parameter whose name contains "bias"
    (notebook 08 leaves the user and item biases undecayed); the others keep `wd`.
    """
    params: list = list(model.parameters())
    if bias_wd is not None:
        named = list(model.named_parameters())
        params = [
            {"params": [p for n, p in named if "bias" not in n], "weight_decay": wd},
            {"params": [p for n, p in named if "bias" in n], "weight_decay": bias_wd},
        ]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=momentum)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {name!r}")


@torch.inference_mode()
def predict(
    model: nn.Module, user_idx: torch.Tensor, item_idx: torch.Tensor, batch_size: int = 1 << 18
) -> torch.Tensor:
    """Model predictions in eval mode, in chunks; the model's training mode is restored."""
    _check_batch_size(batch_size)
    _check_indices(model, user_idx, item_idx)
    was_training = model.training
    model.eval()
    try:
        chunks = [
            model(user_idx[start : start + batch_size], item_idx[start : start + batch_size])
            for start in range(0, len(user_idx), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, device=user_idx.device)


def _check_indices(model: nn.Module, user_idx: torch.Tensor, item_idx: torch.Tensor) -> None:
    """Indices must lie inside the model's user and item tables; say which one does not."""
    if user_idx.shape != item_idx.shape or user_idx.dim() != 1:
        raise ValueError(f"user_idx and item_idx must be 1-D and of one length, not of shapes "
                         f"{tuple(user_idx.shape)} and {tuple(item_idx.shape)}")
    for role, idx in (("user", user_idx), ("item", item_idx)):
        size = _table_size(model, role)
        if size is None or len(idx) == 0:
            continue
        low, high = int(idx.min()), int(idx.max())
        if low >= 0 and high < size:
            continue
        bad = low if low < 0 else high
        hint = ("-1 marks an id that training never saw (IdEncoder.encode): drop those rows or "
                "give them a fallback prediction such as the mean rating" if bad == -1 else
                "encode ids with the IdEncoder the model was trained with")
        raise IndexError(f"{role}_idx holds {bad}, but the model has {size} {role}s "
                         f"(indices 0..{size - 1}): {hint}")


def _table_size(model: nn.Module, role: str) -> int | None:
    """The smallest embedding table whose name mentions `role` ("user" or "item"), if any."""
    sizes = [module.num_embeddings for name, module in model.named_modules()
             if isinstance(module, nn.Embedding) and role in name]
    return min(sizes) if sizes else None


def evaluate(model: nn.Module, data: RatingTensors) -> dict[str, float]:
    """MSE, RMSE and MAE of the model on encoded rating triples."""
    predictions = predict(model, data.user_idx, data.item_idx)
    error = mse(predictions, data.ratings)
    return {"mse": error, "rmse": math.sqrt(error), "mae": mae(predictions, data.ratings)}


def blend_scan(
    first: nn.Module,
    second: nn.Module,
    data: RatingTensors,
    weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
) -> pd.Series:
    """RMSE on `data` of w * first + (1 - w) * second for each weight w (the Series' index)."""
    return pd.Series(
        {w: evaluate(Blend([first, second], [w, 1.0 - w]), data)["rmse"] for w in weights},
        name="rmse",
    ).rename_axis("weight of the first model")


def minibatches(
    train: RatingTensors, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, RatingTensors]]:
    """One epoch of shuffled minibatches: (rows of `train`, those ratings); one randperm per epoch.

    The permutation is drawn on the CPU with `generator` (reproducible on every device) and
    moved to the data's device once; each batch is then gathered by index (no per-rating Python).
    """
    _check_batch_size(batch_size)
    order = torch.randperm(len(train), generator=generator).to(train.ratings.device)  # (N,)
    for start in range(0, len(train), batch_size):
        rows = order[start : start + batch_size]  # (B,)
        yield rows, train.subset(rows)


def train_epoch(
    model: nn.Module,
    train: RatingTensors,
    opt: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
    loss_fn: LossFn = F.mse_loss,
    sample_weights: torch.Tensor | None = None,
) -> tuple[float, float]:
    """One pass over shuffled minibatches; returns the mean data loss and the mean penalty.

    If the model has a `regularization(user_idx, item_idx)` method, its value is added to each
    step's loss. sample_weights (one per training rating) turn the loss into a weighted MSE.
    """
    _check_batch_size(batch_size)
    model.train()
    device = train.ratings.device
    regularization = getattr(model, "regularization", None)
    no_penalty = torch.zeros((), device=device)
    # The sums stay on the device so that a GPU is not synchronised once per batch.
    loss_sum = torch.zeros((), device=device)
    penalty_sum = torch.zeros((), device=device)
    for rows, batch in minibatches(train, batch_size, generator):
        opt.zero_grad(set_to_none=True)
        predictions = model(batch.user_idx, batch.item_idx)  # (B,)
        if sample_weights is None:
            loss = loss_fn(predictions, batch.ratings)
        else:
            weights = sample_weights.index_select(0, rows)  # (B,)
            loss = (weights * (predictions - batch.ratings).pow(2)).mean()
        penalty = (no_penalty if regularization is None
                   else regularization(batch.user_idx, batch.item_idx))
        (loss + penalty).backward()
        opt.step()
        loss_sum += loss.detach() * len(batch)
        penalty_sum += penalty.detach() * len(batch)
    return float(loss_sum) / len(train), float(penalty_sum) / len(train)


def _is_whole(value: object) -> bool:
    """An int, numpy integer included (a DataFrame row's value), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_batch_size(batch_size: int) -> None:
    if not _is_whole(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1 (in fit, None trains "
                         f"full batch), not {batch_size!r}")


def _check_ratings(name: str, data: RatingTensors) -> None:
    """A set to train or score on must hold ratings, all of them finite numbers."""
    if len(data) == 0:
        without = ", or valid=None to train without one" if name == "validation" else ""
        raise ValueError(f"the {name} set is empty: pass a non-empty one{without}")
    not_finite = ~torch.isfinite(data.ratings)
    if not_finite.any():
        row = int(not_finite.nonzero()[0])
        raise ValueError(
            f"the {name} ratings hold {data.ratings[row].item()} at row {row} ("
            f"{int(not_finite.sum())} such rows): the data is broken, not the learning rate. "
            f"Drop or fill those ratings before training."
        )


def _check_learning_rates(lr: float, lr_steps: dict[int, float] | None) -> None:
    """lr and every lr_steps value must be a finite number >= 0, each step at an epoch >= 1."""
    for epoch in lr_steps or {}:
        if not _is_whole(epoch) or epoch < 1:
            raise ValueError(f"lr_steps maps epoch numbers (1, 2, ...) to learning rates; "
                             f"{epoch!r} is not an epoch number")
    settings = {"lr": lr, **{f"lr_steps[{e}]": v for e, v in (lr_steps or {}).items()}}
    for where, value in settings.items():
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where} must be a finite number of at least 0, not {value!r}")


def _check_weights(model: nn.Module) -> None:
    """Weights that are already NaN or infinite (a diverged model) cannot be trained back."""
    broken = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if broken:
        raise ValueError(
            f"the model's weights ({', '.join(broken)}) are already NaN or infinite, most likely "
            f"from a run that diverged; training cannot repair them. Re-create the model (and "
            f"pick a smaller lr) before calling fit again."
        )


def _check_fit_arguments(
    model: nn.Module,
    train: RatingTensors,
    valid: RatingTensors | None,
    also_evaluate: dict[str, RatingTensors] | None,
    n_epochs: int,
    lr: float,
    lr_steps: dict[int, float] | None,
    batch_size: int | None,
) -> None:
    """Fail before training, with the fix, on arguments that would train wrongly or silently."""
    _check_ratings("training", train)
    if valid is not None:
        _check_ratings("validation", valid)
    for name, data in (also_evaluate or {}).items():
        _check_ratings(f"also_evaluate[{name!r}]", data)
    if not _is_whole(n_epochs) or n_epochs < 1:
        raise ValueError(f"n_epochs must be a whole number of at least 1, not {n_epochs!r}")
    _check_learning_rates(lr, lr_steps)
    if batch_size is not None:
        _check_batch_size(batch_size)
    _check_weights(model)


def fit(
    model: nn.Module,
    train: RatingTensors,
    valid: RatingTensors | None = None,
    *,
    n_epochs: int,
    lr: float,
    wd: float = 0.0,
    bias_wd: float | None = None,
    optimizer: str = "adam",
    momentum: float = 0.9,
    batch_size: int | None = None,
    loss_fn: LossFn = F.mse_loss,
    lr_steps: dict[int, float] | None = None,
    patience: int | None = None,
    also_evaluate: dict[str, RatingTensors] | None = None,
    sample_weights: torch.Tensor | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Train `model(user_idx, item_idx)` and return one row of history per epoch.

    batch_size=None trains full batch (one step per epoch). lr_steps maps an epoch number to the
    learning rate used from that epoch on. If the model has a `regularization(user_idx, item_idx)`
    method, its value is added to each step's loss (notebook 06's gravity term uses this) and
    its epoch mean is reported as `train_penalty`; `train_loss` is the data loss alone, averaged
    over the epoch's batches while the weights move.
    With `patience`, training stops once `valid` MSE has not improved for that many epochs and
    the best weights are restored. `also_evaluate` adds columns such as `test_rmse` to the
    history, for curves only: nothing is chosen on them. bias_wd (default: wd) is the weight
    decay of the parameters named "*bias*" (see `make_optimizer`).
    sample_weights (one per training rating, e.g. `utils.encode.recency_weights`) turn the loss
    into the weighted mean of squared errors, and `train_loss` reports that weighted loss.
    Arguments that cannot train correctly raise ValueError before any step: n_epochs < 1, a
    batch_size < 1, an empty or non-finite data set, a negative or non-finite lr (or lr_steps
    value) and a model whose weights are already NaN.
    """
    _check_fit_arguments(model, train, valid, also_evaluate, n_epochs, lr, lr_steps, batch_size)
    if sample_weights is not None:
        if sample_weights.shape != (len(train),):
            raise ValueError(f"give one sample weight per training rating: {len(train)} "
                             f"ratings, weights of shape {tuple(sample_weights.shape)}")
        if not (torch.isfinite(sample_weights).all() and (sample_weights >= 0).all()):
            raise ValueError("sample weights must be finite numbers of at least 0")
        if loss_fn is not F.mse_loss:
            raise ValueError("sample_weights weight the squared error; they cannot be "
                             "combined with a custom loss_fn")
        sample_weights = sample_weights.to(device=train.ratings.device, dtype=torch.float32)
    if patience is not None and valid is None:
        raise ValueError("early stopping (patience) needs a validation set to watch")
    opt = make_optimizer(model, optimizer, lr, wd, momentum, bias_wd)
    generator = torch.Generator().manual_seed(seed)
    batch_size = batch_size or len(train)
    regularization = getattr(model, "regularization", None)
    history: list[dict[str, float]] = []
    best_mse, best_state, stale_epochs = math.inf, None, 0

    bar = progress_bar(total=n_epochs, desc="epochs", unit="epoch")
    for epoch in range(1, n_epochs + 1):
        if lr_steps and epoch in lr_steps:
            for group in opt.param_groups:
                group["lr"] = lr_steps[epoch]
        started = time.perf_counter()
        train_loss, train_penalty = train_epoch(
            model, train, opt, batch_size, generator, loss_fn, sample_weights
        )
        if not math.isfinite(train_loss + train_penalty):
            bar.close()
            raise FloatingPointError(
                f"The training loss became {train_loss + train_penalty} in epoch {epoch} (lr="
                f"{opt.param_groups[0]['lr']:g}). The steps are too large: try a smaller "
                f"learning rate, e.g. lr={opt.param_groups[0]['lr'] / 10:g}."
            )
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_loss": train_loss}
        if regularization is not None:
            row["train_penalty"] = train_penalty
        if valid is not None:
            scores = evaluate(model, valid)
            row.update(valid_mse=scores["mse"], valid_rmse=scores["rmse"])
        for name, data in (also_evaluate or {}).items():
            scores = evaluate(model, data)
            row.update({f"{name}_mse": scores["mse"], f"{name}_rmse": scores["rmse"]})
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        bar.update()
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.endswith("rmse")})

        if patience is not None:
            if row["valid_mse"] < best_mse:
                best_mse, stale_epochs = row["valid_mse"], 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale_epochs += 1
                if stale_epochs >= patience:
                    break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return pd.DataFrame(history).set_index("epoch")


def fold_in(
    model: nn.Module,
    new_ratings: RatingTensors,
    n_new_users: int,
    *,
    l2: float = 5.0,
    n_steps: int = 100,
    lr: float = 0.1,
) -> nn.Module:
    """A copy of `model` for new users, fitted to their few ratings with the items frozen.

    Taught in notebook 05 (cold start). `new_ratings.user_idx` numbers the new users 0..n_new-1;
    the copy's user table (and user bias, if the model has biases) holds just them, starting at
    zero, that is at the average user. Full-batch Adam minimises the sum of squared errors plus
    l2 * (|p_u|^2 + b_u^2) per user, so l2 acts like that many ratings of prior: a user with one
    rating stays close to the average user, one with many is described by their own ratings.
    """
    if not hasattr(model, "user_emb"):
        raise TypeError("fold_in needs a matrix-factorization model with a `user_emb` table")
    if len(new_ratings) == 0:
        raise ValueError("no ratings to fold in")
    if int(new_ratings.user_idx.min()) < 0 or int(new_ratings.user_idx.max()) >= n_new_users:
        raise ValueError(f"new_ratings.user_idx must number the new users 0..{n_new_users - 1}")
    folded = copy.deepcopy(model)
    folded.requires_grad_(False)
    device = model.user_emb.weight.device
    folded.user_emb = nn.Embedding(n_new_users, model.user_emb.embedding_dim, device=device)
    user_tables = [folded.user_emb]
    if getattr(model, "biases", False):
        folded.user_bias = nn.Embedding(n_new_users, 1, device=device)
        user_tables.append(folded.user_bias)
    for table in user_tables:
        nn.init.zeros_(table.weight)
    opt = torch.optim.Adam([table.weight for table in user_tables], lr=lr)
    folded.train()
    for _ in range(n_steps):
        errors = folded(new_ratings.user_idx, new_ratings.item_idx) - new_ratings.ratings  # (N,)
        penalty = sum(table.weight.pow(2).sum() for table in user_tables)
        loss = (errors.pow(2).sum() + l2 * penalty) / len(new_ratings)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    folded.requires_grad_(False)
    return folded.eval()
