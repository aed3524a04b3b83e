"""Exercise checks: unanswered, right and wrong answers, and strict mode for grading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from utils.checks import STRICT_ENV, check_exercise
from utils.encode import SECONDS_PER_YEAR


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One private cache for the module, so the archives are unpacked once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _offline(mirror: Path, data_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIELENS_MIRROR", str(mirror))
    monkeypatch.setenv("MF_COURSE_DATA", str(data_folder))
    monkeypatch.delenv(STRICT_ENV, raising=False)


def _verdict(capsys: pytest.CaptureFixture[str], *args, **kwargs) -> str:
    check_exercise(*args, **kwargs)
    return capsys.readouterr().out


def test_unanswered_reports_and_does_not_raise(capsys: pytest.CaptureFixture[str]) -> None:
    assert "01.2: not yet answered" in _verdict(capsys, "01.2", None)


def test_strict_mode_raises_for_unanswered_and_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(AssertionError, match="not yet answered"):
        check_exercise("01.2", None)
    with pytest.raises(AssertionError, match="not yet right"):
        check_exercise("02.1", (6,))


def test_unknown_exercise_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="01.1"):
        check_exercise("99.9", 1)


def test_rows_kept_by_quantile(capsys: pytest.CaptureFixture[str]) -> None:
    assert "not yet right: give a dict" in _verdict(capsys, "01.1", {0.7: 1})
    assert "every validation row" in _verdict(capsys, "01.1", {0.7: 30_251, 0.9: 10_084})
    assert "are off" in _verdict(capsys, "01.1", {0.7: 1_000, 0.9: 1_000})
    assert "correct" in _verdict(capsys, "01.1", {0.7: 1_344, 0.8: 1_311, 0.9: 1_290})


def test_fallback_rmse(capsys: pytest.CaptureFixture[str]) -> None:
    assert "one number" in _verdict(capsys, "01.2", "about one")
    assert "no single number" in _verdict(capsys, "01.2", 0.9)
    assert "does better" in _verdict(capsys, "01.2", 1.2)  # e.g. predicting 3 stars
    assert ": correct" in _verdict(capsys, "01.2", 1.0756)


def test_sparsity_100k(capsys: pytest.CaptureFixture[str]) -> None:
    assert "fraction" in _verdict(capsys, "01.3", 93.7)
    assert "compare with" in _verdict(capsys, "01.3", 0.983)
    assert ": correct" in _verdict(capsys, "01.3", 0.937)


def test_summed_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert "as a tuple" in _verdict(capsys, "02.1", "3")
    assert "batch dimension" in _verdict(capsys, "02.1", (6,))
    assert ": correct" in _verdict(capsys, "02.1", torch.Size([3]))


def test_einsum_predictions(capsys: pytest.CaptureFixture[str]) -> None:
    users, items = torch.randn(6, 3), torch.randn(6, 3)
    context = {"user_vecs": users, "item_vecs": items}
    assert "shape (6, 6)" in _verdict(capsys, "02.2", users @ items.T, **context)
    assert "values differ" in _verdict(capsys, "02.2", (users * items).sum(1) + 1, **context)
    assert ": correct" in _verdict(capsys, "02.2", torch.einsum("bk,bk->b", users, items),
                                   **context)


def test_adam_history(capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    epochs = pd.Index([1, 2, 3, 4], name="epoch")
    reference = pd.DataFrame({"lr": [0.1, 0.1, 0.01, 0.01], "train_loss": [4.0, 3.0, 2.0, 1.5],
                              "valid_mse": [5.0, 4.0, 3.0, 2.5]}, index=epochs)
    context = {"reference": reference, "lr_steps": {3: 0.01}}
    right = reference[["train_loss", "valid_mse"]].iloc[:3]
    assert "columns" in _verdict(capsys, "03.4", [4.0, 3.0], **context)
    assert "index the rows" in _verdict(capsys, "03.4", right.reset_index(drop=True), **context)
    no_step = right.copy()
    no_step.loc[3, "train_loss"] = 2.2
    assert "at epoch 3: is the learning rate" in _verdict(capsys, "03.4", no_step, **context)
    assert "first epoch" in _verdict(capsys, "03.4", right + 0.1, **context)
    assert ": correct" in _verdict(capsys, "03.4", right, **context)


def test_user_clock_weights(capsys: pytest.CaptureFixture[str]) -> None:
    day = 86_400
    frame = pd.DataFrame({"user_id": [1, 1, 2, 2], "timestamp": [0, 400 * day, 0, 3_000 * day]})
    user_age = np.array([400, 0, 3_000, 0]) * day / SECONDS_PER_YEAR
    right = np.exp(-user_age / 10)
    right /= right.mean()
    global_age = (3_000 * day - frame["timestamp"].to_numpy()) / SECONDS_PER_YEAR
    global_clock = np.exp(-global_age / 10)
    context = {"frame": frame, "years": 10.0}
    assert "as a tensor" in _verdict(capsys, "05.1", [1.0] * 4, **context)
    assert "one weight per row" in _verdict(capsys, "05.1", torch.ones(3), **context)
    assert "global clock" in _verdict(capsys, "05.1", global_clock / global_clock.mean(),
                                      **context)
    assert "mean of 1" in _verdict(capsys, "05.1", torch.tensor(right * 2), **context)
    assert "weights differ" in _verdict(capsys, "05.1", torch.ones(4), **context)
    assert ": correct" in _verdict(capsys, "05.1", torch.tensor(right, dtype=torch.float32),
                                   **context)


def _tiny_model_and_data() -> tuple[torch.nn.Module, object]:
    from utils.encode import RatingTensors
    from utils.models import DotProductMF

    torch.manual_seed(0)
    data = RatingTensors(torch.tensor([0, 1, 2, 0]), torch.tensor([1, 0, 2, 2]),
                         torch.tensor([4.0, 3.0, 5.0, 1.0]))
    return DotProductMF(3, 3, 2), data


def test_rmse_by_change(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.train import evaluate

    model, data = _tiny_model_and_data()
    scores = evaluate(model, data)
    context = {"models": {"offset": model}, "data": data}
    assert "give a dict" in _verdict(capsys, "07.1", [scores["rmse"]], **context)
    assert "the keys" in _verdict(capsys, "07.1", {"init": scores["rmse"]}, **context)
    assert "square root" in _verdict(capsys, "07.1", {"offset": scores["mse"]}, **context)
    assert "not the RMSE" in _verdict(capsys, "07.1", {"offset": scores["rmse"] + 0.1},
                                      **context)
    assert ": correct" in _verdict(capsys, "07.1", {"offset": scores["rmse"]}, **context)


def test_mlp_alone_rmse(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.train import evaluate

    model, data = _tiny_model_and_data()
    scores = evaluate(model, data)
    context = {"model": model, "data": data}
    assert "one number" in _verdict(capsys, "07.3", "low", **context)
    assert "square root" in _verdict(capsys, "07.3", scores["mse"], **context)
    assert "not the RMSE" in _verdict(capsys, "07.3", scores["rmse"] * 1.1, **context)
    assert ": correct" in _verdict(capsys, "07.3", scores["rmse"], **context)
    assert "set mlp_alone_model" in _verdict(capsys, "07.3", scores["rmse"], model=None, data=data)


# Lesson 04
def test_ablation_mse(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.models import BiasedMF, RegularizedMF
    from utils.train import evaluate

    _, data = _tiny_model_and_data()
    torch.manual_seed(0)
    models = {"no biases": RegularizedMF(3, 3, 2, l2=0.1, biases=False, offset=3.0),
              "no offset": RegularizedMF(3, 3, 2, l2=0.1)}
    right = {name: evaluate(m, data)["mse"] for name, m in models.items()}
    context = {"models": models, "data": data}
    assert "give a dict" in _verdict(capsys, "04.1", [1.0, 2.0], **context)
    assert "put the two models" in _verdict(capsys, "04.1", right, models={}, data=data)
    swapped = {"no biases": models["no offset"], "no offset": models["no biases"]}
    assert "biases=False" in _verdict(capsys, "04.1", right, models=swapped, data=data)
    no_penalty = {**models, "no offset": BiasedMF(3, 3, 2)}
    assert "keep the per-rating penalty" in _verdict(capsys, "04.1", right, models=no_penalty,
                                                     data=data)
    rmse = {name: evaluate(m, data)["rmse"] for name, m in models.items()}
    assert "reported as an MSE" in _verdict(capsys, "04.1", rmse, **context)
    assert "not the MSE" in _verdict(capsys, "04.1", {**right, "no offset": 9.0}, **context)
    assert ": correct" in _verdict(capsys, "04.1", right, **context)


def test_no_range_rmse(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.models import BiasedMF
    from utils.train import evaluate

    _, data = _tiny_model_and_data()
    mean = float(data.ratings.mean())
    model = BiasedMF(3, 3, 2, offset=mean)
    rmse = evaluate(model, data)["rmse"]
    context = {"model": model, "data": data, "mean_rating": mean}
    assert "one number" in _verdict(capsys, "04.2", "low", **context)
    assert "set no_range_model" in _verdict(capsys, "04.2", rmse, model=None, data=data,
                                            mean_rating=mean)
    ranged = BiasedMF(3, 3, 2, offset=mean, y_range=(0.0, 5.5))
    assert "y_range=None" in _verdict(capsys, "04.2", rmse, model=ranged, data=data,
                                      mean_rating=mean)
    logit = BiasedMF(3, 3, 2, offset=0.566)
    assert "not its logit" in _verdict(capsys, "04.2", rmse, model=logit, data=data,
                                       mean_rating=mean)
    assert "not the RMSE" in _verdict(capsys, "04.2", rmse + 0.1, **context)
    assert ": correct" in _verdict(capsys, "04.2", rmse, **context)


def test_top_by_average(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.encode import RatingTensors

    # films 0..3: averages 5 (one rating), 4.5, 3, 2 (two ratings each)
    data = RatingTensors(torch.zeros(7, dtype=torch.long), torch.tensor([0, 1, 1, 2, 2, 3, 3]),
                         torch.tensor([5.0, 4.0, 5.0, 3.0, 3.0, 2.0, 2.0]))
    context = {"data": data, "n_items": 4, "min_count": 2, "k": 2}
    assert "item indices" in _verdict(capsys, "04.3", ["Heat", "Up"], **context)
    assert "give 2 films" in _verdict(capsys, "04.3", [1], **context)
    assert "not item indices" in _verdict(capsys, "04.3", [1, 7], **context)
    assert "fewer than 2" in _verdict(capsys, "04.3", [0, 1], **context)
    assert "lowest averages" in _verdict(capsys, "04.3", [3, 2], **context)
    assert "not the highest" in _verdict(capsys, "04.3", [1, 3], **context)
    assert "highest average down" in _verdict(capsys, "04.3", [2, 1], **context)
    assert ": correct" in _verdict(capsys, "04.3", torch.tensor([1, 2]), **context)


def test_three_way_weights(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.encode import RatingTensors
    from utils.models import BiasedMF

    data = RatingTensors(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]),
                         torch.tensor([3.0, 3.0, 3.0]))
    models = [BiasedMF(3, 3, 1, offset=mean) for mean in (2.0, 3.0, 5.0)]
    for model in models:
        torch.nn.init.zeros_(model.user_emb.weight)  # constant predictions: 2, 3 and 5 stars
    context = {"models": models, "data": data}
    assert "three numbers" in _verdict(capsys, "04.4", "half", **context)
    assert "in slice_models" in _verdict(capsys, "04.4", (0, 1, 0), models=models[:2], data=data)
    assert "one weight per model" in _verdict(capsys, "04.4", (0.5, 0.5), **context)
    assert "sum to 1" in _verdict(capsys, "04.4", (0.5, 0.5, 0.5), **context)
    assert "clearly lower" in _verdict(capsys, "04.4", (0.5, 0.0, 0.5), **context)
    assert ": correct" in _verdict(capsys, "04.4", (0.0, 1.0, 0.0), **context)


# Lesson 06
def test_unrated_mean_square(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.gravity import GravityMF
    from utils.train import predict

    torch.manual_seed(0)
    model = GravityMF(2, 3, 2, gravity=0.1, gravity_on="interaction")
    rated = torch.tensor([True, False, False, True, False, True])  # (n_users * n_items,)
    pairs = torch.arange(6)
    centred = predict(model, pairs // 3, pairs % 3)
    right = float((centred[~rated] ** 2).mean())
    context = {"model": model, "rated": rated, "train_mean": 3.5}
    assert "one number" in _verdict(capsys, "06.1", "small", **context)
    assert "set interaction_model" in _verdict(capsys, "06.1", right, model=None, rated=rated,
                                               train_mean=3.5)
    whole = GravityMF(2, 3, 2, gravity=0.1)
    assert 'gravity_on="interaction"' in _verdict(capsys, "06.1", right, model=whole,
                                                  rated=rated, train_mean=3.5)
    all_pairs = float((centred**2).mean())
    assert "over all pairs" in _verdict(capsys, "06.1", all_pairs, **context)
    in_stars = float(((centred[~rated] + 3.5) ** 2).mean())
    assert "without the training mean" in _verdict(capsys, "06.1", in_stars, **context)
    assert "not the mean square" in _verdict(capsys, "06.1", right + 0.1, **context)
    assert ": correct" in _verdict(capsys, "06.1", right, **context)


def test_per_rating_alone_rmse(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.gravity import GravityMF
    from utils.train import evaluate

    _, data = _tiny_model_and_data()
    model = GravityMF(3, 3, 2, l2=0.0, l2_per_rating=0.1, gravity=0.05)
    rmse = evaluate(model, data)["rmse"]
    context = {"model": model, "data": data}
    assert "one number" in _verdict(capsys, "06.2", [rmse], **context)
    assert "set per_rating_model" in _verdict(capsys, "06.2", rmse, model=None, data=data)
    both = GravityMF(3, 3, 2, l2=0.15, l2_per_rating=0.04)
    assert "l2 = 0" in _verdict(capsys, "06.2", rmse, model=both, data=data)
    assert "not the RMSE" in _verdict(capsys, "06.2", rmse + 0.1, **context)
    assert ": correct" in _verdict(capsys, "06.2", rmse, **context)


def _ranged_models_and_data() -> tuple[dict[str, torch.nn.Module], object]:
    from utils.encode import RatingTensors
    from utils.models import BiasedMF

    torch.manual_seed(0)
    data = RatingTensors(torch.tensor([0, 1, 2, 0, 1]), torch.tensor([1, 0, 2, 2, 1]),
                         torch.tensor([5.0, 3.0, 5.0, 1.0, 4.0]))
    models = {name: BiasedMF(3, 3, 2, offset=0.5, y_range=y_range)
              for name, y_range in {"(0, 5)": (0.0, 5.0), "(0, 5.5)": (0.0, 5.5)}.items()}
    return models, data


def test_five_star_means(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.train import evaluate, predict

    models, data = _ranged_models_and_data()
    fives = data.subset(torch.tensor([0, 2]))
    means = {name: float(predict(m, fives.user_idx, fives.item_idx).mean())
             for name, m in models.items()}
    context = {"models": models, "data": data}
    assert "with the keys" in _verdict(capsys, "08.1", [1.0, 2.0], **context)
    swapped = {"(0, 5)": models["(0, 5.5)"], "(0, 5.5)": models["(0, 5)"]}
    assert "not squashed" in _verdict(capsys, "08.1", means, models=swapped, data=data)
    assert "five_star_models" in _verdict(capsys, "08.1", means, models={}, data=data)
    rmse = {**means, "(0, 5)": evaluate(models["(0, 5)"], fives)["rmse"]}
    assert "RMSE on the 5-star" in _verdict(capsys, "08.1", rmse, **context)
    overall = {**means, "(0, 5)": float(predict(models["(0, 5)"], data.user_idx,
                                                data.item_idx).mean())}
    assert "all ratings" in _verdict(capsys, "08.1", overall, **context)
    assert "not the mean" in _verdict(capsys, "08.1", {**means, "(0, 5.5)": 4.9}, **context)
    assert ": correct" in _verdict(capsys, "08.1", means, **context)


def test_zero_precision_stars(capsys: pytest.CaptureFixture[str]) -> None:
    truth = torch.tensor([0.5, 1.0, 3.0, 3.5, 4.0, 4.0])
    predicted = torch.tensor([3.0, 3.0, 3.0, 3.5, 3.5, 4.0])
    context = {"truth": truth, "predicted": predicted}
    assert "a list of star classes" in _verdict(capsys, "08.2", 0.5, **context)
    assert "number of stars" in _verdict(capsys, "08.2", ["half"], **context)
    assert "doubled classes" in _verdict(capsys, "08.2", [1, 2], **context)
    assert "not the classes" in _verdict(capsys, "08.2", [0.5], **context)
    assert ": correct" in _verdict(capsys, "08.2", [1.0, 0.5], **context)


def test_implicit_ndcg(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.encode import RatingTensors
    from utils.metrics import popularity_scorer, ranking_metrics

    seen = RatingTensors(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 0, 1]),
                         torch.tensor([4.0, 3.0, 5.0, 4.0]))
    heldout = RatingTensors(torch.tensor([0, 1, 2]), torch.tensor([2, 3, 3]),
                            torch.tensor([5.0, 4.0, 2.0]))
    scorer = popularity_scorer(torch.tensor([0, 0, 3, 3, 3, 2]), 4)
    context = {"scorer": scorer, "seen": seen, "heldout": heldout, "n_users": 3, "n_items": 4,
               "k": 2}
    means = ranking_metrics(scorer, seen, heldout, 3, 4, k=2).mean()
    assert means["ndcg@2"] != means["precision@2"]
    assert "one number" in _verdict(capsys, "08.3", "high", **context)
    assert "set rated_liked" in _verdict(capsys, "08.3", 0.5, **{**context, "scorer": None})
    assert "precision@2" in _verdict(capsys, "08.3", means["precision@2"], **context)
    assert "not the mean NDCG" in _verdict(capsys, "08.3", means["ndcg@2"] + 0.1, **context)
    assert ": correct" in _verdict(capsys, "08.3", means["ndcg@2"], **context)


def test_half_power_probs(capsys: pytest.CaptureFixture[str]) -> None:
    item_idx = torch.tensor([0, 0, 0, 0, 1, 2, 2])  # counts 4, 1, 2, 0
    counts = torch.tensor([4.0, 1.0, 2.0, 0.0])
    context = {"item_idx": item_idx, "n_items": 4}
    right = counts.sqrt() / counts.sqrt().sum()
    assert "as a tensor" in _verdict(capsys, "09.2", [0.25] * 4, **context)
    assert "one per film" in _verdict(capsys, "09.2", right[:3], **context)
    assert "sum to 1" in _verdict(capsys, "09.2", counts.sqrt(), **context)
    assert "uniform sampler" in _verdict(capsys, "09.2", torch.full((4,), 0.25), **context)
    assert "popularity-proportional" in _verdict(capsys, "09.2", counts / counts.sum(),
                                                 **context)
    three_quarters = counts**0.75 / (counts**0.75).sum()
    assert "power 0.75" in _verdict(capsys, "09.2", three_quarters, **context)
    assert "not proportional" in _verdict(capsys, "09.2", torch.tensor([0.4, 0.3, 0.3, 0.0]),
                                          **context)
    assert ": correct" in _verdict(capsys, "09.2", right.numpy(), **context)


def test_uncorrected_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    from utils.encode import IdEncoder, RatingTensors
    from utils.metrics import mf_scorer
    from utils.models import BiasedMF
    from utils.ranking import ImplicitData, leave_last_out_metrics

    torch.manual_seed(0)
    model = BiasedMF(3, 5, 2)
    train = RatingTensors(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.ones(3))
    heldout = RatingTensors(torch.tensor([0, 1, 2]), torch.tensor([3, 4, 0]), torch.ones(3))
    data = ImplicitData(IdEncoder.fit(pd.Series([1, 2, 3])),
                        IdEncoder.fit(pd.Series([1, 2, 3, 4, 5])), train, heldout)
    scores = leave_last_out_metrics(mf_scorer(model), train, heldout, 3, 5, 2)
    context = {"model": model, "data": data, "k": 2}
    assert "one share" in _verdict(capsys, "09.3", 47.0, **context)
    assert "set uncorrected_model" in _verdict(capsys, "09.3", 0.5, model=None, data=data)
    assert "uncorrected_data" in _verdict(capsys, "09.3", 0.5, model=model, data=None)
    assert "not the coverage" in _verdict(capsys, "09.3", scores["coverage@2"] / 2, **context)
    assert ": correct" in _verdict(capsys, "09.3", scores["coverage@2"], **context)


def test_sampled_hit_rates(capsys: pytest.CaptureFixture[str]) -> None:
    full = {"ml-100k": {"popularity": {"HR@10": 0.05}, "EASE": {"HR@10": 0.09}}}
    assert "with the keys" in _verdict(capsys, "09.4", {"popularity": 0.5}, full=full)
    assert "hit rates of" in _verdict(capsys, "09.4", {"ml-100k": {"EASE": 0.5}}, full=full)
    assert "one share" in _verdict(capsys, "09.4",
                                   {"ml-100k": {"popularity": 50, "EASE": 0.5}}, full=full)
    assert "against every film" in _verdict(capsys, "09.4",
                                            {"ml-100k": {"popularity": 0.05, "EASE": 0.5}},
                                            full=full)
    assert "can only raise" in _verdict(capsys, "09.4",
                                        {"ml-100k": {"popularity": 0.5, "EASE": 0.01}},
                                        full=full)
    assert ": correct" in _verdict(capsys, "09.4",
                                   {"ml-100k": {"popularity": 0.5, "EASE": 0.6}}, full=full)
