"""utils.train: the loop learns, is reproducible, steps the learning rate, stops early with the
best weights, adds a model's regularization and fails clearly on a diverging loss."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
from low_rank import low_rank_ratings

from utils.encode import RatingTensors
from utils.models import BiasedMF, DotProductMF
from utils.train import (
    blend_scan,
    evaluate,
    fit,
    fold_in,
    make_optimizer,
    minibatches,
    predict,
    train_epoch,
)

N_USERS, N_ITEMS = 60, 40


@pytest.fixture
def train() -> RatingTensors:
    return low_rank_ratings(N_USERS, N_ITEMS, 2_000, seed=1)


@pytest.fixture
def valid() -> RatingTensors:
    return low_rank_ratings(N_USERS, N_ITEMS, 300, seed=2)


def _model(seed: int = 0) -> BiasedMF:
    torch.manual_seed(seed)
    return BiasedMF(N_USERS, N_ITEMS, 4, offset=3.0)


def test_full_batch_and_minibatch_both_learn(train, valid) -> None:
    start = evaluate(_model(), valid)["rmse"]
    for batch_size in (None, 256):
        model = _model()
        history = fit(model, train, valid, n_epochs=60, lr=0.05, batch_size=batch_size)
        assert list(history.columns) == ["lr", "train_loss", "valid_mse", "valid_rmse", "seconds"]
        assert history.index.tolist() == list(range(1, 61))
        assert history["valid_rmse"].iloc[-1] < 0.5 * start
        assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]


def test_same_seed_same_history(train, valid) -> None:
    """The batch order comes from `seed` alone: not from the global RNG, and it is shuffled."""
    start = _model()

    def run(seed: int, global_seed: int) -> pd.DataFrame:
        torch.manual_seed(global_seed)  # a fit that draws from the global RNG differs
        history = fit(copy.deepcopy(start), train, valid, n_epochs=3, lr=0.05, batch_size=128,
                      seed=seed)
        return history.drop(columns="seconds")

    pd.testing.assert_frame_equal(run(seed=3, global_seed=1), run(seed=3, global_seed=2))
    # Another seed shuffles differently: fails if fit ignores seed or never shuffles.
    assert not run(seed=3, global_seed=1).equals(run(seed=4, global_seed=1))


def test_fit_is_train_epoch_then_evaluate(train, valid) -> None:
    """Notebook 03 relies on this: its loop of train_epoch + evaluate gives fit's history."""
    history = fit(_model(), train, valid, n_epochs=3, lr=0.05, optimizer="sgd", batch_size=128,
                  seed=5)
    model = _model()
    opt = make_optimizer(model, "sgd", lr=0.05, wd=0.0)
    generator = torch.Generator().manual_seed(5)
    for epoch in (1, 2, 3):
        loss, penalty = train_epoch(model, train, opt, 128, generator)
        assert (loss, penalty) == (history.loc[epoch, "train_loss"], 0.0)
        assert evaluate(model, valid)["mse"] == history.loc[epoch, "valid_mse"]


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_every_optimizer_runs(train, valid, optimizer) -> None:
    history = fit(_model(), train, valid, n_epochs=3, lr=0.01, optimizer=optimizer, batch_size=64)
    assert history["valid_rmse"].notna().all()


def test_unknown_optimizer() -> None:
    with pytest.raises(ValueError, match="one of"):
        make_optimizer(_model(), "lbfgs", 0.1, 0.0)


def test_learning_rate_steps(train) -> None:
    history = fit(_model(), train, n_epochs=6, lr=0.1, lr_steps={3: 0.01, 5: 0.001})
    assert history["lr"].tolist() == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def test_early_stopping_restores_the_best_weights(train, valid) -> None:
    model = _model()
    # A large learning rate makes validation error bounce, so the last epoch is not the best.
    history = fit(model, train, valid, n_epochs=40, lr=0.5, batch_size=64, patience=3)
    assert len(history) < 40
    best = history["valid_mse"].min()
    assert history["valid_mse"].iloc[-1] > best
    assert evaluate(model, valid)["mse"] == pytest.approx(best, rel=1e-6)


