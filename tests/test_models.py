"""Unit tests of utils.models: shapes, initialisation, biases, global offset and y_range."""

from __future__ import annotations

import pytest
import torch

from utils.encode import RatingTensors
from utils.models import (
    BiasedMF,
    Blend,
    DotProductMF,
    HybridMF,
    RegularizedMF,
    init_embedding,
    lookup,
    score_all_items,
    sigmoid_offset,
    squash,
)
from utils.train import fit


def _indices(n_users: int = 7, n_items: int = 11, batch: int = 32) -> tuple:
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randint(0, n_users, (batch,), generator=generator),
        torch.randint(0, n_items, (batch,), generator=generator),
    )


@pytest.mark.parametrize("model_class", [DotProductMF, BiasedMF])
def test_shapes(model_class: type) -> None:
    model = model_class(7, 11, 5)
    assert model.user_emb.weight.shape == (7, 5)
    assert model.item_emb.weight.shape == (11, 5)
    user_idx, item_idx = _indices()
    assert model(user_idx, item_idx).shape == (32,)
    assert model(user_idx[:1], item_idx[:1]).shape == (1,)


def test_dot_product_is_the_row_wise_dot() -> None:
    torch.manual_seed(0)
    model = DotProductMF(7, 11, 5)
    user_idx, item_idx = _indices()
    expected = torch.einsum(
        "bk,bk->b", model.user_emb.weight[user_idx], model.item_emb.weight[item_idx]
    )
    assert torch.allclose(model(user_idx, item_idx), expected)


def test_uniform_init_range() -> None:
    torch.manual_seed(0)
    model = DotProductMF(200, 300, 50)
    for weight in (model.user_emb.weight, model.item_emb.weight):
        assert weight.min() >= 0.0 and weight.max() <= 0.05
        assert weight.mean().item() == pytest.approx(0.025, abs=0.002)
    # So the first predictions are small and positive: 50 * 0.025**2 on average.
    user_idx, item_idx = _indices(200, 300)
    predictions = model(user_idx, item_idx)
    assert (predictions > 0).all() and predictions.max() < 50 * 0.05**2


def test_normal_init_is_pytorch_default_scale() -> None:
    torch.manual_seed(0)
    model = DotProductMF(500, 500, 40, init="normal")
    weight = model.user_emb.weight
    assert weight.mean().item() == pytest.approx(0.0, abs=0.02)
    assert weight.std().item() == pytest.approx(1.0, abs=0.02)


def test_unknown_init_is_refused() -> None:
    with pytest.raises(ValueError, match="init must be one of"):
        init_embedding(torch.nn.Embedding(2, 2), "xavier")
    with pytest.raises(ValueError, match="init must be one of"):
        BiasedMF(2, 2, 2, init="zeros")


def test_biases_start_at_zero_and_are_added() -> None:
    model = BiasedMF(3, 4, 2, offset=3.5)
    assert model.user_bias.weight.shape == (3, 1) and model.item_bias.weight.shape == (4, 1)
    assert (model.user_bias.weight == 0).all() and (model.item_bias.weight == 0).all()
    user_idx, item_idx = torch.tensor([0, 2, 1]), torch.tensor([3, 0, 0])
    before = model(user_idx, item_idx).detach()
    with torch.no_grad():
        model.user_bias.weight[2] = 0.5
        model.item_bias.weight[0] = -1.0
    after = model(user_idx, item_idx).detach()
    assert torch.allclose(after - before, torch.tensor([0.0, -0.5, -1.0]))


def test_global_offset_alone() -> None:
    model = BiasedMF(3, 4, 2, offset=3.5)
    with torch.no_grad():
        model.user_emb.weight.zero_()
    predictions = model(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 3]))
    assert torch.allclose(predictions, torch.full((3,), 3.5))
    # The offset is a buffer: saved with the weights, never trained.
    assert "offset" in model.state_dict()
    assert all(name != "offset" for name, _ in model.named_parameters())


def test_without_biases_it_is_dot_product_plus_offset() -> None:
    torch.manual_seed(0)
    plain = DotProductMF(7, 11, 5)
    model = BiasedMF(7, 11, 5, biases=False, offset=1.25)
    model.load_state_dict(plain.state_dict() | {"offset": torch.tensor(1.25)})
    assert not hasattr(model, "user_bias") and not hasattr(model, "item_bias")
    user_idx, item_idx = _indices()
    assert torch.allclose(model(user_idx, item_idx), plain(user_idx, item_idx) + 1.25)


