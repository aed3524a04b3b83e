"""The lessons' widgets driven from Python: set a slider, press a button, pick a film."""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from utils.encode import IdEncoder, RatingTensors
from utils.models import BiasedMF
from utils.train import predict
from utils.widgets import (
    NO_GENRE,
    WIDGET_MIME,
    EmbeddingMap,
    PlaygroundSettings,
    RecommendationExplorer,
    TrainingPlayground,
    fold_in,
)

N_USERS, N_ITEMS, N_FACTORS = 30, 40, 4
GENRES = ["Comedy", "Drama", "Horror"]


@pytest.fixture
def data() -> SimpleNamespace:
    """A small random rating table, a BiasedMF with random weights and its films."""
    generator = torch.Generator().manual_seed(0)
    user_idx = torch.randint(0, N_USERS, (600,), generator=generator)
    item_idx = torch.randint(0, N_ITEMS, (600,), generator=generator)
    ratings = (torch.rand(600, generator=generator) * 4.5 + 0.5).float()
    torch.manual_seed(0)
    model = BiasedMF(N_USERS, N_ITEMS, N_FACTORS, init="normal", offset=3.5)
    with torch.no_grad():
        model.user_bias.weight.normal_(0, 0.3)
        model.item_bias.weight.normal_(0, 0.3)
    movies = pd.DataFrame({
        "item_id": np.arange(N_ITEMS) + 100,
        "title": [f"Film {i:02d} ({1990 + i})" for i in range(N_ITEMS)],
        "genres": [[GENRES[i % 3]] + (["Drama"] if i % 5 == 0 else []) for i in range(N_ITEMS)],
    })
    return SimpleNamespace(
        train=RatingTensors(user_idx, item_idx, ratings), model=model, movies=movies,
        users=IdEncoder.fit(pd.Series(np.arange(N_USERS) + 1)),
        items=IdEncoder.fit(pd.Series(np.arange(N_ITEMS) + 100)))


def explorer_of(data: SimpleNamespace, **kwargs) -> RecommendationExplorer:
    return RecommendationExplorer(data.model, data.train, data.users, data.items, data.movies,
                                  k=5, **kwargs)


def test_explorer_scores_are_the_models_predictions_split_into_parts(data):
    explorer = explorer_of(data, user_id=3)
    top = torch.tensor(explorer.recommendations["item_idx"].to_numpy())
    predicted = predict(data.model, torch.full((len(top),), 2), top).numpy()
    parts = explorer.recommendations[["offset", "user bias", "film bias", "factors"]].sum(axis=1)
    np.testing.assert_allclose(parts, predicted, atol=1e-5)
    np.testing.assert_allclose(explorer.recommendations["score"], predicted, atol=1e-5)
    assert (np.diff(explorer.recommendations["score"]) <= 0).all()  # best first
    seen = set(data.train.item_idx[data.train.user_idx == 2].tolist())
    assert not seen & set(top.tolist())
    assert "Film" in explorer.table.value and "<td>" in explorer.table.value


def test_picking_another_user_changes_the_recommendations(data):
    explorer = explorer_of(data, user_id=1)
    before = explorer.recommendations["title"].tolist()
    explorer.user_picker.value = 7
    assert explorer.recommendations["user bias"].iloc[0] == pytest.approx(
        float(data.model.user_bias.weight[6, 0].detach()))
    assert explorer.recommendations["title"].tolist() != before
    assert explorer.recommendations["title"].iloc[0] in explorer.table.value


def test_rating_films_folds_me_in_and_moves_my_list(data):
    explorer = explorer_of(data, user_id=1)
    explorer.search.value = "film 1"  # what typing in the search box does
    assert [explorer.films.titles[i][:7] for _, i in explorer.matches.options] == [
        "Film 1" + str(d) for d in sorted(range(10), key=lambda d: -int(
            explorer.counts[10 + d]))][: len(explorer.matches.options)]
    assert explorer.matches.value == explorer.matches.options[0][1]  # "Rate it" works at once
    explorer.search.value = "no such film"
    assert explorer.matches.options == () and explorer.matches.value is None
    explorer.search.value = "film 1"
    explorer.matches.value = explorer.matches.options[1][1]
    explorer.stars.value = 5.0
    explorer.rate_button.click()
    assert explorer.mode.value == "me" and len(explorer.my_ratings) == 1
    one_rating = explorer.recommendations["title"].tolist()
    liked = explorer.films.titles[explorer.matches.value]
    assert liked in explorer.mine.value and liked not in one_rating
    for film in explorer.recommendations["item_idx"].iloc[:3]:
        explorer.rate(int(film), 0.5)  # I dislike what it proposed
    assert not set(explorer.recommendations["title"].iloc[:3]) & set(one_rating[:3])
    assert explorer.recommendations["user bias"].iloc[0] < 0  # 0.5 stars: a harsh user
    explorer.forget_button.click()
    assert explorer.my_ratings == {} and explorer.mine.value == ""