def test_patience_needs_a_validation_set(train) -> None:
    with pytest.raises(ValueError, match="needs a validation set"):
        fit(_model(), train, n_epochs=2, lr=0.1, patience=1)


def test_model_regularization_is_added_and_reported(train) -> None:
    class Penalised(DotProductMF):
        def regularization(self, user_idx, item_idx):
            return 10.0 * (self.user_emb.weight ** 2).mean()

    torch.manual_seed(0)
    model = Penalised(N_USERS, N_ITEMS, 4)
    history = fit(model, train, n_epochs=3, lr=0.05)
    assert "train_penalty" in history.columns
    assert (history["train_penalty"] > 0).all()


def test_diverging_loss_suggests_a_smaller_learning_rate(train) -> None:
    torch.manual_seed(0)
    model = DotProductMF(N_USERS, N_ITEMS, 4, init="normal")
    with pytest.raises(FloatingPointError, match="try a smaller learning rate, e.g. lr=1e\\+29"):
        fit(model, train, n_epochs=5, lr=1e30, optimizer="sgd")


def test_extra_evaluation_sets_become_columns(train, valid) -> None:
    history = fit(_model(), train, valid, n_epochs=2, lr=0.05, also_evaluate={"test": valid})
    assert history["test_mse"].equals(history["valid_mse"])


def test_predict_restores_training_mode_and_keeps_no_graph(valid) -> None:
    model = _model()
    model.train()
    predictions = predict(model, valid.user_idx, valid.item_idx, batch_size=7)
    assert model.training
    assert predictions.shape == (len(valid),) and not predictions.requires_grad
    model.eval()
    predict(model, valid.user_idx, valid.item_idx)
    assert not model.training


def test_empty_training_set() -> None:
    empty = RatingTensors(torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64),
                          torch.empty(0))
    with pytest.raises(ValueError, match="empty"):
        fit(_model(), empty, n_epochs=1, lr=0.1)


def test_bias_weight_decay_is_a_separate_group() -> None:
    optimizer = make_optimizer(_model(), "adamw", lr=0.1, wd=0.01, bias_wd=0.0)
    decays = sorted(group["weight_decay"] for group in optimizer.param_groups)
    sizes = {g["weight_decay"]: sum(p.numel() for p in g["params"])
             for g in optimizer.param_groups}
    assert decays == [0.0, 0.01]
    assert sizes[0.0] == N_USERS + N_ITEMS  # the user and item bias tables


def test_blend_scan_scores_each_weight_and_its_ends_are_the_models(train, valid) -> None:
    first, second = _model(0), _model(1)
    fit(first, train, n_epochs=20, lr=0.05, seed=0)
    scan = blend_scan(first, second, valid)
    assert list(scan.index) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert scan[1.0] == pytest.approx(evaluate(first, valid)["rmse"])
    assert scan[0.0] == pytest.approx(evaluate(second, valid)["rmse"])
    assert scan.idxmin() > 0.5  # the trained model deserves most of the weight


def test_sample_weights_scale_each_rating_in_the_loss(train) -> None:
    """Weight 2 on every rating doubles the loss; weight 0 on some ratings ignores them."""
    plain = fit(_model(0), train, n_epochs=1, lr=0.0, seed=0)
    doubled = fit(_model(0), train, n_epochs=1, lr=0.0, seed=0,
                  sample_weights=torch.full((len(train),), 2.0))
    assert doubled["train_loss"].iloc[0] == pytest.approx(2 * plain["train_loss"].iloc[0])

    # The same pairs twice, the copy rated 2 stars higher: the weights decide which one to fit.
    both = RatingTensors(train.user_idx.repeat(2), train.item_idx.repeat(2),
                         torch.cat([train.ratings, train.ratings + 2]))
    original = (torch.arange(len(both)) < len(train)).float()
    for weights, target in ((original, train.ratings), (1 - original, train.ratings + 2)):
        model = _model(0)
        fit(model, both, n_epochs=20, lr=0.05, seed=0, sample_weights=weights)
        predictions = predict(model, train.user_idx, train.item_idx)
        assert (predictions - target).abs().mean() < 0.3