def test_y_range_bounds_even_for_extreme_scores() -> None:
    model = BiasedMF(3, 4, 2, y_range=(0.0, 5.5))
    user_idx, item_idx = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.tensor([[10.0, 10.0], [-10.0, 10.0], [0.0, 0.0]]))
        model.item_emb.weight.fill_(10.0)
    predictions = model(user_idx, item_idx)
    assert (predictions >= 0.0).all() and (predictions <= 5.5).all()
    assert predictions[0].item() == pytest.approx(5.5)
    assert predictions[1].item() == pytest.approx(2.75)  # a score of 0 maps to the middle
    assert predictions[2].item() == pytest.approx(2.75)


def test_y_range_midpoint_with_offset() -> None:
    model = BiasedMF(2, 2, 1, y_range=(1.0, 5.0), offset=0.0)
    with torch.no_grad():
        model.user_emb.weight.zero_()
    assert model(torch.tensor([0]), torch.tensor([1])).item() == pytest.approx(3.0)


def test_gradients_reach_every_parameter() -> None:
    model = BiasedMF(7, 11, 5, offset=3.0, y_range=(0.0, 5.5))
    user_idx, item_idx = _indices()
    model(user_idx, item_idx).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("y_range", [None, (0.0, 5.5), (1.0, 5.0)])
def test_sigmoid_offset_makes_a_fresh_model_predict_the_mean(y_range: tuple | None) -> None:
    offset = sigmoid_offset(3.5, y_range)
    model = BiasedMF(3, 4, 2, offset=offset, y_range=y_range)
    with torch.no_grad():
        model.user_emb.weight.zero_()
    assert model(torch.tensor([0, 2]), torch.tensor([1, 3])).tolist() == pytest.approx([3.5, 3.5])


def test_sigmoid_offset_refuses_a_mean_outside_the_range() -> None:
    with pytest.raises(ValueError, match="strictly inside"):
        sigmoid_offset(5.5, (0.0, 5.5))


def test_regularized_mf_penalty_is_the_batch_mean_of_squares() -> None:
    model = RegularizedMF(3, 4, 2, l2=0.1, bias_l2=0.5)
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]]))
        model.item_emb.weight.fill_(1.0)
        model.user_bias.weight.copy_(torch.tensor([[1.0], [0.0], [7.0]]))
        model.item_bias.weight.fill_(0.0)
    user_idx, item_idx = torch.tensor([0, 1]), torch.tensor([0, 3])  # user 2 is not in the batch
    expected = 0.1 * ((1 + 2) + (4 + 2)) / 2 + 0.5 * (1 + 0) / 2
    assert model.regularization(user_idx, item_idx).item() == pytest.approx(expected)


def test_regularized_mf_defaults_are_biased_mf() -> None:
    torch.manual_seed(0)
    plain = BiasedMF(7, 11, 5, offset=3.0, y_range=(0.0, 5.5))
    model = RegularizedMF(7, 11, 5, offset=3.0, y_range=(0.0, 5.5))
    model.load_state_dict(plain.state_dict())
    user_idx, item_idx = _indices()
    assert torch.equal(model(user_idx, item_idx), plain(user_idx, item_idx))
    assert model.regularization(user_idx, item_idx).item() == 0.0
    no_bias = RegularizedMF(7, 11, 5, biases=False, l2=1.0, bias_l2=1.0)
    assert no_bias.regularization(user_idx, item_idx).item() > 0


def test_regularized_mf_penalty_has_gradients_only_for_batch_rows() -> None:
    model = RegularizedMF(7, 11, 5, l2=1.0, bias_l2=1.0)
    with torch.no_grad():
        model.user_bias.weight.fill_(0.3)
    model.regularization(torch.tensor([1]), torch.tensor([2])).backward()
    touched = model.user_emb.weight.grad.abs().sum(1) > 0
    assert touched.tolist() == [i == 1 for i in range(7)]
    bias_grad = model.user_bias.weight.grad.squeeze(1)
    assert bias_grad[1].item() != 0 and bias_grad[0].item() == 0


