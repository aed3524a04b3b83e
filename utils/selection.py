"""Choosing settings honestly: tune on a slice of the training ratings, then retrain on all.

Taught in notebook 04; used by notebooks 06, 07 and 08 and bench/contenders.py.
For each setting of a grid, `tune_on_slice` seeds, builds a fresh model and trains it on the
fit part with the slice as validation set (stopping early, given a patience); it records the
setting's best slice RMSE and the epoch that reached it. `retrain` then seeds again, builds
the chosen setting and trains it on all training ratings for that number of epochs. The
reported validation or test ratings are never looked at.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from utils.encode import RatingTensors
from utils.train import fit

Settings = dict[str, Any]
# build(**settings) returns a fresh model, or (model, fit settings) when a setting also changes
# how the model is trained (a weight decay, a learning rate).
Build = Callable[..., nn.Module | tuple[nn.Module, Mapping[str, Any]]]
Grid = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
FitFn = Callable[..., pd.DataFrame]  # fit's signature: (model, train, valid, *, n_epochs, ...)


@dataclass
class SliceSearch:
    """What `tune_on_slice` found: one trial per setting, with its model and history."""

    settings: list[Settings]  # the grid's settings, in the order they were tried
    trials: pd.DataFrame  # one row per setting: its settings, slice_rmse and n_epochs
    models: list[nn.Module]  # each trial's model as fit left it (best weights if patience)
    histories: list[pd.DataFrame]  # each trial's history from fit

    @property
    def best(self) -> int:
        """Position of the trial with the lowest slice RMSE (the first one on a tie)."""
        return int(self.trials["slice_rmse"].to_numpy().argmin())

    def chosen(self, trial: int | None = None) -> tuple[Settings, int]:
        """(settings, n_epochs) of a trial, by default the best one: what `retrain` needs."""
        trial = self.best if trial is None else trial
        return self.settings[trial], int(self.trials["n_epochs"].iloc[trial])


def grid_settings(grid: Grid) -> list[Settings]:
    """The settings of a grid: a list of dicts, or a dict of lists (every combination)."""
    if isinstance(grid, Mapping):
        for name, values in grid.items():
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise ValueError(f"a grid given as a dict maps each setting to a list of values "
                                 f"to try; {name!r} maps to {values!r}: write [{values!r}]")
        grid = [dict(zip(grid, values, strict=True))
                for values in itertools.product(*grid.values())]
    if isinstance(grid, str | bytes) or not isinstance(grid, Sequence):
        raise TypeError(f"grid must be a list of dicts of settings, e.g. [{{'wd': 1e-4}}, "
                        f"{{'wd': 1e-3}}], or a dict of lists, not {type(grid).__name__}")
    settings = list(grid)
    if not settings:
        raise ValueError("the grid is empty: give at least one setting to try")
    for entry in settings:
        if not isinstance(entry, Mapping):
            raise TypeError(f"each setting of the grid is a dict such as {{'wd': 1e-4}}, "
                            f"not {entry!r}")
    return [dict(entry) for entry in settings]


def train_setting(
    build: Build,
    settings: Mapping[str, Any],
    train: RatingTensors,
    valid: RatingTensors | None = None,
    *,
    n_epochs: int,
    seed: int,
    fit_fn: FitFn = fit,
    **fit_settings: Any,
) -> tuple[nn.Module, pd.DataFrame]:
    """Seed, build one setting and train it (on `train`, watching `valid` if given)."""
    torch.manual_seed(seed)
    built = build(**settings)
    model, own = built if isinstance(built, tuple) else (built, {})
    twice = sorted(set(own) & set(fit_settings))
    if twice:
        raise ValueError(f"{twice} come both from build and from the fit settings: "
                         f"set each in one place")
    history = fit_fn(model, train, valid, n_epochs=n_epochs, seed=seed, **fit_settings, **own)
    return model, history


def tune_on_slice(
    build: Build,
    grid: Grid,
    fit_part: RatingTensors,
    slice_part: RatingTensors,
    *,
    max_epochs: int,
    patience: int | None,
    seed: int,
    choose_epochs: bool = True,
    fit_fn: FitFn = fit,
    **fit_settings: Any,
) -> SliceSearch:
    """Train every setting on fit_part, watch slice_part; record each best slice RMSE, epoch.

    choose_epochs=False is for a fixed schedule: every setting trains all max_epochs and is
    scored as it ends (slice_rmse of the last epoch, n_epochs = max_epochs).
    """
    settings = grid_settings(grid)
    if patience is not None:  # fit_fn without early stopping (fit_sgd) need not accept it
        if not choose_epochs:
            raise ValueError("patience stops early, which chooses the number of epochs: "
                             "give patience=None with choose_epochs=False")
        fit_settings = {**fit_settings, "patience": patience}
    rows, models, histories = [], [], []
    for setting in settings:
        model, history = train_setting(build, setting, fit_part, slice_part, n_epochs=max_epochs,
                                       seed=seed, fit_fn=fit_fn, **fit_settings)
        slice_rmse = history["valid_rmse"]
        epoch = int(slice_rmse.idxmin()) if choose_epochs else int(slice_rmse.index[-1])
        rows.append({**setting, "slice_rmse": float(slice_rmse[epoch]), "n_epochs": epoch})
        models.append(model)
        histories.append(history)
    return SliceSearch(settings, pd.DataFrame(rows), models, histories)


def retrain(
    build: Build,
    settings: Mapping[str, Any],
    train: RatingTensors,
    n_epochs: int,
    *,
    seed: int,
    fit_fn: FitFn = fit,
    **fit_settings: Any,
) -> tuple[nn.Module, pd.DataFrame]:
    """Seed, build the chosen settings and train on all training ratings for n_epochs."""
    return train_setting(build, settings, train, n_epochs=n_epochs, seed=seed, fit_fn=fit_fn,
                         **fit_settings)