def test_fold_in_recovers_a_user_from_their_ratings(data):
    generator = torch.Generator().manual_seed(1)
    item_vecs, item_bias = torch.randn(N_ITEMS, 3, generator=generator), torch.zeros(N_ITEMS)
    true_vec, true_bias = torch.tensor([0.5, -1.0, 0.25]), 0.3
    items = torch.arange(N_ITEMS)
    ratings = 3.0 + true_bias + item_vecs @ true_vec
    vec, bias = fold_in(item_vecs, item_bias, 3.0, items, ratings, l2=1e-6)
    torch.testing.assert_close(vec, true_vec, atol=1e-4, rtol=0)
    assert bias == pytest.approx(true_bias, abs=1e-4)
    shrunk, _ = fold_in(item_vecs, item_bias, 3.0, items, ratings, l2=100.0)
    assert shrunk.norm() < 0.7 * true_vec.norm()  # the ridge pulls a new user towards 0


def test_clicking_a_recommendation_lists_its_nearest_films(data):
    explorer = explorer_of(data, user_id=1)
    second = explorer.pick.options[1][1]
    explorer.pick.value = second
    unit = torch.nn.functional.normalize(explorer.parts["item_vecs"], dim=1)
    cosine = (unit @ unit[second]).numpy()
    cosine[second] = -np.inf
    expected = explorer.films.titles[np.argsort(-cosine, kind="stable")[:5]]
    column = "like " + explorer.films.titles[second]
    assert explorer.similar[column].tolist() == expected.tolist()
    assert column in explorer.similar_table.value


def test_explorer_rejects_what_it_cannot_explain(data):
    squashed = BiasedMF(N_USERS, N_ITEMS, N_FACTORS, y_range=(0.0, 5.5))
    with pytest.raises(ValueError, match="y_range"):
        RecommendationExplorer(squashed, data.train, data.users, data.items, data.movies)
    explorer = explorer_of(data)
    with pytest.raises(ValueError, match="0.5 to 5"):
        explorer.rate(0, 7.0)
    with pytest.raises(ValueError, match="no film is titled"):
        explorer.rate("Not a film", 4.0)


def playground_data() -> tuple[RatingTensors, RatingTensors]:
    generator = torch.Generator().manual_seed(2)
    users, items = torch.randn(N_USERS, 3, generator=generator), torch.randn(N_ITEMS, 3,
                                                                              generator=generator)
    user_idx = torch.randint(0, N_USERS, (800,), generator=generator)
    item_idx = torch.randint(0, N_ITEMS, (800,), generator=generator)
    ratings = 3.0 + (users[user_idx] * items[item_idx]).sum(1)
    train = RatingTensors(user_idx[:600], item_idx[:600], ratings[:600])
    return train, RatingTensors(user_idx[600:], item_idx[600:], ratings[600:])


@pytest.mark.parametrize("kind", ["dot", "biased", "gravity"])
def test_playground_slider_retrains_and_redraws(kind):
    train, valid = playground_data()
    playground = TrainingPlayground(train, valid, N_USERS, N_ITEMS, kind=kind, n_factors=3,
                                    wd=0.0, lr=0.03, n_epochs=10, gravity=0.0, y_max=20.0)
    first = playground.history
    assert len(first) == 10 and f"{playground.valid_rmse:.4f}" in playground.result.value
    playground.epochs_slider.value = 25
    longer = playground.history
    assert len(longer) == 25
    _, train_line, valid_line = playground.figure.data
    np.testing.assert_allclose(valid_line.y, longer["valid_mse"])
    np.testing.assert_allclose(train_line.y, longer["train_loss"])
    assert f"{longer['valid_rmse'].iloc[-1]:.4f}" in playground.result.value
    # The same seed gives the same first ten epochs, and the previous curve stays in grey.
    pd.testing.assert_frame_equal(longer.iloc[:10].drop(columns="seconds"),
                                  first.drop(columns="seconds"))
    np.testing.assert_allclose(playground.figure.data[0].y, first["valid_mse"])
    playground.lr_slider.value = 0.1
    assert playground.history["train_loss"].iloc[-1] != longer["train_loss"].iloc[-1]


def test_playground_moving_a_slider_back_gives_the_same_curve():
    train, valid = playground_data()
    playground = TrainingPlayground(train, valid, N_USERS, N_ITEMS, n_factors=3, n_epochs=8)
    original = playground.history
    playground.wd_slider.value = 1e-3
    assert playground.settings == PlaygroundSettings(3, 1e-3, 0.03, 8)
    playground.wd_slider.value = 1e-5
    assert playground.history is original and "from the cache" in playground.result.value
    playground.cache.clear()
    playground.retrain()  # trained afresh: the seed makes it identical
    pd.testing.assert_frame_equal(playground.history.drop(columns="seconds"),
                                  original.drop(columns="seconds"))