def test_lookup_matches_embedding_values_and_gradients() -> None:
    torch.manual_seed(0)
    table = torch.nn.Embedding(7, 3)
    idx = torch.tensor([1, 4, 1, 6, 0])
    weights = torch.randn(5, 3)
    (table(idx) * weights).sum().backward()
    expected = table.weight.grad.clone()
    table.zero_grad()
    (lookup(table, idx) * weights).sum().backward()
    assert torch.equal(lookup(table, idx), table(idx))
    assert torch.allclose(table.weight.grad, expected)


def test_blend_is_the_weighted_average_of_its_models() -> None:
    user_idx, item_idx = _indices()
    torch.manual_seed(0)
    first, second = BiasedMF(7, 11, 3, offset=3.0), DotProductMF(7, 11, 3)
    blend = Blend([first, second], [0.25, 0.75])
    expected = 0.25 * first(user_idx, item_idx) + 0.75 * second(user_idx, item_idx)
    torch.testing.assert_close(blend(user_idx, item_idx), expected)
    blend.eval()  # evaluation mode must reach the members (dropout in NeuMF)
    assert not first.training and not second.training


@pytest.mark.parametrize(("n_models", "weights", "message"), [
    (2, [1.0], "one weight per model"),
    (0, [], "one weight per model"),
    (2, [0.5, 0.6], "must sum to 1"),
])
def test_blend_refuses_bad_weights(n_models: int, weights: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Blend([DotProductMF(7, 11, 3) for _ in range(n_models)], weights)


def _genre_features() -> torch.Tensor:
    # items 0-2 are of genre A, items 3-5 of genre B; item 2 has a second feature C
    features = torch.zeros(6, 3)
    features[:3, 0] = 1.0
    features[3:, 1] = 1.0
    features[2, 2] = 1.0
    return features


def test_hybrid_mf_with_zero_feature_weights_is_biased_mf() -> None:
    torch.manual_seed(3)
    hybrid = HybridMF(4, 6, 3, _genre_features(), offset=0.2, y_range=(0.0, 5.5))
    plain = BiasedMF(4, 6, 3, offset=0.2, y_range=(0.0, 5.5))
    plain.load_state_dict(hybrid.state_dict(), strict=False)
    torch.nn.init.normal_(plain.item_bias.weight)
    hybrid.item_bias.weight.data.copy_(plain.item_bias.weight.data)
    users, items = torch.tensor([0, 1, 2, 3, 3]), torch.tensor([0, 2, 3, 5, 1])
    assert torch.allclose(hybrid(users, items), plain(users, items))


def test_hybrid_mf_adds_the_average_of_the_item_features() -> None:
    model = HybridMF(1, 6, 2, _genre_features())
    with torch.no_grad():
        model.user_emb.weight.fill_(1.0)
        model.item_emb.weight.zero_()
        model.feature_factors.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]))
        model.feature_bias.copy_(torch.tensor([0.5, -0.5, 1.5]))
    items = torch.tensor([0, 2, 4])
    # item 0: genre A only; item 2: the mean of A and C; item 4: genre B only
    assert model.item_vectors(items).tolist() == [[1.0, 0.0], [2.0, 1.5], [0.0, 2.0]]
    assert model.item_bias_values(items).tolist() == [0.5, 1.0, -0.5]
    assert model(torch.zeros(3, dtype=torch.int64), items).tolist() == [1.5, 4.5, 1.5]


def test_hybrid_mf_refuses_features_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="one feature row per item: 5 items"):
        HybridMF(2, 5, 3, _genre_features())


def test_hybrid_mf_predicts_an_unrated_item_from_its_genre() -> None:
    """Genre A is loved and genre B disliked; item 0 (genre A) is never rated in training."""
    users = torch.arange(8).repeat_interleave(4)
    items = torch.tensor([1, 2, 3, 4]).repeat(8)
    ratings = torch.where(items < 3, 5.0, 1.0)
    data = RatingTensors(users, items, ratings)
    predictions = {}
    for name, model in [("hybrid", HybridMF(8, 6, 2, _genre_features(), offset=3.0)),
                        ("plain", BiasedMF(8, 6, 2, offset=3.0))]:
        torch.manual_seed(0)
        fit(model, data, n_epochs=200, lr=0.05, seed=0)
        predictions[name] = model(torch.arange(8), torch.zeros(8, dtype=torch.int64)).mean().item()
    # the genre's bias shares the +2 with items 1 and 2's own biases, hence not the full 5
    assert predictions["hybrid"] > 3.6
    assert predictions["plain"] == pytest.approx(3.0, abs=0.3)  # knows nothing of item 0