def test_sample_weights_must_match_the_training_set(train) -> None:
    with pytest.raises(ValueError, match="one sample weight per training rating"):
        fit(_model(), train, n_epochs=1, lr=0.1, sample_weights=torch.ones(3))
    with pytest.raises(ValueError, match="custom loss_fn"):
        fit(_model(), train, n_epochs=1, lr=0.1, sample_weights=torch.ones(len(train)),
            loss_fn=torch.nn.functional.l1_loss)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": -8}, r"batch_size must be a whole number of at least 1.*not -8"),
        ({"batch_size": 0}, r"batch_size must be a whole number of at least 1"),
        ({"n_epochs": 0}, r"n_epochs must be a whole number of at least 1, not 0"),
        ({"n_epochs": -2}, r"n_epochs must be a whole number of at least 1, not -2"),
        ({"lr": math.inf}, r"lr must be a finite number of at least 0, not inf"),
        ({"lr": math.nan}, r"lr must be a finite number of at least 0, not nan"),
        ({"lr": -0.1}, r"lr must be a finite number of at least 0, not -0.1"),
        ({"lr_steps": {3: -0.05}}, r"lr_steps\[3\] must be a finite number of at least 0"),
        ({"lr_steps": {0: 0.01}}, r"lr_steps maps epoch numbers .* 0 is not an epoch number"),
        ({"sample_weights": torch.full((2_000,), math.nan)}, r"sample weights must be finite"),
    ],
)
def test_arguments_that_cannot_train_are_refused(train, valid, arguments, message) -> None:
    settings = {"n_epochs": 2, "lr": 0.05, **arguments}
    with pytest.raises(ValueError, match=message):
        fit(_model(), train, valid, **settings)


def test_minibatches_cover_every_rating_once_in_a_seeded_order(train) -> None:
    """The batches slice one seeded permutation: every row once, all but the last full size."""
    batches = list(minibatches(train, 96, torch.Generator().manual_seed(3)))
    rows = torch.cat([r for r, _ in batches])
    expected = torch.randperm(len(train), generator=torch.Generator().manual_seed(3))
    assert torch.equal(rows, expected)
    assert [len(r) for r, _ in batches[:-1]] == [96] * (len(batches) - 1)
    assert 0 < len(batches[-1][0]) <= 96
    for r, batch in batches:
        assert torch.equal(batch.ratings, train.ratings[r])
        assert torch.equal(batch.user_idx, train.user_idx[r])
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        next(minibatches(train, 0, torch.Generator()))


def test_train_epoch_refuses_a_batch_size_below_one(train) -> None:
    model = _model()
    opt = make_optimizer(model, "adam", 0.05, 0.0)
    with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
        train_epoch(model, train, opt, 0, torch.Generator().manual_seed(0))


