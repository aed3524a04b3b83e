"""Checks for the exercises: right or wrong and why, without printing the answer (every notebook).

A check cell calls `check_exercise("01.2", my_answer)`. An answer still `None` reports "not yet
answered" instead of failing, so a student edition runs top to bottom before anything is solved.
With `MF_COURSE_STRICT_CHECKS=1` a check that is not passed raises `AssertionError`: the course's
tests run the worked solutions that way, and nbgrader's autograder scores check cells that way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from utils.data import load_ratings
from utils.encode import SECONDS_PER_YEAR, encode_split, time_split

STRICT_ENV = "MF_COURSE_STRICT_CHECKS"

# A check returns (passed, why); `why` explains without giving the expected value away.
Check = Callable[..., tuple[bool, str]]
_CHECKS: dict[str, Check] = {}


def _register(key: str) -> Callable[[Check], Check]:
    def decorate(check: Check) -> Check:
        _CHECKS[key] = check
        return check

    return decorate


def check_exercise(key: str, answer: Any, **context: Any) -> None:
    """Print whether `answer` solves exercise `key` ("NN.M"), and why; see the module docstring."""
    if key not in _CHECKS:
        raise KeyError(f"no check for exercise {key!r}; the checks are {sorted(_CHECKS)}")
    if answer is None:
        passed, message = False, "not yet answered: write your answer in the cell above, run it"
    else:
        passed, why = _CHECKS[key](answer, **context)
        message = ("correct: " if passed else "not yet right: ") + why
    print(f"Exercise {key}: {message}")
    if not passed and os.environ.get(STRICT_ENV) == "1":
        raise AssertionError(f"exercise {key}: {message}")


def _metric_given_instead(
    value: float, scores: Any, names: tuple[str, ...], tolerance: float
) -> str | None:
    """The name among `names` whose score equals `value` (a common mix-up), or None."""
    return next((name for name in names if abs(value - scores[name]) < tolerance), None)


def _number(answer: Any) -> float | None:
    try:
        return float(answer)
    except (TypeError, ValueError):
        return None


@_register("01.1")
def _rows_kept_by_quantile(answer: Any, dataset: str = "ml-latest-small") -> tuple[bool, str]:
    if not isinstance(answer, dict) or not {0.7, 0.9} <= set(answer):
        return False, "give a dict {quantile: validation rows kept} with the keys 0.7 and 0.9"
    ratings = load_ratings(dataset)
    for quantile in (0.7, 0.9):
        train, valid = time_split(ratings, quantile)
        kept = len(encode_split(train, valid).valid)
        if answer[quantile] == len(valid):
            return False, (f"for {quantile} you gave every validation row; count only the rows "
                           "whose user and film both appear in training")
        if answer[quantile] != kept:
            return False, f"the rows kept for VALID_QUANTILE = {quantile} are off"
    return True, "the number of rows kept barely moves while the validation period shrinks"


@_register("01.2")
def _fallback_rmse(
    answer: Any, dataset: str = "ml-latest-small", quantile: float = 0.8
) -> tuple[bool, str]:
    rmse = _number(answer)
    if rmse is None:
        return False, f"give the RMSE as one number, not {type(answer).__name__}"
    ratings = load_ratings(dataset)
    train, valid = time_split(ratings, quantile)
    seen = valid["user_id"].isin(train["user_id"]) & valid["item_id"].isin(train["item_id"])
    dropped = valid.loc[~seen, "rating"].to_numpy(np.float64)
    best_constant = dropped.std()  # the RMSE of the dropped rows' own mean: no constant beats it
    from_training = np.sqrt(np.mean((dropped - train["rating"].mean()) ** 2))
    if rmse < best_constant - 1e-4:
        return False, ("no single number reaches an RMSE this low on those rows: did you score "
                       "all validation rows, or use more than one number?")
    if abs(rmse - from_training) > 0.01:
        return False, ("a single number learned from the training ratings does better: which "
                       "number minimises the squared error on the data you can see?")
    return True, "about a star off on average, far worse than a model that knows the user"


@_register("01.3")
def _sparsity_100k(answer: Any) -> tuple[bool, str]:
    sparsity = _number(answer)
    if sparsity is None or not 0 <= sparsity <= 1:
        return False, "give the sparsity as a fraction between 0 and 1 (0.5, not 50 %)"
    ratings = load_ratings("ml-100k")
    cells = ratings["user_id"].nunique() * ratings["item_id"].nunique()
    if abs(sparsity - (1 - len(ratings) / cells)) > 5e-4:
        return False, "compare with 1 − ratings / (users × films) for ml-100k"
    return True, "ml-100k is denser: fewer films, and every user rated at least 20 of them"


@_register("02.1")
def _summed_over_batch_shape(answer: Any, n_factors: int = 3) -> tuple[bool, str]:
    if not isinstance(answer, tuple | torch.Size):
        return False, "give the shape as a tuple, e.g. tuple(tensor.shape)"
    if tuple(answer) != (n_factors,):
        return False, "summing over dim=0 removes the batch dimension, not the factor one"
    return True, "one number per factor: the ratings of the batch were added together"


@_register("02.2")
def _einsum_predictions(
    answer: Any, user_vecs: torch.Tensor, item_vecs: torch.Tensor
) -> tuple[bool, str]:
    if not isinstance(answer, torch.Tensor):
        return False, f"give the predictions as a tensor, not {type(answer).__name__}"
    expected = (user_vecs * item_vecs).sum(dim=1)
    if answer.shape != expected.shape:
        return False, (f"shape {tuple(answer.shape)}, expected one prediction per rating "
                       f"{tuple(expected.shape)}: which index may appear in the output?")
    if not torch.allclose(answer, expected, atol=1e-6):
        return False, "the right shape, but the values differ from the row-wise dot products"
    return True, "the subscripts say it all: multiply along k, keep b"


@_register("03.4")
def _adam_history(
    answer: Any, reference: Any, lr_steps: dict[int, float] | None = None
) -> tuple[bool, str]:
    columns = ["train_loss", "valid_mse"]
    if not hasattr(answer, "columns") or not set(columns) <= set(answer.columns):
        return False, "give a DataFrame with the columns train_loss and valid_mse"
    if len(answer) == 0 or not set(answer.index) <= set(reference.index):
        return False, "index the rows by epoch, 1, 2, ..., as fit's history is"
    expected = reference.loc[answer.index, columns].to_numpy(np.float64)
    given = answer[columns].to_numpy(np.float64)
    close = np.isclose(given, expected, rtol=1e-5, atol=1e-7).all(axis=1)
    if close.all():
        return True, "the hand-driven loop and fit take exactly the same steps"
    first_off = answer.index[int(np.argmin(close))]
    if lr_steps and first_off in lr_steps:
        return False, (f"the histories part at epoch {first_off}: is the learning rate changed "
                       "at the start of the epochs of LR_STEPS?")
    if first_off == answer.index[0]:
        return False, ("the first epoch already differs: start from the same seed, model, "
                       "optimiser (Adam, lr, weight decay), generator and one full batch")
    return False, f"the histories part at epoch {first_off}"


@_register("05.1")
def _user_clock_weights(answer: Any, frame: Any, years: float = 10.0) -> tuple[bool, str]:
    if not isinstance(answer, torch.Tensor | np.ndarray):
        return False, f"give the weights as a tensor, not {type(answer).__name__}"
    weights = np.asarray(answer.cpu() if isinstance(answer, torch.Tensor) else answer,
                         dtype=np.float64).reshape(-1)
    if len(weights) != len(frame):
        return False, (f"{len(weights):,} weights for {len(frame):,} training rows: give one "
                       "weight per row of train_frame, in its order")
    seconds = frame["timestamp"].to_numpy(np.float64)
    newest = frame.groupby("user_id")["timestamp"].transform("max").to_numpy(np.float64)
    expected = np.exp(-(newest - seconds) / SECONDS_PER_YEAR / years)
    expected /= expected.mean()
    global_clock = np.exp(-(seconds.max() - seconds) / SECONDS_PER_YEAR / years)
    if np.allclose(weights, global_clock / global_clock.mean(), rtol=1e-4):
        return False, "these are the global clock's weights: count each age from the user's newest"
    if abs(weights.mean() - 1) > 1e-3:
        return False, "scale the weights to a mean of 1, so that lr and weight decay keep meaning"
    if not np.allclose(weights, expected, rtol=1e-4):
        return False, (f"the mean is 1 but the weights differ: is the time constant {years:g} "
                       "years, and the age in years, not seconds?")
    return True, "on their own clock most users' ratings are recent, so most weights are near 1"


# Lesson 07: answers are recomputed from the student's own trained models, never from a stored
# number, so a check holds on any machine and for any seed.
def _rmse_and_mse(model: torch.nn.Module, data: Any) -> tuple[float, float]:
    from utils.train import evaluate  # the training module is only needed by these checks

    scores = evaluate(model, data)
    return scores["rmse"], scores["mse"]


def _scored_like(value: float, model: torch.nn.Module, data: Any, what: str) -> tuple[bool, str]:
    rmse, mse = _rmse_and_mse(model, data)
    if abs(value - mse) < 1e-4 and abs(rmse - mse) > 1e-3:
        return False, f"{what}: that is the mean squared error; take its square root"
    if abs(value - rmse) > 1e-4:
        return False, (f"{what}: not the RMSE of that model on the ratings it is scored on "
                       "(the epoch's training loss is not a test score)")
    return True, ""


@_register("07.1")
def _rmse_by_change(
    answer: Any, models: dict[str, torch.nn.Module], data: Any
) -> tuple[bool, str]:
    if not isinstance(answer, dict):
        return False, f"give a dict {{change: test RMSE}}, not {type(answer).__name__}"
    if set(answer) != set(models):
        return False, f"give one test RMSE for each change: the keys {sorted(models)}"
    for change, model in models.items():
        value = _number(answer[change])
        if value is None:
            return False, f"{change}: give the test RMSE as one number"
        passed, why = _scored_like(value, model, data, change)
        if not passed:
            return False, why
    return True, "each number is the test RMSE of its model; compare them with DeepMF's"


@_register("07.3")
def _mlp_alone_rmse(answer: Any, model: torch.nn.Module | None, data: Any) -> tuple[bool, str]:
    value = _number(answer)
    if value is None:
        return False, f"give the slice RMSE as one number, not {type(answer).__name__}"
    if model is None:
        return False, "set mlp_alone_model to the model you scored, so the check can score it"
    passed, why = _scored_like(value, model, data, "the chosen model")
    return passed, why or "the MLP branch alone, scored where the settings were chosen"


# Lesson 04: the answers are recomputed from the student's own models and data, never from a
# stored number. The time split reports an MSE, the slice and the random split an RMSE.
def _validation_mse_like(
    value: float, model: torch.nn.Module, data: Any, what: str
) -> tuple[bool, str]:
    rmse, mse = _rmse_and_mse(model, data)
    if abs(value - rmse) < 1e-4 and abs(rmse - mse) > 1e-3:
        return False, f"{what}: that is the RMSE; the time split is reported as an MSE"
    if abs(value - mse) > 1e-4:
        return False, f"{what}: not the MSE of that model on the validation ratings"
    return True, ""


@_register("04.1")
def _ablation_mse(
    answer: Any, models: dict[str, torch.nn.Module], data: Any
) -> tuple[bool, str]:
    names = {"no biases", "no offset"}
    if not isinstance(answer, dict) or set(answer) != names:
        return False, 'give a dict {"no biases": MSE, "no offset": MSE}'
    if set(models) != names:
        return False, "put the two models you scored in ablation_models, under the same keys"
    for name, model in models.items():
        has_offset = float(getattr(model, "offset", 0.0)) != 0.0
        if name == "no biases" and (getattr(model, "biases", True) or not has_offset):
            return False, "no biases: build the model with biases=False and keep the offset"
        if name == "no offset" and (not getattr(model, "biases", False) or has_offset):
            return False, "no offset: keep the biases and set offset to 0"
        if not getattr(model, "l2", 0.0):
            return False, f"{name}: keep the per-rating penalty (a RegularizedMF with l2 > 0)"
        value = _number(answer[name])
        if value is None:
            return False, f"{name}: give the validation MSE as one number"
        passed, why = _validation_mse_like(value, model, data, name)
        if not passed:
            return False, why
    return True, "compare each with the full model (a): what does each part add?"


@_register("04.2")
def _no_range_rmse(
    answer: Any, model: torch.nn.Module | None, data: Any, mean_rating: float
) -> tuple[bool, str]:
    value = _number(answer)
    if value is None:
        return False, f"give the slice RMSE as one number, not {type(answer).__name__}"
    if model is None:
        return False, "set no_range_model to the model you scored, so the check can score it"
    if getattr(model, "y_range", None) is not None:
        return False, "the model still squashes its output: build it with y_range=None"
    offset = float(getattr(model, "offset", 0.0))
    if abs(offset - mean_rating) > 0.05:
        return False, ("without a sigmoid the offset is the mean rating itself, not its logit "
                       "(sigmoid_offset is only for a model with a range)")
    passed, why = _scored_like(value, model, data, "the chosen model")
    return passed, why or "the weight decay chosen without a range, scored on the slice"


@_register("04.3")
def _top_by_average(
    answer: Any, data: Any, n_items: int, min_count: int, k: int = 10
) -> tuple[bool, str]:
    try:
        given = torch.as_tensor(np.asarray(answer.cpu() if isinstance(answer, torch.Tensor)
                                           else answer, dtype=np.int64)).reshape(-1)
    except (TypeError, ValueError):
        return False, "give the films as item indices (item_idx), e.g. a tensor of integers"
    if len(given) != k:
        return False, f"give {k} films, not {len(given)}"
    if given.min() < 0 or given.max() >= n_items:
        return False, "some numbers are not item indices of the model (item_idx, not item_id)"
    item_idx, ratings = data.item_idx.cpu(), data.ratings.cpu().double()
    counts = torch.bincount(item_idx, minlength=n_items)
    averages = torch.bincount(item_idx, weights=ratings, minlength=n_items) / counts.clamp(min=1)
    if (counts[given] < min_count).any():
        return False, f"some of these films have fewer than {min_count} training ratings"
    eligible = torch.where(counts >= min_count, averages, torch.nan)
    highest = eligible.nan_to_num(-torch.inf).topk(k).values
    lowest = eligible.nan_to_num(torch.inf).topk(k, largest=False).values
    mine = averages[given]
    if torch.allclose(mine.sort().values, lowest.sort().values):
        return False, "these are the lowest averages; rank from the highest"
    if not torch.allclose(mine.sort(descending=True).values, highest):
        return False, "not the highest averages of the training ratings among those films"
    if not torch.allclose(mine, highest):
        return False, "the right films, but list them from the highest average down"
    return True, "now set the two top 10s side by side with the films' biases"


@_register("04.4")
def _three_way_weights(answer: Any, models: list[torch.nn.Module], data: Any) -> tuple[bool, str]:
    from utils.train import predict  # the training module is only needed by these checks

    try:
        weights = torch.as_tensor(np.asarray(answer, dtype=np.float64)).reshape(-1)
    except (TypeError, ValueError):
        return False, "give the weights as three numbers: ((a), (b), plain MF)"
    if len(models) != 3:
        return False, "put the three models you blended in slice_models: (a), (b), plain MF"
    if len(weights) != 3:
        return False, f"give one weight per model, three in all, not {len(weights)}"
    if (weights < 0).any() or abs(float(weights.sum()) - 1) > 1e-6:
        return False, "the weights of an average are at least 0 and sum to 1"
    predictions = torch.stack([predict(m, data.user_idx, data.item_idx).double().cpu()
                               for m in models])  # (3, N)
    ratings = data.ratings.double().cpu()

    def rmse(w: torch.Tensor) -> torch.Tensor:
        return ((w @ predictions - ratings) ** 2).mean(-1).sqrt()

    steps = 20
    grid = torch.tensor([(a, b, steps - a - b) for a in range(steps + 1)
                         for b in range(steps + 1 - a)], dtype=torch.float64) / steps  # (G, 3)
    if float(rmse(weights)) > float(rmse(grid).min()) + 5e-4:
        return False, "other weights give a clearly lower RMSE on the slice: search the grid"
    return True, "the best average on the slice, never on the validation ratings"


# Lesson 06: the models work on centred ratings (the training mean subtracted).
@_register("06.1")
def _unrated_mean_square(
    answer: Any, model: torch.nn.Module | None, rated: torch.Tensor, train_mean: float
) -> tuple[bool, str]:
    from utils.train import predict  # the training module is only needed by these checks

    value = _number(answer)
    if value is None:
        return False, f"give the mean square as one number, not {type(answer).__name__}"
    if model is None:
        return False, "set interaction_model to the model you scored, so the check can score it"
    if getattr(model, "gravity_on", None) != "interaction" or not getattr(model, "gravity", 0):
        return False, 'the model should have gravity (> 0) with gravity_on="interaction"'
    n_items = model.item_emb.num_embeddings
    pairs = torch.arange(len(rated), device=rated.device)  # (n_users * n_items,)
    centred = predict(model, pairs // n_items, pairs % n_items).to(rated.device)
    unrated = float((centred[~rated] ** 2).mean())
    if abs(value - float((centred**2).mean())) < 1e-4 < abs(value - unrated):
        return False, "that is over all pairs; keep only the pairs nobody rated"
    if abs(value - float(((centred[~rated] + train_mean) ** 2).mean())) < 1e-3:
        return False, "square the centred predictions, without the training mean added back"
    if abs(value - unrated) > 1e-4:
        return False, "not the mean square of that model's centred predictions on unrated pairs"
    return True, "compare it with the two models of section 7, L2 only and L2 + gravity"


@_register("06.2")
def _per_rating_alone_rmse(
    answer: Any, model: torch.nn.Module | None, data: Any
) -> tuple[bool, str]:
    value = _number(answer)
    if value is None:
        return False, f"give the slice RMSE as one number, not {type(answer).__name__}"
    if model is None:
        return False, "set per_rating_model to the model you scored, so the check can score it"
    if getattr(model, "l2", None) != 0 or not getattr(model, "l2_per_rating", 0):
        return False, "the per-rating L2 alone: l2 = 0 and l2_per_rating > 0"
    passed, why = _scored_like(value, model, data, "the chosen model")
    return passed, why or "the per-rating L2 alone, scored on the tuning slice"


# Lesson 08: the checks score the student's own models and scorer again, on the data they name.
@_register("08.1")
def _five_star_means(
    answer: Any, models: dict[str, torch.nn.Module], data: Any
) -> tuple[bool, str]:
    from utils.train import evaluate, predict

    ranges = {"(0, 5)": (0.0, 5.0), "(0, 5.5)": (0.0, 5.5)}
    if not isinstance(answer, dict) or set(answer) != set(ranges):
        return False, f"give a dict {{range: mean prediction}} with the keys {sorted(ranges)}"
    if set(models) != set(ranges):
        return False, f"put your two trained models in five_star_models, under {sorted(ranges)}"
    fives = data.subset(torch.nonzero(data.ratings == 5.0).squeeze(1))
    for name, y_range in ranges.items():
        model = models[name]
        if tuple(getattr(model, "y_range", None) or ()) != y_range:
            return False, f"the model under {name!r} is not squashed into the range {name}"
        value = _number(answer[name])
        if value is None:
            return False, f"{name}: give the mean prediction as one number"
        on_fives = predict(model, fives.user_idx, fives.item_idx).double()
        if abs(value - float(on_fives.mean())) < 1e-4:
            continue
        if abs(value - evaluate(model, fives)["rmse"]) < 1e-4:
            return False, f"{name}: that is the RMSE on the 5-star ratings, not their prediction"
        if abs(value - float(on_fives.max())) < 1e-4:
            return False, f"{name}: that is the highest prediction; give the mean"
        every = predict(model, data.user_idx, data.item_idx).double()
        if abs(value - float(every.mean())) < 1e-4:
            return False, f"{name}: that is the mean over all ratings; keep the 5-star ones"
        return False, (f"{name}: not the mean prediction of that model for the validation "
                       "ratings of 5 stars")
    return True, "both means are those of your models; compare them with 5"


@_register("08.2")
def _zero_precision_stars(answer: Any, truth: Any, predicted: Any) -> tuple[bool, str]:
    from utils.metrics import per_label_scores

    if isinstance(answer, str) or not hasattr(answer, "__iter__"):
        return False, f"give a list of star classes such as [2.0, 4.5], not {answer!r}"
    given = {_number(star) for star in answer}
    if None in given:
        return False, "give each star class as a number of stars, such as 2.0 or 4.5"
    table = per_label_scores(predicted, truth)  # the predictions first, as in Lam's post
    expected = {float(star) for star in table.index[table["precision"] == 0]}
    if given and given == {2 * star for star in expected}:
        return False, "these are the doubled classes (1 to 10); give stars (0.5 to 5)"
    if given != expected:
        return False, ("not the classes whose precision is 0 when the predictions are the "
                       "first argument: per_label_scores(rounded, truth)")
    return True, "with the predictions first, precision is the recall of the right order"


@_register("08.3")
def _implicit_ndcg(
    answer: Any, scorer: Any, seen: Any, heldout: Any, n_users: int, n_items: int,
    k: int = 10, threshold: float = 4.0,
) -> tuple[bool, str]:
    from utils.metrics import ranking_metrics

    value = _number(answer)
    if value is None:
        return False, f"give NDCG@{k} as one number, not {type(answer).__name__}"
    if scorer is None:
        return False, "set rated_liked to the scorer you ranked with, so the check can rank again"
    table = ranking_metrics(scorer, seen, heldout, n_users, n_items, k=k, threshold=threshold)
    means = table[[f"precision@{k}", f"recall@{k}", f"ndcg@{k}"]].mean()
    if abs(value - means[f"ndcg@{k}"]) < 1e-6:
        return True, "your rule's NDCG on the validation set: compare it with the lesson's rules"
    other = _metric_given_instead(value, means, (f"precision@{k}", f"recall@{k}"), 1e-6)
    if other:
        return False, f"that is the mean {other} of your rule; give its NDCG@{k}"
    return False, (f"not the mean NDCG@{k} of your scorer over the validation users (rank "
                   "against the training ratings, as rank() does)")


# Lesson 09: a drawing distribution is recomputed from the counts; a trained model is ranked
# again on the data it was scored on.
@_register("09.2")
def _half_power_probs(
    answer: Any, item_idx: torch.Tensor, n_items: int, power: float = 0.5
) -> tuple[bool, str]:
    if not isinstance(answer, torch.Tensor | np.ndarray):
        return False, f"give the probabilities as a tensor, not {type(answer).__name__}"
    probs = torch.as_tensor(answer, dtype=torch.float64).reshape(-1).cpu()
    if len(probs) != n_items:
        return False, f"{len(probs):,} probabilities for {n_items:,} films: give one per film"
    if (probs < 0).any() or abs(float(probs.sum()) - 1) > 1e-4:
        return False, "probabilities are at least 0 and sum to 1: divide by their sum"
    counts = torch.bincount(item_idx.cpu(), minlength=n_items).double()

    def shares(exponent: float) -> torch.Tensor:
        weights = counts**exponent if exponent else torch.ones_like(counts)
        return weights / weights.sum()

    for exponent, name in ((0.0, "uniform"), (1.0, "popularity-proportional"),
                           (0.75, "word2vec's power 0.75")):
        if exponent != power and torch.allclose(probs, shares(exponent), atol=1e-7):
            return False, f"this is the {name} sampler; raise the counts to the power {power}"
    if not torch.allclose(probs, shares(power), rtol=1e-3, atol=1e-9):
        return False, (f"not proportional to the films' training counts to the power {power} "
                       "(count the films of the training rows you train on)")
    return True, "between uniform and popularity: popular films are drawn less than in proportion"


@_register("09.3")
def _uncorrected_coverage(
    answer: Any, model: torch.nn.Module | None, data: Any | None, k: int = 10
) -> tuple[bool, str]:
    from utils.metrics import mf_scorer
    from utils.ranking import leave_last_out_metrics

    value = _number(answer)
    if value is None or not 0 <= value <= 1:
        return False, "give coverage@k as one share between 0 and 1"
    if model is None or data is None:
        return False, ("set uncorrected_model and uncorrected_data to the model you scored and "
                       "its data, so the check can rank it")
    scores = leave_last_out_metrics(mf_scorer(model), data.train, data.heldout, data.n_users,
                                    data.n_items, k)
    if abs(value - scores[f"coverage@{k}"]) < 1e-9:
        return True, "the coverage of your model's lists: compare it with the corrected run"
    other = _metric_given_instead(value, scores, (f"HR@{k}", f"NDCG@{k}"), 1e-9)
    if other:
        return False, f"that is the model's {other}; give its coverage@{k}"
    return False, (f"not the coverage@{k} of that model's lists on the data it is scored on "
                   "(the share of the catalogue in at least one user's top k)")


@_register("09.4")
def _sampled_hit_rates(
    answer: Any, full: dict[str, dict[str, dict[str, float]]], k: int = 10
) -> tuple[bool, str]:
    models = ("popularity", "EASE")
    if not isinstance(answer, dict) or set(answer) != set(full):
        return False, f"give a dict {{dataset: {{model: HR@{k}}}}} with the keys {sorted(full)}"
    for dataset, rates in answer.items():
        if not isinstance(rates, dict) or not set(models) <= set(rates):
            return False, f"{dataset}: give the hit rates of {list(models)}"
        for model in models:
            value, on_all = _number(rates[model]), full[dataset][model][f"HR@{k}"]
            if value is None or not 0 <= value <= 1:
                return False, f"{dataset}, {model}: give HR@{k} as one share between 0 and 1"
            if abs(value - on_all) < 1e-9:
                return False, (f"{dataset}, {model}: that is the hit rate against every film; "
                               "rank the held-out film against 100 sampled ones")
            if value < on_all:
                return False, (f"{dataset}, {model}: lower than against every film, but fewer "
                               "competitors can only raise the held-out film's rank")
    return True, "each sampled hit rate is far above the full one; compare the two models' order"