def test_hybrid_mf_with_new_items_scores_them_from_their_features() -> None:
    torch.manual_seed(0)
    model = HybridMF(3, 6, 2, _genre_features(), offset=0.5, y_range=(0.0, 5.5))
    torch.nn.init.normal_(model.feature_factors)
    torch.nn.init.normal_(model.feature_bias)
    torch.nn.init.normal_(model.item_bias.weight)
    new_features = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    grown = model.with_new_items(new_features)
    users, old_items = torch.tensor([0, 1, 2]), torch.tensor([0, 2, 5])
    assert torch.equal(grown(users, old_items), model(users, old_items))
    assert grown.item_emb.weight.shape == (8, 2) and model.item_emb.weight.shape == (6, 2)
    # A new item is its features' part alone: the same as an old item with its own part zeroed.
    twin = HybridMF(3, 6, 2, _genre_features(), offset=0.5, y_range=(0.0, 5.5))
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        twin.item_emb.weight[2].zero_()
        twin.item_bias.weight[2].zero_()
    new_items = torch.tensor([6, 6, 6])  # item 2 and new item 0 both have genres A and C
    assert torch.allclose(grown(users, new_items), twin(users, torch.tensor([2, 2, 2])))


def test_hybrid_mf_with_new_items_refuses_the_wrong_number_of_features() -> None:
    model = HybridMF(3, 6, 2, _genre_features())
    with pytest.raises(ValueError, match="one row of 3 features"):
        model.with_new_items(torch.ones(2, 4))


def _all_pairs_forward(model: torch.nn.Module, users: torch.Tensor, n_items: int) -> torch.Tensor:
    pairs_users = users.repeat_interleave(n_items)  # (U * I,)
    pairs_items = torch.arange(n_items).repeat(len(users))  # (U * I,)
    with torch.no_grad():
        return model(pairs_users, pairs_items).reshape(len(users), n_items)


@pytest.mark.parametrize("model", [
    DotProductMF(5, 7, 3),
    BiasedMF(5, 7, 3, init="normal", offset=0.3),
    BiasedMF(5, 7, 3, init="normal", biases=False, offset=0.3, y_range=(0.0, 5.5)),
    BiasedMF(5, 7, 3, init="normal", offset=0.3, y_range=(0.0, 5.5)),
], ids=["dot", "biased", "no biases, ranged", "biased, ranged"])
def test_score_all_items_equals_forward_on_every_pair(model: torch.nn.Module) -> None:
    if getattr(model, "biases", False):
        with torch.no_grad():  # non-zero biases, so that leaving one out would show
            model.user_bias.weight.normal_()
            model.item_bias.weight.normal_()
    users = torch.tensor([4, 0, 2])
    with torch.no_grad():
        scores = score_all_items(model, users)
    assert scores.shape == (3, 7)
    torch.testing.assert_close(scores, _all_pairs_forward(model, users, 7))


def test_squash_maps_into_the_range_and_leaves_none_alone() -> None:
    scores = torch.tensor([-50.0, 0.0, 50.0])
    torch.testing.assert_close(squash(scores, (1.0, 5.0)), torch.tensor([1.0, 3.0, 5.0]))
    assert squash(scores, None) is scores


def test_score_all_items_of_a_blend_is_the_blend_of_the_tables() -> None:
    first, second = BiasedMF(5, 7, 3, offset=3.0), DotProductMF(5, 7, 3, init="normal")
    blend = Blend([first, second], [0.25, 0.75])
    users = torch.tensor([1, 3])
    with torch.no_grad():
        torch.testing.assert_close(score_all_items(blend, users),
                                   _all_pairs_forward(blend, users, 7))
    with pytest.raises(TypeError, match="pair by pair"):
        score_all_items(torch.nn.Linear(2, 1), users)
