"""The contenders: course models (from utils) and peers (scikit-surprise, cornac)."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from bench.common import NDCG_K, NDCG_THRESHOLD, Predict
from bench.splits import Split
from utils.deep import DeepMF, NeuMF
from utils.encode import (
    RatingTensors,
    recency_weights,
)
from utils.gravity import GravityMF
from utils.metrics import ranking_metrics
from utils.models import BiasedMF, DotProductMF, HybridMF, RegularizedMF, sigmoid_offset
from utils.selection import retrain, tune_on_slice
from utils.speed import fit_sgd
from utils.train import fit, predict


def pair_scorer(predict_fn: Predict, n_items: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Score every item for a chunk of users with any pairwise predictor (for NDCG@k)."""

    def score(user_idx: torch.Tensor) -> torch.Tensor:
        users = user_idx.repeat_interleave(n_items)  # (B * I,)
        items = torch.arange(n_items).repeat(len(user_idx))  # (B * I,)
        return predict_fn(users, items).float().reshape(len(user_idx), n_items)  # (B, I)

    return score


@dataclass
class Fitted:
    """A trained model: how long `fit` took and how it predicts (encoded ids)."""

    seconds: float
    predict: Predict  # for RMSE/MAE on the test rows (as the library itself predicts)
    rank: Predict  # unclipped scores, for NDCG@10
    n_epochs: int | None = None


