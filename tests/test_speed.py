"""utils.speed: the per-phase profile adds up, and the hand-written SGD path learns as well as
`fit`, is reproducible and refuses the models it cannot train."""

from __future__ import annotations

import pytest
import torch
from low_rank import low_rank_ratings

from utils.encode import RatingTensors
from utils.models import BiasedMF, HybridMF
from utils.speed import (
    PHASES,
    can_compile_on_cpu,
    fit_sgd,
    profile_epoch,
    sgd_step,
    time_row_updates,
)
from utils.train import evaluate, fit

N_USERS, N_ITEMS = 80, 50


def _model(train: RatingTensors) -> BiasedMF:
    torch.manual_seed(0)
    return BiasedMF(N_USERS, N_ITEMS, 8, offset=float(train.ratings.mean()))


@pytest.fixture
def train() -> RatingTensors:
    return low_rank_ratings(N_USERS, N_ITEMS, 4_000, seed=1, offsets=True)


@pytest.fixture
def valid() -> RatingTensors:
    return low_rank_ratings(N_USERS, N_ITEMS, 500, seed=2, offsets=True)


def test_fit_sgd_lowers_the_loss_and_matches_fit(train: RatingTensors,
                                                 valid: RatingTensors) -> None:
    untrained = evaluate(_model(train), valid)["rmse"]
    history = fit_sgd(_model_sgd := _model(train), train, valid, n_epochs=40, lr=0.02, wd=0.001,
                      batch_size=256)
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    default = _model(train)
    fit(default, train, valid, n_epochs=40, lr=1e-2, batch_size=256)
    sgd_rmse, default_rmse = evaluate(_model_sgd, valid)["rmse"], evaluate(default, valid)["rmse"]
    assert sgd_rmse < 0.5 * untrained
    # Both reach the same accuracy on this problem (measured: within 0.02 of each other).
    assert abs(sgd_rmse - default_rmse) < 0.05, (sgd_rmse, default_rmse)
    assert list(history.columns) == ["lr", "train_loss", "valid_mse", "valid_rmse", "seconds"]


def test_fit_sgd_is_reproducible(train: RatingTensors) -> None:
    first, second = _model(train), _model(train)
    one = fit_sgd(first, train, n_epochs=3, batch_size=512, seed=7)
    two = fit_sgd(second, train, n_epochs=3, batch_size=512, seed=7)
    assert one["train_loss"].tolist() == two["train_loss"].tolist()
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    other = _model(train)
    fit_sgd(other, train, n_epochs=3, batch_size=512, seed=8)
    assert not torch.equal(other.user_emb.weight, first.user_emb.weight)


def test_sgd_step_is_funks_update_for_one_rating() -> None:
    users, items = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.5, -1.0]])
    user_bias, item_bias = torch.tensor([0.2, 0.0]), torch.tensor([-0.1])
    offset = torch.tensor(3.0)
    batch = RatingTensors(torch.tensor([0]), torch.tensor([0]), torch.tensor([4.0]))
    lr, wd = 0.1, 0.5
    # prediction 3 + 0.2 - 0.1 + (0.5 - 2) = 1.6, error 2.4
    squared = sgd_step(users, items, user_bias, item_bias, offset, batch, lr, wd)
    assert squared.item() == pytest.approx(2.4**2)
    assert users[0].tolist() == pytest.approx([1 + 0.1 * (2.4 * 0.5 - 0.5 * 1),
                                               2 + 0.1 * (2.4 * -1 - 0.5 * 2)])
    assert items[0].tolist() == pytest.approx([0.5 + 0.1 * (2.4 * 1 - 0.5 * 0.5),
                                               -1 + 0.1 * (2.4 * 2 - 0.5 * -1)])
    assert user_bias.tolist() == pytest.approx([0.2 + 0.1 * (2.4 - 0.5 * 0.2), 0.0])
    assert item_bias.tolist() == pytest.approx([-0.1 + 0.1 * (2.4 - 0.5 * -0.1)])
    assert users[1].tolist() == [0.0, 0.0]  # a user outside the batch is not touched


def test_compiling_is_off_without_a_cpp_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CXX", raising=False)
    assert not can_compile_on_cpu()


@pytest.mark.skipif(not can_compile_on_cpu(), reason="torch.compile needs a C++ compiler")
def test_fit_sgd_with_a_compiled_step_learns_the_same_weights(train: RatingTensors) -> None:
    eager, compiled = _model(train), _model(train)
    fit_sgd(eager, train, n_epochs=2, batch_size=512, seed=3)
    fit_sgd(compiled, train, n_epochs=2, batch_size=512, seed=3,
            step=torch.compile(sgd_step, dynamic=False))
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # fused sums round differently


def test_fit_sgd_touches_only_the_rows_of_its_batches(train: RatingTensors) -> None:
    model = _model(train)
    before = model.user_emb.weight.detach().clone()
    seen = train.subset(torch.nonzero(train.user_idx < 10).squeeze(1))
    fit_sgd(model, seen, n_epochs=1, batch_size=64)
    assert not torch.equal(model.user_emb.weight[:10], before[:10])
    assert torch.equal(model.user_emb.weight[10:], before[10:])


def test_fit_sgd_refuses_models_and_settings_it_cannot_train(train: RatingTensors) -> None:
    squashed = BiasedMF(N_USERS, N_ITEMS, 4, y_range=(0.0, 5.5))
    with pytest.raises(ValueError, match="sigmoid range"):
        fit_sgd(squashed, train, n_epochs=1)
    hybrid = HybridMF(N_USERS, N_ITEMS, 4, torch.ones(N_ITEMS, 2))
    with pytest.raises(ValueError, match="utils.train.fit"):
        fit_sgd(hybrid, train, n_epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        fit_sgd(_model(train), train, n_epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        fit_sgd(_model(train), train, n_epochs=1, lr=-1.0)
    with pytest.raises(FloatingPointError, match="smaller learning rate"):
        fit_sgd(_model(train), train, n_epochs=5, lr=50.0)


def test_profile_epoch_covers_the_whole_epoch(train: RatingTensors) -> None:
    profile = profile_epoch(_model(train), train, batch_size=500)
    assert list(profile.index) == [*PHASES, "loop overhead"]
    assert profile["share"].sum() == pytest.approx(1.0)
    assert (profile.loc[list(PHASES), "seconds"] > 0).all()


def test_time_row_updates_times_three_ways_of_one_sum() -> None:
    timings = time_row_updates(n_rows=50, batch_size=256, n_factors=4, repeats=2)
    assert list(timings.index) == ["index_add_", "index_put_ (accumulate)", "scatter_add_"]
    assert (timings > 0).all()