def test_empty_validation_set_is_refused(train) -> None:
    empty = train.subset(torch.empty(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="the validation set is empty.*or valid=None"):
        fit(_model(), train, empty, n_epochs=3, lr=0.05, patience=2)
    with pytest.raises(ValueError, match=r"the also_evaluate\['test'\] set is empty"):
        fit(_model(), train, n_epochs=3, lr=0.05, also_evaluate={"test": empty})


def test_a_nan_rating_is_blamed_on_the_data_not_the_learning_rate(train) -> None:
    ratings = train.ratings.clone()
    ratings[17] = math.nan
    broken = RatingTensors(train.user_idx, train.item_idx, ratings)
    with pytest.raises(ValueError, match=r"training ratings hold nan at row 17 .*the data is "
                                         r"broken, not the learning rate"):
        fit(_model(), broken, n_epochs=2, lr=0.05)


def test_a_diverged_model_must_be_recreated(train) -> None:
    torch.manual_seed(0)
    model = DotProductMF(N_USERS, N_ITEMS, 4, init="normal")
    with pytest.raises(FloatingPointError):
        fit(model, train, n_epochs=5, lr=1e30, optimizer="sgd")
    with pytest.raises(ValueError, match="already NaN or infinite.*Re-create the model"):
        fit(model, train, n_epochs=5, lr=0.01)


@pytest.mark.parametrize(
    ("user_idx", "item_idx", "message"),
    [
        ([0, -1], [0, 1], r"user_idx holds -1, but the model has 60 users \(indices 0..59\): -1 "
                          r"marks an id that training never saw"),
        ([0, 1], [0, 40], r"item_idx holds 40, but the model has 40 items \(indices 0..39\): "
                          r"encode ids with the IdEncoder"),
    ],
)
def test_predict_names_an_index_outside_the_model(user_idx, item_idx, message) -> None:
    with pytest.raises(IndexError, match=message):
        predict(_model(), torch.tensor(user_idx), torch.tensor(item_idx))


def test_numpy_numbers_from_a_table_row_are_accepted(train) -> None:
    """Notebooks pass settings read from a DataFrame row, which are numpy scalars."""
    history = fit(_model(), train, n_epochs=np.int64(2), lr=np.float32(0.05),
                  batch_size=np.int64(512), lr_steps={np.int64(2): np.float64(0.01)})
    assert history["lr"].tolist() == pytest.approx([0.05, 0.01])


def _trained_biased_mf(train: RatingTensors) -> BiasedMF:
    model = _model()
    fit(model, train, n_epochs=60, lr=0.05, batch_size=256)
    return model


def test_fold_in_recovers_held_out_users_and_freezes_the_items(train) -> None:
    model = _trained_biased_mf(train)
    item_weights = model.item_emb.weight.detach().clone()
    # Ten known users' ratings, renumbered 0..9 as if they were new.
    rows = torch.nonzero(train.user_idx < 10).squeeze(1)
    new = RatingTensors(train.user_idx[rows], train.item_idx[rows], train.ratings[rows])
    folded = fold_in(model, new, n_new_users=10, l2=1.0, n_steps=200)
    assert folded.user_emb.weight.shape == (10, 4)
    assert torch.equal(folded.item_emb.weight, item_weights)
    assert torch.equal(model.item_emb.weight, item_weights)  # the original is untouched
    average_user = fold_in(model, new, n_new_users=10, n_steps=0)
    assert evaluate(folded, new)["rmse"] < 0.5 * evaluate(average_user, new)["rmse"]


def test_fold_in_with_zero_steps_is_the_average_user(train) -> None:
    model = _trained_biased_mf(train)
    new = RatingTensors(torch.tensor([0, 1]), torch.tensor([3, 5]), torch.tensor([4.0, 2.0]))
    folded = fold_in(model, new, n_new_users=2, n_steps=0)
    expected = model.offset + model.item_bias.weight[[3, 5], 0]
    assert torch.allclose(predict(folded, new.user_idx, new.item_idx), expected)


def test_fold_in_shrinks_users_with_few_ratings_more(train) -> None:
    model = _trained_biased_mf(train)
    # User 0 rates item 3 once, user 1 rates it ten times, both 5 stars.
    new = RatingTensors(torch.tensor([0] + [1] * 10), torch.full((11,), 3),
                        torch.full((11,), 5.0))
    folded = fold_in(model, new, n_new_users=2, l2=5.0, n_steps=300)
    one, ten = predict(folded, torch.tensor([0, 1]), torch.tensor([3, 3])).tolist()
    assert one < ten <= 5.05


def test_fold_in_refuses_bad_input(train) -> None:
    model = _trained_biased_mf(train)
    new = RatingTensors(torch.tensor([0, 2]), torch.tensor([3, 5]), torch.tensor([4.0, 2.0]))
    with pytest.raises(ValueError, match="0..1"):
        fold_in(model, new, n_new_users=2)
    with pytest.raises(ValueError, match="no ratings"):
        fold_in(model, RatingTensors(*(torch.empty(0),) * 3), n_new_users=2)
    with pytest.raises(TypeError, match="user_emb"):
        fold_in(torch.nn.Linear(2, 1), new, n_new_users=3)
