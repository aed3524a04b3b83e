"""Unit tests of utils.gravity and the 3D-backend switch in utils.plots."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.encode import RatingTensors
from utils.gravity import (
    GravityMF,
    augment_with_biases,
    gravity,
    gravity_direct,
    l2_per_row,
)
from utils.plots import interactive_3d_available, plot_groups
from utils.train import fit


def _vectors(n_users: int = 7, n_items: int = 11, n_factors: int = 4):
    generator = torch.Generator().manual_seed(0)
    users = torch.randn(n_users, n_factors, generator=generator, dtype=torch.float64)
    items = torch.randn(n_items, n_factors, generator=generator, dtype=torch.float64)
    return users, items


def test_trace_identity_matches_the_direct_formula() -> None:
    users, items = _vectors()
    direct = ((users @ items.T) ** 2).sum() / (7 * 11)
    via_trace = torch.trace((users.T @ users) @ (items.T @ items)) / (7 * 11)
    torch.testing.assert_close(gravity(users, items), direct)
    torch.testing.assert_close(gravity_direct(users, items), direct)
    torch.testing.assert_close(via_trace, direct)


def test_trace_identity_gradients_match() -> None:
    users, items = _vectors()
    users.requires_grad_(True)
    items.requires_grad_(True)
    grads_fast = torch.autograd.grad(gravity(users, items), (users, items))
    grads_direct = torch.autograd.grad(gravity_direct(users, items), (users, items))
    for fast, direct in zip(grads_fast, grads_direct, strict=True):
        torch.testing.assert_close(fast, direct)


def test_augmented_vectors_give_the_biased_score() -> None:
    users, items = _vectors()
    user_bias = torch.arange(7, dtype=torch.float64) / 10
    item_bias = -torch.arange(11, dtype=torch.float64) / 20
    aug_users, aug_items = augment_with_biases(users, items, user_bias, item_bias)
    scores = users @ items.T + user_bias[:, None] + item_bias[None, :]
    torch.testing.assert_close(aug_users @ aug_items.T, scores)
    torch.testing.assert_close(gravity(aug_users, aug_items), (scores**2).mean())


def test_l2_per_row_is_the_mean_squared_row_norm() -> None:
    users, items = _vectors()
    expected = (users**2).sum(1).mean() + (items**2).sum(1).mean()
    torch.testing.assert_close(l2_per_row(users, items), expected)


@pytest.mark.parametrize("gravity_on", ["prediction", "interaction"])
def test_model_gravity_term_equals_the_mean_over_all_pairs(gravity_on: str) -> None:
    torch.manual_seed(0)
    model = GravityMF(5, 6, 3, gravity_on=gravity_on, offset=0.7)
    torch.nn.init.normal_(model.user_bias.weight)
    torch.nn.init.normal_(model.item_bias.weight)
    users = torch.arange(5).repeat_interleave(6)
    items = torch.arange(6).repeat(5)
    with torch.no_grad():
        every_pair = model(users, items) - 0.7  # the centred score of all 30 pairs
        if gravity_on == "interaction":
            every_pair = (model.user_emb(users) * model.item_emb(items)).sum(1)
        torch.testing.assert_close(model.gravity_term(), (every_pair**2).mean())


def test_forward_matches_biased_mf() -> None:
    torch.manual_seed(0)
    model = GravityMF(4, 5, 3, offset=3.5)
    torch.nn.init.normal_(model.user_bias.weight)
    users, items = torch.tensor([0, 3, 2]), torch.tensor([4, 0, 2])
    expected = (
        (model.user_emb(users) * model.item_emb(items)).sum(1) + 3.5
        + model.user_bias(users)[:, 0] + model.item_bias(items)[:, 0]
    )
    torch.testing.assert_close(model(users, items), expected)


def test_regularization_adds_l2_and_gravity() -> None:
    torch.manual_seed(0)
    model = GravityMF(4, 5, 3, l2=0.3, gravity=2.0)
    idx = torch.tensor([0, 1])
    expected = 0.3 * l2_per_row(model.user_emb.weight, model.item_emb.weight)
    expected = expected + 2.0 * model.gravity_term()
    torch.testing.assert_close(model.regularization(idx, idx), expected)
    per_rating = GravityMF(4, 5, 3, l2=0.0, l2_per_rating=0.3, gravity=0.0)
    value = per_rating.regularization(torch.tensor([0, 0]), torch.tensor([1, 2]))
    user_rows, item_rows = per_rating.user_emb.weight[[0, 0]], per_rating.item_emb.weight[[1, 2]]
    expected = 0.3 * ((user_rows**2).sum(1) + (item_rows**2).sum(1)).mean()
    torch.testing.assert_close(value, expected)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="gravity_on"):
        GravityMF(2, 2, 2, gravity_on="everything")


def test_gravity_pulls_unobserved_predictions_towards_zero() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a busy machine
    try:
        _train_with_and_without_gravity()
    finally:
        torch.set_num_threads(threads)


def _train_with_and_without_gravity() -> None:
    torch.manual_seed(0)
    n_users, n_items = 30, 40
    truth = torch.randn(n_users, 2) @ torch.randn(2, n_items) + 1.0  # all ratings far from 0
    observed = torch.rand(n_users, n_items) < 0.3
    users, items = observed.nonzero(as_tuple=True)
    train = RatingTensors(users, items, truth[users, items])
    spread = {}
    for strength in (0.0, 1.0):
        model = GravityMF(n_users, n_items, 4, l2=0.01, gravity=strength)
        fit(model, train, n_epochs=150, lr=0.05, optimizer="adamw")
        with torch.no_grad():
            every = model(torch.arange(n_users).repeat_interleave(n_items),
                          torch.arange(n_items).repeat(n_users)).reshape(n_users, n_items)
        spread[strength] = float((every[~observed] ** 2).mean())
        assert F.mse_loss(model(users, items), train.ratings) < 1.0
    assert spread[1.0] < spread[0.0]


def test_interactive_3d_is_off_when_asked_or_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    assert interactive_3d_available(False) is False
    monkeypatch.setenv("JPY_SESSION_NAME", "lesson.ipynb")
    monkeypatch.setenv("MF_COURSE_PROGRESS", "0")
    assert interactive_3d_available(None) is False
    monkeypatch.delenv("JPY_SESSION_NAME")
    monkeypatch.delenv("MF_COURSE_PROGRESS")
    monkeypatch.delenv("CI", raising=False)
    assert interactive_3d_available(None) is False  # no Jupyter server: static image


@pytest.mark.parametrize("dims", [2, 3])
def test_plot_groups_draws_one_collection_per_group(dims: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    points = np.random.default_rng(0).normal(size=(12, dims))
    groups = np.array(["a", "b", "both"] * 4)
    ax = plot_groups(points, groups, order=["a", "b", "both"], title="t")
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (4)", "b (4)", "both (4)"]
