"""Where a training step spends its time, and a fast opt-in loop for MF+bias (notebook 07).

`profile_epoch` times the phases of one epoch of `utils.train.train_epoch`'s loop (sampling,
forward, backward, optimiser) so that a lesson can show where the seconds go. `fit_sgd` trains a
`BiasedMF` (no sigmoid range) with plain SGD written out by hand: no autograd, no optimiser state,
and only the rows a batch touches are read and written, the way compiled libraries such as
cornac and scikit-surprise train. `utils.train.fit` stays the default everywhere; `fit_sgd` is
the fast path a student can opt into.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable

import pandas as pd
import torch
import torch.nn.functional as F

from utils.encode import RatingTensors
from utils.models import BiasedMF
from utils.train import _check_batch_size, _is_whole, evaluate, make_optimizer, minibatches

PHASES = ("sample batch", "forward + loss", "backward", "optimiser step")


def profile_epoch(
    model: torch.nn.Module, train: RatingTensors, batch_size: int, lr: float = 1e-3, seed: int = 0
) -> pd.DataFrame:
    """Seconds and share of one epoch of `fit`'s loop (Adam, MSE) spent in each phase.

    The phases are timed with a wall clock around each; what no phase covers (the Python of the
    loop itself) is reported as "loop overhead". On a GPU the timings would need synchronising,
    so this runs on the CPU tensors it is given.
    """
    if train.ratings.device.type != "cpu":
        raise ValueError("profile_epoch times CPU work; pass CPU tensors (data.to('cpu'))")
    opt = make_optimizer(model, "adam", lr, 0.0)
    generator = torch.Generator().manual_seed(seed)
    seconds = dict.fromkeys(PHASES, 0.0)
    started = time.perf_counter()
    clock = started

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] += now - clock
        clock = now

    for _, batch in minibatches(train, batch_size, generator):  # the shuffle, then each gather
        lap("sample batch")
        loss = F.mse_loss(model(batch.user_idx, batch.item_idx), batch.ratings)
        lap("forward + loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        lap("backward")
        opt.step()
        lap("optimiser step")
    total = time.perf_counter() - started
    seconds["loop overhead"] = total - sum(seconds.values())
    frame = pd.DataFrame({"seconds": seconds}).rename_axis("phase")
    frame["share"] = frame["seconds"] / total
    return frame


def can_compile_on_cpu() -> bool:
    """Whether `torch.compile` can build CPU kernels here: it needs a C++ compiler on the PATH."""
    return any(shutil.which(name) for name in (os.environ.get("CXX", ""), "g++", "clang++", "c++")
               if name)


def _check_sgd_model(model: torch.nn.Module) -> None:
    if type(model) is not BiasedMF or model.y_range is not None:
        raise ValueError("fit_sgd trains a BiasedMF without a sigmoid range (y_range=None); "
                         "train other models with utils.train.fit")


def sgd_step(
    users: torch.Tensor, items: torch.Tensor, user_bias: torch.Tensor | None,
    item_bias: torch.Tensor | None, offset: torch.Tensor, batch: RatingTensors, lr: float,
    wd: float,
) -> torch.Tensor:
    """Apply one batch's SGD steps to the tables in place; returns the batch's squared-error sum.

    Each rating's step is the one scikit-surprise's and cornac's SGD take (err * q_i - wd * p_u
    for the user vector, and so on); `index_add_` applies the steps of all the batch's ratings
    at once, so only the rows the batch touches are written. It is a function of tensors only,
    so `torch.compile(sgd_step)` can fuse it (the bench's throughput section measures that).
    """
    decay = lr * wd
    user_vecs = users.index_select(0, batch.user_idx)  # (B, K)
    item_vecs = items.index_select(0, batch.item_idx)  # (B, K)
    predictions = (user_vecs * item_vecs).sum(1) + offset  # (B,)
    if user_bias is not None and item_bias is not None:
        user_biases = user_bias.index_select(0, batch.user_idx)  # (B,)
        item_biases = item_bias.index_select(0, batch.item_idx)  # (B,)
        predictions += user_biases + item_biases
    errors = batch.ratings - predictions  # (B,)
    step = lr * errors  # (B,)
    users.index_add_(0, batch.user_idx, torch.addcmul(-decay * user_vecs, step[:, None],
                                                      item_vecs))
    items.index_add_(0, batch.item_idx, torch.addcmul(-decay * item_vecs, step[:, None],
                                                      user_vecs))
    if user_bias is not None and item_bias is not None:
        user_bias.index_add_(0, batch.user_idx, step - decay * user_biases)
        item_bias.index_add_(0, batch.item_idx, step - decay * item_biases)
    return errors.square().sum()


@torch.no_grad()
def sgd_epoch(
    model: BiasedMF, train: RatingTensors, lr: float, wd: float, batch_size: int,
    generator: torch.Generator, step: Callable[..., torch.Tensor] = sgd_step,
) -> float:
    """One epoch of hand-written SGD on MF+bias (`step` per batch); the mean squared error seen."""
    # Detached views share the parameters' storage: the steps write into the model's tables.
    users, items = model.user_emb.weight.detach(), model.item_emb.weight.detach()
    user_bias = model.user_bias.weight.detach().squeeze(1) if model.biases else None
    item_bias = model.item_bias.weight.detach().squeeze(1) if model.biases else None
    squared_sum = 0.0
    for _, batch in minibatches(train, batch_size, generator):
        squared_sum += float(step(users, items, user_bias, item_bias, model.offset, batch, lr, wd))
    return squared_sum / len(train)


def fit_sgd(
    model: BiasedMF,
    train: RatingTensors,
    valid: RatingTensors | None = None,
    *,
    n_epochs: int,
    lr: float = 0.01,
    wd: float = 0.02,
    batch_size: int = 8192,
    seed: int = 0,
    step: Callable[..., torch.Tensor] = sgd_step,
) -> pd.DataFrame:
    """Train MF+bias with hand-written SGD; one history row per epoch, like `utils.train.fit`.

    lr and wd are per rating (cornac's and surprise's defaults are of this size), so they do
    not depend on the batch size. The ratings of a batch take their steps from the same weights;
    with a batch far smaller than the number of users and items that is close to one rating at
    a time, and it lets each step run as a few vectorised operations. `step` applies one
    batch (`sgd_step`, or a compiled copy of it).
    """
    _check_sgd_model(model)
    if not _is_whole(n_epochs) or n_epochs < 1:
        raise ValueError(f"n_epochs must be a whole number of at least 1, not {n_epochs!r}")
    _check_batch_size(batch_size)
    if not (math.isfinite(lr) and lr > 0 and math.isfinite(wd) and wd >= 0):
        raise ValueError(f"lr must be > 0 and wd >= 0, both finite; got lr={lr!r}, wd={wd!r}")
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, n_epochs + 1):
        started = time.perf_counter()
        train_loss = sgd_epoch(model, train, lr, wd, batch_size, generator, step)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"the training loss became {train_loss} in epoch {epoch}: "
                                     f"try a smaller learning rate, e.g. lr={lr / 10:g}")
        row = {"epoch": epoch, "lr": lr, "train_loss": train_loss}
        if valid is not None:
            scores = evaluate(model, valid)
            row.update(valid_mse=scores["mse"], valid_rmse=scores["rmse"])
        row["seconds"] = time.perf_counter() - started
        history.append(row)
    return pd.DataFrame(history).set_index("epoch")


def time_row_updates(
    n_rows: int = 6040, batch_size: int = 16384, n_factors: int = 32, repeats: int = 20
) -> pd.Series:
    """Milliseconds per call of three ways to add a batch of steps into table rows (best of 3).

    `index_add_`, `index_put_` with accumulate=True, and `scatter_add_` with the row index
    spread over the columns all give the same sums; which is fastest depends on the machine,
    the batch size and the PyTorch version, so a fast loop should pick by timing, not by guess.
    """
    generator = torch.Generator().manual_seed(0)
    table = torch.zeros(n_rows, n_factors)
    rows = torch.randint(n_rows, (batch_size,), generator=generator)  # (B,)
    steps = torch.randn(batch_size, n_factors, generator=generator)  # (B, K)
    spread = rows.unsqueeze(1).expand_as(steps)  # (B, K)
    ways = {
        "index_add_": lambda: table.index_add_(0, rows, steps),
        "index_put_ (accumulate)": lambda: table.index_put_((rows,), steps, accumulate=True),
        "scatter_add_": lambda: table.scatter_add_(0, spread, steps),
    }
    timings = {}
    for name, update in ways.items():
        best = math.inf
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(repeats):
                update()
            best = min(best, (time.perf_counter() - started) / repeats)
        timings[name] = 1e3 * best
    return pd.Series(timings, name="ms per call")
