"""utils.selection: the slice search picks the lowest slice RMSE, records the right epoch,
retrains exactly like seed + build + fit by hand, and rejects bad grids clearly."""

from __future__ import annotations

import pytest
import torch
from low_rank import low_rank_ratings

from utils.encode import RatingTensors
from utils.models import BiasedMF
from utils.selection import grid_settings, retrain, tune_on_slice
from utils.speed import fit_sgd
from utils.train import evaluate, fit

N_USERS, N_ITEMS = 50, 30


@pytest.fixture
def fit_part() -> RatingTensors:
    return low_rank_ratings(N_USERS, N_ITEMS, 600, seed=1, noise=0.5)


@pytest.fixture
def slice_part() -> RatingTensors:
    return low_rank_ratings(N_USERS, N_ITEMS, 200, seed=2, noise=0.5)


def build(n_factors: int) -> BiasedMF:
    return BiasedMF(N_USERS, N_ITEMS, n_factors, offset=2.0)


def build_with_wd(n_factors: int, wd: float) -> tuple[BiasedMF, dict]:
    return build(n_factors), {"wd": wd}


def test_the_best_trial_has_the_lowest_slice_rmse(fit_part, slice_part) -> None:
    search = tune_on_slice(build_with_wd, {"n_factors": [2, 8], "wd": [0.0, 0.3, 3.0]},
                           fit_part, slice_part, max_epochs=15, patience=3, seed=0, lr=0.05,
                           batch_size=64)
    trials = search.trials
    assert list(trials.columns) == ["n_factors", "wd", "slice_rmse", "n_epochs"]
    assert len(trials) == 6 and trials["slice_rmse"].nunique() == 6  # settings do differ
    assert search.best == trials["slice_rmse"].idxmin()
    settings, n_epochs = search.chosen()
    assert settings == {"n_factors": int(trials.loc[search.best, "n_factors"]),
                        "wd": float(trials.loc[search.best, "wd"])}
    assert n_epochs == trials.loc[search.best, "n_epochs"]
    for trial, history in enumerate(search.histories):  # n_epochs is the best slice epoch
        assert history.loc[trials.loc[trial, "n_epochs"], "valid_rmse"] == pytest.approx(
            trials.loc[trial, "slice_rmse"])
        # with patience the model keeps its best weights: its slice RMSE is the recorded one
        assert evaluate(search.models[trial], slice_part)["rmse"] == pytest.approx(
            trials.loc[trial, "slice_rmse"], rel=1e-6)


def test_each_trial_equals_seed_build_fit_by_hand(fit_part, slice_part) -> None:
    search = tune_on_slice(build, [{"n_factors": 4}, {"n_factors": 6}], fit_part, slice_part,
                           max_epochs=12, patience=2, seed=3, lr=0.05, batch_size=64)
    torch.manual_seed(3)
    by_hand = build(6)
    history = fit(by_hand, fit_part, slice_part, n_epochs=12, patience=2, seed=3, lr=0.05,
                  batch_size=64)
    assert search.histories[1]["valid_rmse"].tolist() == history["valid_rmse"].tolist()
    for (name, mine), (_, theirs) in zip(search.models[1].state_dict().items(),
                                         by_hand.state_dict().items(), strict=True):
        assert torch.equal(mine, theirs), name


def test_retrain_equals_seed_build_fit_by_hand(fit_part) -> None:
    model, history = retrain(build_with_wd, {"n_factors": 4, "wd": 0.1}, fit_part, 7, seed=5,
                             lr=0.05, batch_size=64)
    assert len(history) == 7
    torch.manual_seed(5)
    by_hand = build(4)
    fit(by_hand, fit_part, n_epochs=7, seed=5, lr=0.05, wd=0.1, batch_size=64)
    assert model.state_dict().keys() == by_hand.state_dict().keys()
    for name, value in model.state_dict().items():
        assert torch.equal(value, by_hand.state_dict()[name]), name
    other, _ = retrain(build_with_wd, {"n_factors": 4, "wd": 0.1}, fit_part, 7, seed=6,
                       lr=0.05, batch_size=64)
    assert not torch.equal(other.user_emb.weight, model.user_emb.weight)  # the seed matters


def test_without_patience_every_epoch_runs_and_another_fit_fn_works(fit_part,
                                                                    slice_part) -> None:
    search = tune_on_slice(build, [{"n_factors": 4}], fit_part, slice_part, max_epochs=6,
                           patience=None, seed=0, fit_fn=fit_sgd, lr=0.05, wd=0.01,
                           batch_size=64)
    assert len(search.histories[0]) == 6
    assert search.trials.loc[0, "n_epochs"] == search.histories[0]["valid_rmse"].idxmin()


def test_a_grid_given_as_a_dict_is_every_combination_in_order() -> None:
    assert grid_settings({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert grid_settings([{"wd": 1e-4}]) == [{"wd": 1e-4}]


@pytest.mark.parametrize(("grid", "error", "message"), [
    ([], ValueError, "the grid is empty"),
    ({"wd": []}, ValueError, "the grid is empty"),
    ({"wd": 1e-4}, ValueError, r"write \[0.0001\]"),
    ({"name": "MF"}, ValueError, r"write \['MF'\]"),
    ([1e-4, 1e-3], TypeError, "each setting of the grid is a dict"),
    (1e-4, TypeError, "grid must be a list of dicts"),
])
def test_a_bad_grid_gets_a_clear_error(grid, error, message, fit_part, slice_part) -> None:
    with pytest.raises(error, match=message):
        tune_on_slice(build, grid, fit_part, slice_part, max_epochs=2, patience=1, seed=0,
                      lr=0.05)


def test_a_setting_given_twice_is_refused(fit_part, slice_part) -> None:
    with pytest.raises(ValueError, match=r"\['wd'\] come both from build and from the fit"):
        tune_on_slice(build_with_wd, [{"n_factors": 2, "wd": 0.1}], fit_part, slice_part,
                      max_epochs=2, patience=1, seed=0, lr=0.05, wd=0.2)


def test_a_fixed_schedule_is_scored_as_it_ends(fit_part, slice_part) -> None:
    search = tune_on_slice(build, [{"n_factors": 8}], fit_part, slice_part, max_epochs=12,
                           patience=None, choose_epochs=False, seed=0, lr=0.05, batch_size=64)
    history = search.histories[0]
    assert history["valid_rmse"].iloc[-1] > history["valid_rmse"].min()  # it overfits late
    assert search.chosen() == ({"n_factors": 8}, 12)
    assert search.trials.loc[0, "slice_rmse"] == history["valid_rmse"].iloc[-1]
    with pytest.raises(ValueError, match="give patience=None with choose_epochs=False"):
        tune_on_slice(build, [{"n_factors": 8}], fit_part, slice_part, max_epochs=2,
                      patience=1, choose_epochs=False, seed=0, lr=0.05)
