"""Unit tests of utils.deep: the lab's DeepMF and the NeuMF-style fused model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils.deep import DeepMF, NeuMF, RatingBiases, mlp_tower
from utils.encode import RatingTensors
from utils.train import evaluate, fit

N_USERS, N_ITEMS = 7, 5


def _batch(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, N_USERS, (n,), generator=generator),
            torch.randint(0, N_ITEMS, (n,), generator=generator))


def _toy_ratings(n: int = 200, seed: int = 0) -> RatingTensors:
    """Ratings = 3 + user effect + item effect, learnable by any biased model."""
    user_idx, item_idx = _batch(n, seed)
    user_effect = torch.linspace(-1, 1, N_USERS)
    item_effect = torch.linspace(-0.5, 0.5, N_ITEMS)
    return RatingTensors(user_idx, item_idx, 3 + user_effect[user_idx] + item_effect[item_idx])


def test_lab_deepmf_layers_match_the_lab() -> None:
    model = DeepMF(N_USERS, N_ITEMS)  # K=10, hidden 10 -> 5 -> 1
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(20, 10), (10, 5), (5, 1)]
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 2
    assert model.user_emb.weight.shape == (N_USERS, 10)
    assert model.biases is None
    # N(0, 1) embeddings, PyTorch's default, as in the lab.
    big = DeepMF(2000, 2000)
    assert abs(float(big.user_emb.weight.detach().std()) - 1.0) < 0.05


@pytest.mark.parametrize("model", [
    DeepMF(N_USERS, N_ITEMS),
    DeepMF(N_USERS, N_ITEMS, 4, (8, 4, 2), biases=True, offset=3.5, dropout=0.3),
    NeuMF(N_USERS, N_ITEMS),
    NeuMF(N_USERS, N_ITEMS, 3, 5, (6,), biases=False, dropout=0.5),
    NeuMF(N_USERS, N_ITEMS, 3, 5, (), init="normal"),
], ids=["lab", "deep-biased", "neumf", "neumf-nobias", "neumf-no-hidden"])
def test_forward_shape_and_gradients(model: nn.Module) -> None:
    user_idx, item_idx = _batch()
    out = model(user_idx, item_idx)
    assert out.shape == (12,) and out.dtype == torch.float32
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_biases_start_at_the_global_mean() -> None:
    biases = RatingBiases(N_USERS, N_ITEMS, offset=3.6)
    user_idx, item_idx = _batch()
    assert torch.allclose(biases(user_idx, item_idx), torch.full((12,), 3.6))
    assert [name for name, _ in biases.named_parameters()] == ["user_bias.weight",
                                                               "item_bias.weight"]
    assert "offset" in dict(biases.named_buffers())


def test_biased_models_add_the_bias_terms() -> None:
    user_idx, item_idx = _batch()
    for model in (DeepMF(N_USERS, N_ITEMS, biases=True, offset=2.0),
                  NeuMF(N_USERS, N_ITEMS, offset=2.0)):
        model.eval()
        base = model(user_idx, item_idx)
        with torch.no_grad():
            model.biases.user_bias.weight[user_idx[0]] += 1.0
        shifted = model(user_idx, item_idx)
        hit = user_idx == user_idx[0]
        assert torch.allclose(shifted[hit], base[hit] + 1.0)
        assert torch.equal(shifted[~hit], base[~hit])


def test_dropout_only_in_training_mode() -> None:
    torch.manual_seed(0)
    model = NeuMF(N_USERS, N_ITEMS, dropout=0.5)
    user_idx, item_idx = _batch()
    model.eval()
    assert torch.equal(model(user_idx, item_idx), model(user_idx, item_idx))
    model.train()
    assert not torch.equal(model(user_idx, item_idx), model(user_idx, item_idx))


def test_mlp_tower_widths_and_dropout() -> None:
    tower = mlp_tower(6, (4, 3), dropout=0.1)
    kinds = [type(m).__name__ for m in tower]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout"]
    assert tower(torch.zeros(2, 6)).shape == (2, 3)  # (B, 6) -> (B, 3)
    assert len(mlp_tower(6, ())) == 0


@pytest.mark.parametrize("make", [
    lambda: DeepMF(N_USERS, N_ITEMS, 4, biases=True, offset=3.0, init="uniform"),
    lambda: NeuMF(N_USERS, N_ITEMS, 4, 4, (8,), offset=3.0),
], ids=["deep", "neumf"])
def test_models_learn_a_toy_problem(make) -> None:
    torch.manual_seed(0)
    model = make()
    data = _toy_ratings()
    before = evaluate(model, data)["rmse"]
    fit(model, data, n_epochs=150, lr=0.03)  # full batch: one step per epoch
    after = evaluate(model, data)["rmse"]
    assert after < 0.15 < before, (before, after)