def test_gravity_slider_changes_the_gravity_model():
    train, valid = playground_data()
    playground = TrainingPlayground(train, valid, N_USERS, N_ITEMS, kind="gravity", n_factors=3,
                                    wd=0.0, lr=0.03, n_epochs=5, gravity=0.0)
    assert "train_penalty" in playground.history and playground.settings.gravity == 0.0
    without = playground.history["train_penalty"].iloc[-1]
    playground.gravity_slider.value = 1.0
    assert playground.history["train_penalty"].iloc[-1] > without
    with pytest.raises(ValueError, match="not on its slider"):
        TrainingPlayground(train, valid, N_USERS, N_ITEMS, lr=0.05)


def embedding_map(**kwargs) -> EmbeddingMap:
    generator = np.random.default_rng(3)
    vectors = generator.normal(size=(N_ITEMS, 5))
    titles = [f"Film {i:02d}" for i in range(N_ITEMS)]
    genres = [[GENRES[i % 3]] for i in range(N_ITEMS)]
    return EmbeddingMap(vectors, titles, genres, k=4, **kwargs)


def test_map_highlights_a_genre():
    shown = embedding_map()
    assert not shown.highlighted.any()
    shown.genre_picker.value = "Horror"
    np.testing.assert_array_equal(shown.highlighted, np.arange(N_ITEMS) % 3 == 2)
    colours = np.array(shown.figures[2].data[0].marker.color)
    assert set(colours[shown.highlighted]) == {"#d62728"}
    assert set(colours[~shown.highlighted]) == {"#c8c8c8"}
    assert list(shown.figures[3].data[0].marker.color) == list(colours)
    shown.highlight(NO_GENRE)
    assert not shown.highlighted.any()
    with pytest.raises(ValueError, match="no film on the map has the genre"):
        shown.highlight("Western")


def test_map_marks_the_nearest_films_of_a_picked_or_clicked_film():
    shown = embedding_map(film="Film 05")
    unit = shown.vectors / np.linalg.norm(shown.vectors, axis=1, keepdims=True)
    cosine = unit @ unit[5]
    cosine[5] = -np.inf
    np.testing.assert_array_equal(shown.neighbours, np.argsort(-cosine)[:4])
    ring = shown.figures[2].data[1]
    np.testing.assert_allclose(ring.x, shown.points[2][shown.neighbours, 0])
    assert shown.figures[3].data[2].z[0] == pytest.approx(shown.points[3][5, 2])
    assert "Film 05" in shown.neighbour_list.value
    shown._clicked(shown.figures[2].data[0], SimpleNamespace(point_inds=[12]), None)
    assert shown.selected == 12 and shown.film_picker.value == "Film 12"
    assert shown.figures[2].data[2].x[0] == pytest.approx(shown.points[2][12, 0])


def test_map_switches_to_3d_and_checks_its_points():
    shown = embedding_map()
    assert shown.plot_box.children == (shown.figures[2],)
    shown.view.value = "3D"
    assert shown.plot_box.children == (shown.figures[3],)
    assert shown.figures[3].data[0].type == "scatter3d"
    with pytest.raises(ValueError, match=r"points_2d must have shape \(40, 2\)"):
        embedding_map(points_2d=np.zeros((3, 2)))


def test_each_widget_displays_live_with_a_png_beside_it(data):
    train, valid = playground_data()
    for shown in [explorer_of(data), embedding_map(film="Film 01", genre="Drama"),
                  TrainingPlayground(train, valid, N_USERS, N_ITEMS, n_factors=2, n_epochs=3)]:
        bundle = shown._repr_mimebundle_()
        assert bundle[WIDGET_MIME]["model_id"] == shown.widget.model_id
        assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_patch_script_inserts_once_and_replaces_on_rerun(tmp_path):
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tools"))
    try:
        import add_widget_cells
    finally:
        sys.path.pop(0)
    lessons = sorted((root / "notebooks").glob("0[346]_*.ipynb"))
    copies = [Path(shutil.copy(path, tmp_path)) for path in lessons]
    add_widget_cells.main([str(path) for path in copies])
    once = [path.read_text() for path in copies]
    add_widget_cells.main([str(path) for path in copies])
    assert [path.read_text() for path in copies] == once
    marked = [cell for path in copies for cell in nbformat.read(path, 4).cells
              if add_widget_cells.MARKER in cell.metadata]
    assert len(marked) == sum(len(block.cells) for block in add_widget_cells.BLOCKS)