@dataclass
class CourseModel:
    """A utils model trained with utils.train.fit; `grid` entries mix model and fit settings."""

    name: str
    build: Callable[[Split, dict[str, Any]], nn.Module]
    grid: list[dict[str, Any]]
    max_epochs: int
    source: str
    kind: str = "course"
    note: str = ""

    def build_for(self, split: Split) -> Callable[..., tuple[nn.Module, dict[str, Any]]]:
        """build(**hp) for utils.selection: the model of a grid entry, and its fit settings."""

        def build(**hp: Any) -> tuple[nn.Module, dict[str, Any]]:
            return self.build(split, hp), _fit_settings(split, hp)

        return build

    def train(self, split: Split, hp: dict[str, Any], seed: int,
              n_epochs: int) -> tuple[Fitted, pd.DataFrame]:
        """Seed, build and fit one grid entry on the split's training rows (utils.selection)."""
        started = time.perf_counter()
        model, history = retrain(self.build_for(split), hp, split.train_t, n_epochs, seed=seed,
                                 fit_fn=_fit)
        seconds = time.perf_counter() - started

        def run(user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
            return predict(model, user_idx, item_idx)

        return Fitted(seconds, run, run, n_epochs), history

    def tune(self, split: Split) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Every grid entry for max_epochs on the tuning slice; best (entry, epoch) by RMSE."""
        search = tune_on_slice(self.build_for(split), self.grid, split.train_t, split.test_t,
                               max_epochs=self.max_epochs, patience=None, seed=0, fit_fn=_fit)
        trials = [{**hp, "n_epochs": int(trial.n_epochs),
                   "slice_rmse": round(float(trial.slice_rmse), 4)}
                  for hp, trial in zip(search.settings, search.trials.itertuples(), strict=True)]
        best = min(trials, key=lambda t: t["slice_rmse"])
        return best, trials


def _fit_settings(split: Split, hp: dict[str, Any]) -> dict[str, Any]:
    """The `fit` (or `fit_sgd`) arguments a grid entry holds; JSON keys of lr_steps made ints."""
    if hp.get("optimizer") == "hand-written sgd":  # utils.speed's fast path
        return {"optimizer": hp["optimizer"], "lr": hp["lr"], "wd": hp["wd"],
                "batch_size": hp["batch_size"]}
    lr_steps = {int(k): v for k, v in hp.get("lr_steps", {}).items()} or None
    weights = (recency_weights(split.encoded.train["timestamp"], hp["recency_years"])
               if hp.get("recency_years") else None)
    return {"lr": hp["lr"], "wd": hp.get("wd", 0.0), "bias_wd": hp.get("bias_wd"),
            "optimizer": hp.get("optimizer", "adam"), "lr_steps": lr_steps,
            "batch_size": hp.get("batch_size"), "sample_weights": weights}


def _fit(model: nn.Module, train: RatingTensors, valid: RatingTensors | None, *,
         optimizer: str, **settings: Any) -> pd.DataFrame:
    """utils.train.fit, or utils.speed.fit_sgd for the "hand-written sgd" optimizer."""
    if optimizer == "hand-written sgd":
        return fit_sgd(model, train, valid, **settings)
    return fit(model, train, valid, optimizer=optimizer, **settings)


def _mf(split: Split, hp: dict[str, Any]) -> nn.Module:
    return DotProductMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                        init=hp.get("init", "uniform"))


def _biased(split: Split, hp: dict[str, Any]) -> nn.Module:
    y_range = None
    if hp.get("y_range"):
        y_range = (0.0, split.scale[1] + 0.5)  # Lam's post's (0, max + 0.5)
    # With a y_range the offset sits inside the sigmoid: its logit makes a fresh model
    # predict the training mean (utils.models.sigmoid_offset, notebook 04).
    offset = sigmoid_offset(split.global_mean, y_range) if hp.get("offset", True) else 0.0
    return BiasedMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                    init=hp.get("init", "uniform"), biases=hp.get("biases", True),
                    offset=offset, y_range=y_range)


def _hybrid(split: Split, hp: dict[str, Any]) -> nn.Module:
    y_range = (0.0, split.scale[1] + 0.5)
    return HybridMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                    split.film_features, y_range=y_range,
                    offset=sigmoid_offset(split.global_mean, y_range))


def _regularized(split: Split, hp: dict[str, Any]) -> nn.Module:
    y_range = (0.0, split.scale[1] + 0.5) if hp.get("y_range") else None
    return RegularizedMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                         l2=hp["l2"], bias_l2=hp["bias_l2"], y_range=y_range,
                         offset=sigmoid_offset(split.global_mean, y_range))


def _gravity(split: Split, hp: dict[str, Any]) -> nn.Module:
    return GravityMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                     l2=hp["l2"], gravity=hp["gravity"], offset=split.global_mean)


def _deep(split: Split, hp: dict[str, Any]) -> nn.Module:
    return DeepMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                  tuple(hp["hidden"]), init=hp.get("init", "normal"),
                  biases=hp.get("biases", False),
                  offset=split.global_mean if hp.get("biases") else 0.0)


def _neumf(split: Split, hp: dict[str, Any]) -> nn.Module:
    return NeuMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                 hp["n_factors"], tuple(hp["hidden"]), dropout=hp.get("dropout", 0.0),
                 offset=split.global_mean)


MINIBATCH = {"optimizer": "adam", "lr": 1e-2, "batch_size": 4096}  # most grids' minibatch Adam


def course_models(smoke: bool) -> list[CourseModel]:
    """The ten course models and their small tuning grids (smoke: three of them, 2 epochs)."""
    models = [
        CourseModel("MF (dot product)", _mf, [
            {"n_factors": 50, "wd": wd, **MINIBATCH} for wd in (1e-5, 1e-4)
        ], 20, "utils.models.DotProductMF"),
        CourseModel("MF+bias", _biased, [
            {"n_factors": 50, "wd": wd, **MINIBATCH} for wd in (1e-4, 3e-4, 6e-4)
        ], 20, "utils.models.BiasedMF"),
        CourseModel("MF+bias, fast SGD", _biased, [
            {"n_factors": n_factors, "optimizer": "hand-written sgd", "lr": lr, "wd": wd,
             "batch_size": 4096}
            for n_factors, lr, wd in ((50, 0.01, 0.05), (50, 0.005, 0.02), (100, 0.01, 0.1))
        ], 40, "utils.models.BiasedMF + utils.speed.fit_sgd (notebook 07)"),
        CourseModel("MF+bias, per-rating L2", _regularized, [
            {"n_factors": 50, "l2": l2, "bias_l2": 0.03, **MINIBATCH} for l2 in (0.03, 0.1, 0.3)
        ], 20, "utils.models.RegularizedMF (notebook 04)"),
        CourseModel("gravity MF", _gravity, [
            {"n_factors": 32, "l2": l2, "gravity": g, "lr": 0.05, "optimizer": "adamw",
             "batch_size": None}
            for l2, g in ((0.1, 1.0), (1.0, 1.0), (1.0, 0.1))
        ], 120, "utils.gravity.GravityMF"),
        CourseModel("DeepMF", _deep, [
            {"n_factors": 10, "hidden": [10, 5], "init": "normal", "biases": False,
             "lr": 1e-3, "wd": 1e-5, "optimizer": "adam", "batch_size": 512},
            {"n_factors": 32, "hidden": [32, 16], "init": "uniform", "biases": True,
             "wd": 1e-4, **MINIBATCH},
        ], 20, "utils.deep.DeepMF"),
        CourseModel("NeuMF-style fused", _neumf, [
            {"n_factors": 16, "hidden": [32, 16, 8], "dropout": d, "wd": 1e-4, **MINIBATCH}
            for d in (0.0, 0.2)
        ], 20, "utils.deep.NeuMF"),
        CourseModel("advanced switchable MF", _biased, [
            {"n_factors": 30, "init": "uniform", "y_range": y_range, "optimizer": "adam",
             "lr": 1e-2, "lr_steps": {5: 2e-3}, "wd": wd, "bias_wd": 0.0, "batch_size": 2048}
            for y_range, wd in ((True, 1e-4), (True, 3e-4), (False, 3e-4))
        ], 20, "utils.models.BiasedMF (init/biases/y_range switches; notebook 08's recipe)"),
        CourseModel("MF+bias, recency-weighted", _biased, [
            {"n_factors": 30, "init": "uniform", "y_range": True, "optimizer": "adam",
             "lr": 1e-2, "lr_steps": {5: 2e-3}, "wd": 3e-4, "bias_wd": 1e-3,
             "recency_years": years, "batch_size": 2048}
            for years in (10.0, 20.0)
        ], 20, "utils.models.BiasedMF + utils.encode.recency_weights (notebook 05's time-split "
               "recipe)"),
        CourseModel("MF+bias, genres + year", _hybrid, [
            {"n_factors": n_factors, "optimizer": "adam", "lr": 1e-2, "lr_steps": {5: 2e-3},
             "wd": 3e-4, "bias_wd": 1e-3, "batch_size": 2048}
            for n_factors in (30, 50)
        ], 20, "utils.models.HybridMF + utils.encode.item_features (notebook 05)"),
    ]
    return _smoke_courses(models) if smoke else models


def _smoke_courses(models: list[CourseModel]) -> list[CourseModel]:
    """Three of the course models, their first grid entry, 2 epochs."""
    models = [models[1], models[2], models[-1]]
    for model in models:
        model.grid, model.max_epochs = model.grid[:1], 2
    return models


def _ids(split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = split.encoded.train
    return (frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy(),
            frame["rating"].to_numpy(dtype=np.float64))


def _vectorised(mu: float, bu: np.ndarray, bi: np.ndarray, pu: np.ndarray | None,
                qi: np.ndarray | None, u_map: np.ndarray, i_map: np.ndarray,
                scale: tuple[float, float]) -> tuple[Predict, Predict]:
    """mu + b_u + b_i + p_u . q_i over encoded ids; clipped, it is what the peer predicts."""

    def rank(user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        u, i = u_map[user_idx.cpu().numpy()], i_map[item_idx.cpu().numpy()]
        est = mu + bu[u] + bi[i]
        if pu is not None and qi is not None:
            est = est + np.einsum("nk,nk->n", pu[u], qi[i])
        return torch.as_tensor(est, dtype=torch.float32)

    def clipped(user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        return rank(user_idx, item_idx).clamp(*scale)

    return clipped, rank


@dataclass
class PeerModel:
    """A library model: `train` fits it on the same encoded training rows as the course models."""

    name: str
    library: str
    grid: list[dict[str, Any]]
    train_fn: Callable[[Split, dict[str, Any], int], Fitted]
    kind: str = "peer"
    note: str = ""

    def train(self, split: Split, hp: dict[str, Any], seed: int) -> Fitted:
        return self.train_fn(split, {k: v for k, v in hp.items() if k != "slice_rmse"}, seed)

    def tune(self, split: Split) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        trials = []
        for hp in self.grid:
            fitted = self.train(split, hp, 0)
            test = split.test_t
            error = fitted.predict(test.user_idx, test.item_idx) - test.ratings
            trials.append({**hp, "slice_rmse": round(float(error.pow(2).mean().sqrt()), 4)})
        return min(trials, key=lambda t: t["slice_rmse"]), trials


def _surprise(algo_name: str) -> Callable[[Split, dict[str, Any], int], Fitted]:
    """A picklable trainer for one scikit-surprise algorithm (it may run in a worker process)."""
    return functools.partial(_surprise_train, algo_name)


def _surprise_train(algo_name: str, split: Split, hp: dict[str, Any], seed: int) -> Fitted:
    import surprise
    from scipy import sparse

    users, items, ratings = _ids(split)
    frame = pd.DataFrame({"u": users, "i": items, "r": ratings})
    reader = surprise.Reader(rating_scale=split.scale)
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    hp = dict(hp)
    if algo_name == "BaselineOnly":
        algo = surprise.BaselineOnly(bsl_options=hp, verbose=False)
    else:
        algo = getattr(surprise, algo_name)(random_state=seed, **hp)
    started = time.perf_counter()
    algo.fit(trainset)
    seconds = time.perf_counter() - started
    u_map = np.array([trainset.to_inner_uid(u) for u in range(split.encoded.n_users)])
    i_map = np.array([trainset.to_inner_iid(i) for i in range(split.encoded.n_items)])
    if algo_name == "BaselineOnly":
        pu = qi = None
    else:
        pu, qi = algo.pu, algo.qi
    if algo_name == "SVDpp":  # p_u + |N(u)|^-1/2 sum_j y_j, as surprise's estimate()
        rows = [u for u in range(trainset.n_users) for _ in trainset.ur[u]]
        cols = [j for u in range(trainset.n_users) for j, _ in trainset.ur[u]]
        counts = np.array([len(trainset.ur[u]) for u in range(trainset.n_users)])
        weights = 1.0 / np.sqrt(counts[rows])
        implicit = sparse.csr_matrix((weights, (rows, cols)),
                                     shape=(trainset.n_users, trainset.n_items))
        pu = pu + implicit @ algo.yj
    biased = getattr(algo, "biased", True)  # SVD can drop its biases; SVDpp always has them
    bu = algo.bu if biased else np.zeros(trainset.n_users)
    bi = algo.bi if biased else np.zeros(trainset.n_items)
    mu = trainset.global_mean if biased else 0.0
    clipped, rank = _vectorised(mu, bu, bi, pu, qi, u_map, i_map, split.scale)
    return Fitted(seconds, clipped, rank, hp.get("n_epochs"))



def _cornac_mf(split: Split, hp: dict[str, Any], seed: int) -> Fitted:
    from cornac.data import Dataset as CornacDataset
    from cornac.models import MF

    users, items, ratings = _ids(split)
    triples = zip(users.tolist(), items.tolist(), ratings.tolist(), strict=True)
    trainset = CornacDataset.from_uir(list(triples), seed=seed)
    model = MF(seed=seed, use_bias=True, **hp)
    started = time.perf_counter()
    model.fit(trainset)
    seconds = time.perf_counter() - started
    u_map = np.array([trainset.uid_map[u] for u in range(split.encoded.n_users)])
    i_map = np.array([trainset.iid_map[i] for i in range(split.encoded.n_items)])
    clipped, rank = _vectorised(float(model.global_mean), model.u_biases, model.i_biases,
                                model.u_factors, model.i_factors, u_map, i_map,
                                (trainset.min_rating, trainset.max_rating))
    return Fitted(seconds, clipped, rank, hp.get("max_iter"))


def peer_status(smoke: bool = False) -> dict[str, str]:
    """The installed version of each peer library, or why it cannot be used.

    The smoke run does not use cornac, whose import alone takes seconds (it loads
    torch._dynamo): there it is only looked up, not imported.
    """
    status = {}
    for module, dist in (("surprise", "scikit-surprise"), ("cornac", "cornac")):
        try:
            if smoke and module == "cornac":
                if importlib.util.find_spec(module) is None:
                    raise ModuleNotFoundError(f"No module named {module!r}")
            else:
                importlib.import_module(module)
            status[dist] = metadata.version(dist)
        except Exception as error:  # an import can fail in odd ways (ABI, numpy version)
            status[dist] = f"unavailable ({type(error).__name__}: {error})"
    return status


def peer_models(status: dict[str, str], smoke: bool, skipped: list[str]) -> list[PeerModel]:
    """scikit-surprise BaselineOnly, SVD, SVDpp and cornac MF, where installed."""
    peers = []
    if not status["scikit-surprise"].startswith("unavailable"):
        peers += [
            PeerModel("BaselineOnly", "scikit-surprise", [
                {"method": "als", "reg_i": 10, "reg_u": 15, "n_epochs": 10},
                {"method": "sgd", "reg": 0.02, "learning_rate": 0.005, "n_epochs": 20},
            ], _surprise("BaselineOnly")),
            PeerModel("SVD", "scikit-surprise", [
                {"n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02},
                {"n_factors": 50, "n_epochs": 20, "lr_all": 0.01, "reg_all": 0.05},
                {"n_factors": 100, "n_epochs": 30, "lr_all": 0.005, "reg_all": 0.05},
                {"n_factors": 100, "n_epochs": 30, "lr_all": 0.01, "reg_all": 0.1},
            ], _surprise("SVD")),
            PeerModel("SVDpp", "scikit-surprise", [
                {"n_factors": 20, "n_epochs": 20, "lr_all": 0.007, "reg_all": 0.02,
                 "cache_ratings": True},
            ], _surprise("SVDpp"), note="library defaults, not tuned, one seed, u1 but not u2..u5 "
                "(one fit costs ~20 s)"),
        ]
    else:
        skipped.append(f"scikit-surprise rows: {status['scikit-surprise']}")
    if not status["cornac"].startswith("unavailable"):
        peers.append(PeerModel("MF", "cornac", [
            {"k": 10, "max_iter": 20, "learning_rate": 0.01, "lambda_reg": 0.02},
            {"k": 50, "max_iter": 50, "learning_rate": 0.01, "lambda_reg": 0.02},
            {"k": 50, "max_iter": 50, "learning_rate": 0.01, "lambda_reg": 0.05},
            {"k": 50, "max_iter": 100, "learning_rate": 0.005, "lambda_reg": 0.05},
        ], _cornac_mf))
    else:
        skipped.append(f"cornac rows: {status['cornac']}")
    if smoke:
        peers = [p for p in peers if p.name in ("SVD", "BaselineOnly")]
        for peer in peers:
            peer.grid = peer.grid[:1]
            if peer.name == "SVD":
                peer.grid = [{**peer.grid[0], "n_epochs": 2}]
    return peers


# ---------------------------------------------------------------------------------------------
# Section 1: accuracy
# ---------------------------------------------------------------------------------------------


def score(fitted: Fitted, split: Split, with_ndcg: bool) -> dict[str, float]:
    """RMSE, MAE and (optionally) NDCG@10 of a fitted model on the split's test rows."""
    test = split.test_t
    error = fitted.predict(test.user_idx, test.item_idx).float() - test.ratings
    result = {"rmse": float(error.pow(2).mean().sqrt()), "mae": float(error.abs().mean())}
    if with_ndcg:
        scorer = pair_scorer(fitted.rank, split.encoded.n_items)
        table = ranking_metrics(scorer, split.train_t, test, split.encoded.n_users,
                                split.encoded.n_items, k=NDCG_K, threshold=NDCG_THRESHOLD)
        result[f"ndcg@{NDCG_K}"] = float(table[f"ndcg@{NDCG_K}"].mean())
    return result

