"""Benchmarks and the course leaderboard: every course model against the libraries people use.

One command (from the repository root):

    python bench/run.py            # full: accuracy leaderboard, speed, scaling (< 15 min, 2 cores)
    python bench/run.py --smoke    # tiny version of all three sections (< 60 s), to a temp folder

Full mode writes bench/results/results.json, results.md and scaling.png and rewrites the
leaderboard section of README.md between `<!-- leaderboard:start -->` and
`<!-- leaderboard:end -->` (left alone when the markers are absent). bench/README.md explains
every protocol choice. The course models are imported from `utils`; nothing here redefines one.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from utils.data import (
    DATASETS,
    MIRROR_ENV,
    VERIFIED_MARKER,
    DatasetError,
    data_dir,
    load_movies,
    load_ratings,
)
from utils.deep import DeepMF, NeuMF
from utils.device import describe, pick_device
from utils.encode import (
    RatingTensors,
    encode_split,
    item_features,
    random_split,
    recency_weights,
    time_split,
    to_tensors,
)
from utils.gravity import GravityMF
from utils.lab_loop import lab_epoch, lab_loader
from utils.metrics import ranking_metrics
from utils.models import BiasedMF, DotProductMF, HybridMF, RegularizedMF, sigmoid_offset
from utils.synthetic import synthetic_ratings
from utils.train import fit, predict

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
MARK_START, MARK_END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"
# ml-1m's shape: the synthetic speed set and the scaling points keep its ratings per user/item.
ML1M_USERS, ML1M_ITEMS, ML1M_RATINGS = 6040, 3706, 1_000_209
NDCG_K, NDCG_THRESHOLD = 10, 4.0
HEAD_TO_HEAD = 3  # timed fits of each contender against surprise SVD (the median is kept)
Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def log(message: str) -> None:
    """Progress on stderr with the elapsed wall time, so that a slow section shows itself."""
    print(f"[{time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


T0 = time.perf_counter()


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


@dataclass
class Split:
    """One train/test pair; every model trains on `train` and is scored on the same test rows."""

    key: str
    dataset: str
    train: pd.DataFrame
    test: pd.DataFrame
    seeds: tuple[int, ...] = (0,)
    fold_of: str | None = None  # the group a fold belongs to (the five-fold average)
    ndcg: bool = True
    listed: bool = True  # a column of the leaderboard (folds u2..u5 only feed the average)

    def __post_init__(self) -> None:
        self.encoded = encode_split(self.train, self.test)
        self.train_t = to_tensors(self.encoded.train)
        self.test_t = to_tensors(self.encoded.valid)
        self.global_mean = float(self.encoded.train["rating"].mean())
        self.scale = DATASETS[self.dataset].rating_scale

    @functools.cached_property
    def film_features(self) -> torch.Tensor:
        """Genre and release-year features of the encoded films (HybridMF), built once."""
        features = item_features(load_movies(self.dataset), self.encoded.items)
        return torch.tensor(features.to_numpy())


def ml1m_present() -> str | None:
    """None when ml-1m can be read without a download, else the reason it cannot."""
    root = data_dir()
    mirror = os.environ.get(MIRROR_ENV) or ""
    local = [root / "ml-1m" / VERIFIED_MARKER, root / "ml-1m.zip"]
    if mirror and "://" not in mirror:
        local.append(Path(mirror) / "ml-1m.zip")
    if not any(path.is_file() for path in local):
        return (
            "ml-1m is not on this machine (no verified cache, no ml-1m.zip saved by hand or in "
            "the mirror folder); its rows are skipped, not estimated"
        )
    try:
        load_ratings("ml-1m")
    except DatasetError as error:
        return f"ml-1m could not be read: {error}"
    return None


def make_splits(smoke: bool, skipped: list[str]) -> list[Split]:
    """The benchmark splits (smoke: one small subsample of ml-100k's u1 split)."""
    if smoke:
        base = load_ratings("ml-100k", file_name="u1.base")
        test = load_ratings("ml-100k", file_name="u1.test")
        users = base["user_id"].drop_duplicates().sample(200, random_state=0)
        return [Split("ml-100k u1 (200-user subsample)", "ml-100k",
                      base[base.user_id.isin(users)], test[test.user_id.isin(users)])]
    small = load_ratings("ml-latest-small")
    full_100k = load_ratings("ml-100k")
    splits = [
        Split("ml-latest-small random 80/20", "ml-latest-small", *random_split(small, 0.2, 42),
              seeds=(0, 1, 2)),
        Split("ml-latest-small time 80/20", "ml-latest-small", *time_split(small, 0.8),
              ndcg=False),
        Split("ml-100k random 80/20", "ml-100k", *random_split(full_100k, 0.2, 42),
              ndcg=False),
    ]
    for fold in range(1, 6):
        splits.append(Split(
            f"ml-100k u{fold}.base/u{fold}.test", "ml-100k",
            load_ratings("ml-100k", file_name=f"u{fold}.base"),
            load_ratings("ml-100k", file_name=f"u{fold}.test"),
            fold_of="ml-100k five-fold u1-u5 (mean)", ndcg=fold == 1, listed=fold == 1,
        ))
    reason = ml1m_present()
    if reason is None:
        ml1m = load_ratings("ml-1m")
        splits.append(Split("ml-1m random 80/20", "ml-1m", *random_split(ml1m, 0.2, 42)))
        splits.append(Split("ml-1m random 90/10", "ml-1m", *random_split(ml1m, 0.1, 42)))
    else:
        skipped.append(f"ml-1m random 80/20 and 90/10: {reason}")
    return splits


def tuning_split(smoke: bool) -> Split:
    """A slice of the TRAINING part of ml-latest-small's random split (10%, seed 0)."""
    if smoke:
        base = load_ratings("ml-100k", file_name="u1.base")
        base = base[base.user_id <= 200]
        train, valid = random_split(base, 0.1, seed=0)
        return Split("tuning slice (smoke)", "ml-100k", train, valid)
    train, _ = random_split(load_ratings("ml-latest-small"), 0.2, 42)
    inner_train, inner_valid = random_split(train, 0.1, seed=0)
    return Split("ml-latest-small random 80/20, train part, 90/10 slice (seed 0)",
                 "ml-latest-small", inner_train, inner_valid)


# ---------------------------------------------------------------------------------------------
# Models: course models (from utils) and peers (scikit-surprise, cornac)
# ---------------------------------------------------------------------------------------------


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

    def train(self, split: Split, hp: dict[str, Any], seed: int, n_epochs: int,
              valid: RatingTensors | None = None) -> tuple[Fitted, pd.DataFrame]:
        torch.manual_seed(seed)
        model = self.build(split, hp)
        started = time.perf_counter()
        lr_steps = {int(k): v for k, v in hp.get("lr_steps", {}).items()} or None
        weights = (recency_weights(split.encoded.train["timestamp"], hp["recency_years"])
                   if hp.get("recency_years") else None)
        history = fit(model, split.train_t, valid, n_epochs=n_epochs, lr=hp["lr"],
                      wd=hp.get("wd", 0.0), bias_wd=hp.get("bias_wd"),
                      optimizer=hp.get("optimizer", "adam"), lr_steps=lr_steps,
                      batch_size=hp.get("batch_size"), sample_weights=weights, seed=seed)
        seconds = time.perf_counter() - started

        def run(user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
            return predict(model, user_idx, item_idx)

        return Fitted(seconds, run, run, n_epochs), history

    def tune(self, split: Split) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Every grid entry for max_epochs on the tuning slice; best (entry, epoch) by RMSE."""
        trials = []
        for hp in self.grid:
            _, history = self.train(split, hp, 0, self.max_epochs, valid=split.test_t)
            epoch = int(history["valid_rmse"].idxmin())
            trials.append({**hp, "n_epochs": epoch,
                           "slice_rmse": round(float(history["valid_rmse"].min()), 4)})
        best = min(trials, key=lambda t: t["slice_rmse"])
        return best, trials


def _mf(split: Split, hp: dict[str, Any]) -> nn.Module:
    return DotProductMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                        init=hp.get("init", "uniform"))


def _biased(split: Split, hp: dict[str, Any]) -> nn.Module:
    y_range = None
    if hp.get("y_range"):
        y_range = (0.0, split.scale[1] + 0.5)  # seed 004's (0, max + 0.5)
    # With a y_range the offset sits inside the sigmoid: its logit makes a fresh model
    # predict the training mean (utils.models.sigmoid_offset, notebook 04).
    offset = sigmoid_offset(split.global_mean, y_range) if hp.get("offset", True) else 0.0
    return BiasedMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                    init=hp.get("init", "uniform"), biases=hp.get("biases", True),
                    global_mean=offset, y_range=y_range)


def _hybrid(split: Split, hp: dict[str, Any]) -> nn.Module:
    y_range = (0.0, split.scale[1] + 0.5)
    return HybridMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                    split.film_features, y_range=y_range,
                    global_mean=sigmoid_offset(split.global_mean, y_range))


def _regularized(split: Split, hp: dict[str, Any]) -> nn.Module:
    y_range = (0.0, split.scale[1] + 0.5) if hp.get("y_range") else None
    return RegularizedMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                         l2=hp["l2"], l2_bias=hp["l2_bias"], y_range=y_range,
                         global_mean=sigmoid_offset(split.global_mean, y_range))


def _gravity(split: Split, hp: dict[str, Any]) -> nn.Module:
    return GravityMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                     l2=hp["l2"], gravity=hp["gravity"], global_mean=split.global_mean)


def _deep(split: Split, hp: dict[str, Any]) -> nn.Module:
    return DeepMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                  tuple(hp["hidden"]), init=hp.get("init", "normal"),
                  biases=hp.get("biases", False),
                  global_mean=split.global_mean if hp.get("biases") else 0.0)


def _neumf(split: Split, hp: dict[str, Any]) -> nn.Module:
    return NeuMF(split.encoded.n_users, split.encoded.n_items, hp["n_factors"],
                 hp["n_factors"], tuple(hp["hidden"]), dropout=hp.get("dropout", 0.0),
                 global_mean=split.global_mean)


def course_models(smoke: bool) -> list[CourseModel]:
    """The nine course models and their small tuning grids (smoke: two of them, 2 epochs)."""
    mb = {"optimizer": "adam", "lr": 1e-2, "batch_size": 4096}
    models = [
        CourseModel("MF (dot product)", _mf, [
            {"n_factors": 50, "wd": wd, **mb} for wd in (1e-5, 1e-4)
        ], 20, "utils.models.DotProductMF"),
        CourseModel("MF+bias", _biased, [
            {"n_factors": 50, "wd": wd, **mb} for wd in (1e-4, 3e-4, 6e-4)
        ], 20, "utils.models.BiasedMF"),
        CourseModel("MF+bias, per-rating L2", _regularized, [
            {"n_factors": 50, "l2": l2, "l2_bias": 0.03, **mb} for l2 in (0.03, 0.1, 0.3)
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
             "wd": 1e-4, **mb},
        ], 20, "utils.deep.DeepMF"),
        CourseModel("NeuMF-style fused", _neumf, [
            {"n_factors": 16, "hidden": [32, 16, 8], "dropout": d, "wd": 1e-4, **mb}
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
        ], 20, "utils.models.BiasedMF + utils.encode.recency_weights (notebook 04's time-split "
               "recipe)"),
        CourseModel("MF+bias, genres + year", _hybrid, [
            {"n_factors": n_factors, "optimizer": "adam", "lr": 1e-2, "lr_steps": {5: 2e-3},
             "wd": 3e-4, "bias_wd": 1e-3, "batch_size": 2048}
            for n_factors in (30, 50)
        ], 20, "utils.models.HybridMF + utils.encode.item_features (notebook 04)"),
    ]
    if smoke:
        models = [models[1], models[-1]]
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


class _Inline:
    """The executor interface, run in this process (smoke mode, one core, no peers)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:  # handed over to whoever asks for the result
            future.set_exception(error)
        return future

    def shutdown(self) -> None:
        pass


def _peer_tune(peer: PeerModel, split: Split) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return peer.tune(split)


def _peer_run(peer: PeerModel, split: Split, hp: dict[str, Any], seed: int,
              with_ndcg: bool) -> dict[str, Any]:
    fitted = peer.train(split, hp, seed)
    return {**score(fitted, split, with_ndcg), "fit_seconds": fitted.seconds, "seed": seed}


def _course_run(model: CourseModel, split: Split, hp: dict[str, Any], seed: int,
                with_ndcg: bool) -> dict[str, Any]:
    fitted, _ = model.train(split, hp, seed, hp["n_epochs"])
    return {**score(fitted, split, with_ndcg), "fit_seconds": fitted.seconds, "seed": seed}


def _label(model: CourseModel | PeerModel) -> str:
    return model.name if model.kind == "course" else f"{model.library} {model.name}"


def accuracy_section(args: argparse.Namespace, status: dict[str, str],
                     skipped: list[str]) -> dict[str, Any]:
    courses = course_models(args.smoke)
    peers = peer_models(status, args.smoke, skipped)
    # The peers are single-threaded, and so are the course models (--threads 1): on a machine
    # with two cores the peers run in a second process, beside the course models.
    parallel = peers and not args.smoke and (os.cpu_count() or 1) > 1 and args.threads == 1
    pool = (ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                initializer=torch.set_num_threads, initargs=(1,))
            if parallel else _Inline())
    try:
        return _accuracy(args, courses, peers, pool, skipped)
    finally:
        pool.shutdown()


def _accuracy(args: argparse.Namespace, courses: list[CourseModel], peers: list[PeerModel],
              pool: ProcessPoolExecutor | _Inline, skipped: list[str]) -> dict[str, Any]:
    splits = make_splits(args.smoke, skipped)
    tune_on = tuning_split(args.smoke)
    log(f"tuning {len(courses) + len(peers)} models on {tune_on.key} "
        f"({len(tune_on.train_t)} ratings)")
    chosen: dict[str, Any] = {}
    tuning: dict[str, Future] = {}
    for peer in peers:
        if not args.smoke and len(peer.grid) > 1:
            tuning[_label(peer)] = pool.submit(_peer_tune, peer, tune_on)
    warm_up = BiasedMF(tune_on.encoded.n_users, tune_on.encoded.n_items, 8)
    fit(warm_up, tune_on.train_t, n_epochs=1, lr=1e-3, batch_size=4096)  # first-call costs
    for model in [*courses, *peers]:
        started = time.perf_counter()
        if _label(model) in tuning:
            best, trials = tuning[_label(model)].result()
        elif args.smoke or model.kind == "peer":
            best, trials = dict(model.grid[0]), []
            if model.kind == "course":
                best["n_epochs"] = model.max_epochs
        else:
            best, trials = model.tune(tune_on)
        chosen[_label(model)] = {
            "chosen": best, "trials": trials,
            "tuning_seconds": round(time.perf_counter() - started, 1),
            "note": model.note or ("smoke: first grid entry" if args.smoke else ""),
        }
        log(f"  tuned {_label(model)}: {best}")

    # Peer runs go to the pool first; the course models train meanwhile in this process.
    jobs: list[tuple[Split, CourseModel | PeerModel, list[Future]]] = []
    queued: list[tuple[list[Future], int, tuple[Any, ...]]] = []
    for split in splits:
        for peer in peers:
            seeds = (0,) if peer.name == "SVDpp" else split.seeds
            if peer.name == "SVDpp" and not split.listed:
                continue  # ~25 s a fit: u1 only, no five-fold mean (said in the table)
            hp = chosen[_label(peer)]["chosen"]
            futures = []
            for seed in seeds:
                job = (peer, split, hp, seed, split.ndcg and seed == seeds[0])
                futures.append(pool.submit(_peer_run, *job))
                queued.append((futures, len(futures) - 1, job))
            jobs.append((split, peer, futures))
    for split in splits:
        log(f"split {split.key}: {len(split.train_t)} train, {len(split.test_t)} test rows "
            f"({split.encoded.n_valid_dropped} test rows with unseen ids dropped)")
        for model in courses:
            hp = chosen[_label(model)]["chosen"]
            futures = [_Inline().submit(_course_run, model, split, hp, seed,
                                        split.ndcg and seed == split.seeds[0])
                       for seed in split.seeds]
            jobs.append((split, model, futures))
            row = _row(split, model, futures, skipped)
            if row:
                log(f"  {row['model']:28s} rmse {row['rmse']:.4f} fit {row['fit_seconds']:.1f}s")
    # Once the course models are done, this process takes over peer runs not yet started.
    for futures, position, job in reversed(queued):
        if futures[position].cancel():
            futures[position] = _Inline().submit(_peer_run, *job)
    order = {(s.key, _label(m)): n for n, (s, m) in enumerate(
        (s, m) for s in splits for m in [*courses, *peers])}
    rows = []
    for split, model, futures in sorted(jobs, key=lambda j: order[(j[0].key, _label(j[1]))]):
        row = _row(split, model, futures, skipped) if model.kind == "peer" else _row(
            split, model, futures, [])
        if row:
            rows.append(row)
    log("accuracy rows done")
    rows += five_fold_rows(rows)
    timed = head_to_head(splits, courses, peers, chosen, rows, 1 if args.smoke else HEAD_TO_HEAD)
    return {"tuning_split": tune_on.key, "hyperparameters": chosen, "rows": rows,
            "head_to_head": timed,
            "peers_in_parallel_process": isinstance(pool, ProcessPoolExecutor),
            "splits": [{"split": s.key, "n_train": len(s.train_t), "n_test": len(s.test_t),
                        "n_test_dropped_unseen": s.encoded.n_valid_dropped,
                        "seeds": list(s.seeds)} for s in splits]}


def _row(split: Split, model: CourseModel | PeerModel, futures: list[Future],
         skipped: list[str]) -> dict[str, Any] | None:
    """One leaderboard row from a model's runs (mean over seeds); failures are reported."""
    runs = []
    for future in futures:
        try:
            runs.append(future.result())
        except Exception as error:  # a failing model is reported, never hidden
            traceback.print_exception(error)
            skipped.append(f"{_label(model)} on {split.key}: {type(error).__name__}: {error}")
            break
    if not runs:
        return None
    rmses = [r["rmse"] for r in runs]
    return {
        "split": split.key, "dataset": split.dataset, "fold_of": split.fold_of,
        "listed": split.listed, "model": _label(model), "kind": model.kind,
        "library": "utils" if model.kind == "course" else model.library,
        "seeds": [r["seed"] for r in runs], "rmse": float(np.mean(rmses)),
        "rmse_std": float(np.std(rmses, ddof=1)) if len(rmses) > 1 else None,
        "mae": float(np.mean([r["mae"] for r in runs])),
        "fit_seconds": float(np.mean([r["fit_seconds"] for r in runs])),
        f"ndcg@{NDCG_K}": runs[0].get(f"ndcg@{NDCG_K}"),
        "n_train": len(split.train_t), "n_test": len(split.test_t), "runs": runs,
    }


def head_to_head(splits: list[Split], courses: list[CourseModel], peers: list[PeerModel],
                 chosen: dict[str, Any], rows: list[dict[str, Any]],
                 repeats: int = HEAD_TO_HEAD) -> list[dict[str, Any]]:
    """Fit seconds of surprise SVD and of every course model with <= its RMSE, timed again.

    The leaderboard's fit times come from runs that share the machine with the peers' worker
    process. Here the contenders run one at a time in this process, interleaved, `repeats`
    times each (seed 0), and the median is kept: the fair basis for "faster at equal RMSE".
    """
    svd = next((p for p in peers if p.name == "SVD"), None)
    if svd is None:
        return []
    rmse = {(r["split"], r["model"]): r["rmse"] for r in rows}
    timed = []
    for split in splits:
        svd_rmse = rmse.get((split.key, _label(svd)))
        if svd_rmse is None:
            continue
        # At <= SVD's RMSE on this split, or (a fold) on the mean over its folds.
        groups = [split.key] + ([split.fold_of] if split.fold_of else [])
        contenders: list[CourseModel | PeerModel] = [svd] + [
            m for m in courses if any(rmse.get((g, m.name), math.inf)
                                      <= rmse.get((g, _label(svd)), -math.inf) for g in groups)]
        seconds: dict[str, list[float]] = {_label(m): [] for m in contenders}
        for _ in range(repeats):
            for model in contenders:
                hp = chosen[_label(model)]["chosen"]
                fitted = (model.train(split, hp, 0, hp["n_epochs"])[0]
                          if isinstance(model, CourseModel) else model.train(split, hp, 0))
                seconds[_label(model)].append(fitted.seconds)
        for name, times in seconds.items():
            timed.append({"split": split.key, "fold_of": split.fold_of, "listed": split.listed,
                          "model": name, "rmse": rmse[(split.key, name)],
                          "median_seconds": float(np.median(times)), "seconds": times})
        log(f"  head to head on {split.key}: " + ", ".join(
            f"{name} {np.median(times):.2f} s" for name, times in seconds.items()))
    folds = pd.DataFrame([t for t in timed if t["fold_of"]])
    if not folds.empty:
        n_folds = folds.groupby("fold_of")["split"].nunique()
        for (group, name), part in folds.groupby(["fold_of", "model"], sort=False):
            if len(part) == n_folds[group]:  # timed on every fold
                timed.append({"split": group, "fold_of": None, "listed": True, "model": name,
                              "rmse": float(part["rmse"].mean()),
                              "median_seconds": float(part["median_seconds"].mean()),
                              "seconds": None})
    return timed


def five_fold_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mean over u1..u5 of each model, with the spread across folds (the headline row)."""
    folds = pd.DataFrame([r for r in rows if r["fold_of"]])
    if folds.empty:
        return []
    out = []
    n_folds = folds.groupby("fold_of")["split"].nunique()
    for (group, model), frame in folds.groupby(["fold_of", "model"], sort=False):
        if len(frame) < n_folds[group]:
            continue  # a mean over some of the folds would not be the five-fold number
        out.append({
            "split": group, "dataset": frame["dataset"].iloc[0], "fold_of": None,
            "listed": True, "model": model, "kind": frame["kind"].iloc[0],
            "library": frame["library"].iloc[0],
            "seeds": [0], "rmse": float(frame["rmse"].mean()),
            "rmse_std": float(frame["rmse"].std(ddof=1)) if len(frame) > 1 else None,
            "mae": float(frame["mae"].mean()), "fit_seconds": float(frame["fit_seconds"].mean()),
            f"ndcg@{NDCG_K}": None, "n_train": int(frame["n_train"].mean()),
            "n_test": int(frame["n_test"].mean()), "n_folds": len(frame), "runs": [],
        })
    return out


# ---------------------------------------------------------------------------------------------
# Section 2: speed
# ---------------------------------------------------------------------------------------------


def encoded_tensors(frame: pd.DataFrame) -> tuple[RatingTensors, int, int]:
    """Encode a whole ratings table (no held-out part) and return its tensors and sizes."""
    split = encode_split(frame, frame.iloc[:0])
    return to_tensors(split.train), split.n_users, split.n_items


def time_utils_loop(data: RatingTensors, n_users: int, n_items: int, device: torch.device,
                    batch_size: int | None, n_epochs: int
                    ) -> float:
    """Seconds per epoch of utils.train.fit (median over epochs after the first, warm-up)."""
    torch.manual_seed(0)
    mean = float(data.ratings.mean())
    model = BiasedMF(n_users, n_items, 32, global_mean=mean).to(device)
    history = fit(model, data.to(device), n_epochs=n_epochs, lr=1e-3, batch_size=batch_size)
    seconds = history["seconds"].to_numpy()
    return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


def time_lab_loop(data: RatingTensors, n_users: int, n_items: int, device: torch.device,
                  max_steps: int) -> tuple[float, int]:
    """Seed 002's DataLoader loop: time `max_steps` batches of 512, extrapolate to an epoch."""
    torch.manual_seed(0)
    model = BiasedMF(n_users, n_items, 32, global_mean=float(data.ratings.mean())).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    loader = lab_loader(data, batch_size=512, seed=0)
    lab_epoch(model, optimizer, loader, device, max_steps=5)  # warm-up
    done = lab_epoch(model, optimizer, loader, device, max_steps=max_steps)
    return len(data) / done.ratings_per_second, done.n_steps


def time_surprise_epoch(data: RatingTensors) -> float | None:
    """Seconds of one SGD epoch of scikit-surprise SVD (32 factors); trainset build excluded."""
    try:
        import surprise
    except Exception:
        return None
    frame = pd.DataFrame({"u": data.user_idx.numpy(), "i": data.item_idx.numpy(),
                          "r": data.ratings.numpy().astype(np.float64)})
    trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(0.5, 5.0)))
    trainset = trainset.build_full_trainset()
    algo = surprise.SVD(n_factors=32, n_epochs=1, random_state=0)
    started = time.perf_counter()
    algo.fit(trainset)
    return time.perf_counter() - started


def speed_section(args: argparse.Namespace) -> dict[str, Any]:
    cpu_threads = torch.get_num_threads()
    device = pick_device()
    if args.smoke:
        sets = {"ml-100k (u1.base)": encoded_tensors(load_ratings("ml-100k", file_name="u1.base"))}
        batch_sizes: list[int | None] = [None, 4096]
        thread_options, lab_steps, n_epochs = [cpu_threads], 20, 2
    else:
        synthetic = synthetic_ratings(ML1M_USERS, ML1M_ITEMS, ML1M_RATINGS, seed=0)
        sets = {
            f"synthetic ml-1m shape ({ML1M_RATINGS:,} ratings)": encoded_tensors(synthetic),
            "ml-100k (u.data, 100,000 ratings)": encoded_tensors(load_ratings("ml-100k")),
        }
        batch_sizes = [None, 1024, 4096, 16384, 65536, 262144]
        thread_options = sorted({1, os.cpu_count() or 1})  # 1 first: it runs the sweep
        lab_steps, n_epochs = 300, 3
    devices = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])
    rows: list[dict[str, Any]] = []
    for name, (data, n_users, n_items) in sets.items():
        log(f"speed on {name}")
        big = len(data) > 500_000
        # 1M ratings: batches of 16k and up (1,000 steps of 1024 are too slow to be a choice);
        # 100k ratings: batches up to 16k (larger ones are nearly the full batch).
        sizes = [bs for bs in batch_sizes
                 if bs is None or (bs >= 16384 if big else bs <= max(16384, len(data) // 4))]
        epochs = 2 if big else n_epochs  # the first epoch is a warm-up, not counted
        for dev in devices:
            options = thread_options if dev.type == "cpu" else [cpu_threads]
            best_bs: int | None = None
            for position, threads in enumerate(options):
                torch.set_num_threads(threads)
                where = (f"cpu ({threads} thread{'s' * (threads > 1)})" if dev.type == "cpu"
                         else describe(dev))
                # The batch-size sweep runs once; other thread counts time full batch and the
                # best batch size of the sweep.
                these = sizes if position == 0 else list(dict.fromkeys([None, best_bs]))
                for bs in these:
                    epoch = time_utils_loop(data, n_users, n_items, dev, bs, epochs)
                    rows.append(_speed_row(name, where, "utils.train.fit (MF+bias, K=32)",
                                           bs, epoch, len(data)))
                here = [r for r in rows if r["dataset"] == name and r["device"] == where]
                best_bs = max(here, key=lambda r: r["ratings_per_second"])["batch_size"]
                log(f"  {where}: best utils loop {max(r['ratings_per_second'] for r in here):,.0f}"
                    f" ratings/s (batch {best_bs or 'full'})")
                if position == 0:  # per-sample Python work: threads do not change it
                    epoch, steps = time_lab_loop(data, n_users, n_items, dev, lab_steps)
                    rows.append(_speed_row(
                        name, where, "seed-002 DataLoader loop (lab_epoch)", 512, epoch,
                        len(data), note=f"{steps} steps timed, extrapolated to an epoch"))
                    log(f"  {where}: {rows[-1]['ratings_per_second']:,.0f} ratings/s lab loop")
        torch.set_num_threads(cpu_threads)
        epoch = time_surprise_epoch(data)
        if epoch is not None:
            rows.append(_speed_row(name, "cpu (1 thread, Cython)", "scikit-surprise SVD, one "
                                   "SGD epoch (K=32)", 1, epoch, len(data)))
    torch.set_num_threads(cpu_threads)
    return {"rows": rows, "ratios": speed_ratios(rows), "gpu": device.type == "cuda"}


def _speed_row(dataset: str, device: str, loop: str, batch_size: int | None, seconds: float,
               n: int, note: str = "") -> dict[str, Any]:
    return {"dataset": dataset, "device": device, "loop": loop, "batch_size": batch_size,
            "seconds_per_epoch": seconds, "ratings_per_second": n / seconds, "note": note}


def speed_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset and device: the best utils loop against the lab loop and surprise's SVD."""
    out = []
    frame = pd.DataFrame(rows)
    for dataset, part in frame.groupby("dataset", sort=False):
        surprise_rows = part[part["loop"].str.startswith("scikit-surprise")]
        for device, rows_here in part.groupby("device", sort=False):
            utils_rows = rows_here[rows_here["loop"].str.startswith("utils")]
            lab = rows_here[rows_here["loop"].str.startswith("seed-002")]
            if utils_rows.empty:
                continue
            best = utils_rows.loc[utils_rows["ratings_per_second"].idxmax()]
            batch = best["batch_size"]
            entry = {"dataset": dataset, "device": device,
                     "best_utils_batch_size": None if pd.isna(batch) else int(batch),
                     "best_utils_ratings_per_second": float(best["ratings_per_second"])}
            if not lab.empty:
                entry["vs_seed002_loop"] = float(best["ratings_per_second"]
                                                 / lab["ratings_per_second"].iloc[0])
            if not surprise_rows.empty:
                entry["vs_surprise_svd_epoch"] = float(
                    best["ratings_per_second"] / surprise_rows["ratings_per_second"].iloc[0])
            out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# Section 3: scaling
# ---------------------------------------------------------------------------------------------


def scaling_section(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Fit time of MF+bias (K=32, fixed epochs, large batch) from 10k to 10M ratings."""
    n_epochs, batch_size = 2, 1 << 16
    ml100k = load_ratings("ml-100k")
    points: list[tuple[str, int]] = [("ml-100k subsample", 10_000), ("ml-100k subsample", 30_000),
                                     ("ml-100k", 100_000), ("ml-latest-small", 100_836)]
    if args.smoke:
        points = points[:2]
    else:
        points += [("synthetic", n) for n in (300_000, 1_000_209, 3_000_000, 10_000_000)]
    rows = []
    for source, n in points:
        if source == "ml-100k subsample":
            frame = ml100k.sample(n, random_state=0)
        elif source == "ml-100k":
            frame = ml100k
        elif source == "ml-latest-small":
            frame = load_ratings("ml-latest-small")
        else:  # ml-1m's ratings per user (165.6) and per item (269.9), its skewed popularity
            n_users = round(n * ML1M_USERS / ML1M_RATINGS)
            n_items = round(n * ML1M_ITEMS / ML1M_RATINGS)
            frame = synthetic_ratings(n_users, n_items, n, seed=0)
        data, n_users, n_items = encoded_tensors(frame)
        del frame
        torch.manual_seed(0)
        model = BiasedMF(n_users, n_items, 32, global_mean=float(data.ratings.mean()))
        started = time.perf_counter()
        fit(model, data, n_epochs=n_epochs, lr=1e-3, batch_size=batch_size)
        seconds = time.perf_counter() - started
        rows.append({"source": source, "n_ratings": len(data), "n_users": n_users,
                     "n_items": n_items, "fit_seconds": seconds,
                     "ratings_per_second": n_epochs * len(data) / seconds})
        log(f"  scaling {source} {len(data):,}: {seconds:.2f} s")
        del data, model
    n = np.log10([r["n_ratings"] for r in rows])
    t = np.log10([r["fit_seconds"] for r in rows])
    slope, intercept = np.polyfit(n, t, 1)
    big = [i for i, r in enumerate(rows) if r["n_ratings"] >= 100_000]
    slope_big = float(np.polyfit(n[big], t[big], 1)[0]) if len(big) >= 2 else None
    plot_scaling(rows, slope, intercept, n_epochs, batch_size, out / "scaling.png")
    return {"n_epochs": n_epochs, "batch_size": batch_size, "rows": rows,
            "slope": float(slope), "slope_from_100k": slope_big}


def plot_scaling(rows: list[dict[str, Any]], slope: float, intercept: float, n_epochs: int,
                 batch_size: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for source, marker in (("ml-100k subsample", "o"), ("ml-100k", "s"),
                           ("ml-latest-small", "D"), ("synthetic", "^")):
        part = [r for r in rows if r["source"] == source]
        if part:
            ax.loglog([r["n_ratings"] for r in part], [r["fit_seconds"] for r in part], marker,
                      label=source)
    xs = np.array([rows[0]["n_ratings"], rows[-1]["n_ratings"]], dtype=float)
    ax.loglog(xs, 10 ** (intercept + slope * np.log10(xs)), "k--", lw=1,
              label=f"least-squares fit, slope {slope:.2f}")
    ax.set_xlabel("ratings")
    ax.set_ylabel(f"fit seconds ({n_epochs} epochs, batch {batch_size:,})")
    ax.set_title("MF+bias (K=32) fit time on CPU")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Targets, Markdown and the README section
# ---------------------------------------------------------------------------------------------


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with met / not met and the numbers behind the verdict."""
    targets = []
    rows = [r for r in results.get("accuracy", {}).get("rows", []) if r.get("listed", True)]
    frame = pd.DataFrame(rows)
    timed = pd.DataFrame(results.get("accuracy", {}).get("head_to_head", []))
    if not frame.empty and (frame["library"] == "scikit-surprise").any():
        for split, part in frame.groupby("split", sort=False):
            course = part[part["kind"] == "course"]
            peer = part[part["library"] == "scikit-surprise"]
            if course.empty or peer.empty:
                continue
            best_c, best_p = course.loc[course["rmse"].idxmin()], peer.loc[peer["rmse"].idxmin()]
            targets.append({
                "target": f"best course model beats scikit-surprise's best RMSE on {split}",
                "met": bool(best_c["rmse"] < best_p["rmse"]),
                "detail": f"{best_c['model']} {best_c['rmse']:.4f} vs {best_p['model']} "
                          f"{best_p['rmse']:.4f}",
            })
            svd = peer[peer["model"] == "scikit-surprise SVD"]
            contest = timed[timed["split"] == split] if not timed.empty else timed
            if not contest.empty:  # the head-to-head timing, one fit at a time
                seconds, how = "median_seconds", " (median of head-to-head fits, one at a time)"
                svd, course = contest[contest["model"] == "scikit-surprise SVD"], contest[
                    contest["model"] != "scikit-surprise SVD"]
            else:
                seconds, how = "fit_seconds", ""
            if not svd.empty:
                svd = svd.iloc[0]
                faster = course[(course["rmse"] <= svd["rmse"])
                                & (course[seconds] < svd[seconds])]
                detail = (f"SVD {svd['rmse']:.4f} in {svd[seconds]:.2f} s; " + (
                    ", ".join(f"{r['model']} {r['rmse']:.4f} in {r[seconds]:.2f} s"
                              for _, r in faster.iterrows())
                    or "no course model at <= RMSE trains faster") + how)
                targets.append({
                    "target": f"a course model trains faster than surprise SVD at equal or better"
                              f" RMSE on {split}",
                    "met": not faster.empty, "detail": detail})
    speed = results.get("speed", {})
    ml1m = [r for r in speed.get("rows", []) if r["dataset"].startswith("synthetic")
            and r["loop"].startswith("utils") and r["device"].startswith("cpu")]
    if ml1m:
        best = max(ml1m, key=lambda r: r["ratings_per_second"])
        targets.append({
            "target": "utils.train.fit, MF+bias K=32 at ml-1m scale on the CPU >= 2,000,000 "
                      "ratings/s",
            "met": best["ratings_per_second"] >= 2e6,
            "detail": f"{best['ratings_per_second']:,.0f} ratings/s ({best['device']}, batch "
                      f"{best['batch_size'] or 'full'})",
        })
    return targets


def fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


def leaderboard_table(rows: list[dict[str, Any]]) -> str:
    """Models as rows, splits as columns of RMSE; the best per column in bold."""
    frame = pd.DataFrame([r for r in rows if r.get("listed", True)])
    if frame.empty:
        return "_no accuracy rows_\n"
    splits = list(dict.fromkeys(frame["split"]))
    models = list(dict.fromkeys(frame["model"]))
    pivot = frame.pivot(index="model", columns="split", values="rmse").reindex(models)[splits]
    lines = ["| model | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for model in models:
        cells = []
        for split in splits:
            value = pivot.loc[model, split]
            text = fmt(value)
            if text and value == pivot[split].min():
                text = f"**{text}**"
            cells.append(text or "n/a")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def split_tables(rows: list[dict[str, Any]]) -> str:
    parts = []
    frame = pd.DataFrame(rows)
    for split, part in frame.groupby("split", sort=False):
        seeds = max(len(s) for s in part["seeds"])
        head = f"#### {split}\n\n"
        if part["fold_of"].notna().any():
            head = f"#### {split} (one of the five folds)\n\n"
        lines = [f"| model | RMSE{' (mean ± sd over seeds)' if seeds > 1 else ''} | MAE | "
                 f"fit s | NDCG@{NDCG_K} |", "|---|---:|---:|---:|---:|"]
        for _, r in part.sort_values("rmse").iterrows():
            spread = f" ± {r['rmse_std']:.4f}" if r["rmse_std"] is not None and \
                not (isinstance(r["rmse_std"], float) and math.isnan(r["rmse_std"])) else ""
            lines.append(f"| {r['model']} | {r['rmse']:.4f}{spread} | {r['mae']:.4f} | "
                         f"{r['fit_seconds']:.2f} | {fmt(r[f'ndcg@{NDCG_K}'])} |")
        rows0 = part.iloc[0]
        parts.append(head + f"{rows0['n_train']:,} training and {rows0['n_test']:,} test "
                     f"ratings.\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def head_to_head_table(timed: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: surprise SVD against the course models at <= its RMSE, timed in turn."""
    listed = [t for t in timed if t["listed"]]
    if not listed:
        return []
    svd = {t["split"]: t["median_seconds"] for t in listed if t["model"] == "scikit-surprise SVD"}
    lines = ["### Head to head with scikit-surprise SVD (fit seconds)\n",
             "Surprise's SVD and every course model with an RMSE at or below it on that split, "
             "fitted again one at a time in one process, interleaved, "
             f"{max(len(t['seconds'] or []) for t in listed)} times "
             "each; the median is shown. The five-fold row averages the folds' medians.\n",
             "| split | model | RMSE | fit s (median) | SVD s / model s |",
             "|---|---|---:|---:|---:|"]
    lines += [f"| {t['split']} | {t['model']} | {t['rmse']:.4f} | {t['median_seconds']:.2f} | "
              f"{svd[t['split']] / t['median_seconds']:.2f} |" for t in listed]
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        "# Benchmark results\n",
        f"Generated by `python bench/run.py{' --smoke' if meta['smoke'] else ''}` in "
        f"{meta['wall_seconds']:.0f} s on {meta['machine']}; torch threads for training: "
        f"{meta['torch_threads']}; load average at start/end: {meta['load_start']} / "
        f"{meta['load_end']} (other jobs shared the CPU: timings are upper bounds). "
        f"Peers: {', '.join(f'{k} {v}' for k, v in meta['peers'].items())}.\n",
    ]
    accuracy = results.get("accuracy")
    if accuracy:
        out += [
            "## Accuracy leaderboard (test RMSE, lower is better)\n",
            "Every model trains on the same encoded training rows and is scored on the same "
            "test rows (test rows whose user or item is not in training are dropped for all). "
            f"Hyperparameters were chosen on {accuracy['tuning_split']} and reused on every "
            "split. The five-fold column is the mean over ml-100k's u1..u5.\n",
            leaderboard_table(accuracy["rows"]),
            "\n### Per split\n",
            split_tables(accuracy["rows"]),
            "\n### Chosen hyperparameters (tuning slice RMSE)\n",
            "| model | chosen | slice RMSE | note |", "|---|---|---:|---|",
        ]
        for name, entry in accuracy["hyperparameters"].items():
            chosen = {k: v for k, v in entry["chosen"].items() if k != "slice_rmse"}
            out.append(f"| {name} | `{json.dumps(chosen)}` | "
                       f"{entry['chosen'].get('slice_rmse', '')} | {entry['note']} |")
        out.append("")
        out += head_to_head_table(accuracy.get("head_to_head", []))
    targets = results.get("targets", [])
    if targets:
        out += ["## Targets\n", "| target | met | numbers |", "|---|---|---|"]
        out += [f"| {t['target']} | {'yes' if t['met'] else '**NOT MET**'} | {t['detail']} |"
                for t in targets]
        out.append("")
    speed = results.get("speed")
    if speed:
        out += ["## Speed (MF+bias, K=32, Adam; seconds per training epoch)\n",
                "| data | device | loop | batch | s/epoch | ratings/s | note |",
                "|---|---|---|---:|---:|---:|---|"]
        for r in speed["rows"]:
            out.append(f"| {r['dataset']} | {r['device']} | {r['loop']} | "
                       f"{r['batch_size'] or 'full'} | {r['seconds_per_epoch']:.3f} | "
                       f"{r['ratings_per_second']:,.0f} | {r['note']} |")
        out += ["", "Ratios (the fastest utils loop on that device against the others, same "
                "run, same machine):\n", "| data | device | best utils batch | ratings/s | "
                "× seed-002 loop | × surprise SVD epoch |", "|---|---|---:|---:|---:|---:|"]
        for r in speed["ratios"]:
            out.append(f"| {r['dataset']} | {r['device']} | {r['best_utils_batch_size'] or 'full'}"
                       f" | {r['best_utils_ratings_per_second']:,.0f} | "
                       f"{fmt(r.get('vs_seed002_loop'), 1)} | "
                       f"{fmt(r.get('vs_surprise_svd_epoch'), 2)} |")
        if not speed["gpu"]:
            out.append("\nNo GPU on this machine: GPU rows appear when pick_device() finds one.")
        out.append("")
    scaling = results.get("scaling")
    if scaling:
        out += [f"## Scaling (MF+bias K=32, {scaling['n_epochs']} epochs, batch "
                f"{scaling['batch_size']:,}, CPU)\n",
                "![fit time against ratings](scaling.png)\n",
                f"Least-squares slope of log(fit seconds) against log(ratings): "
                f"**{scaling['slope']:.2f}** over all points"
                + (f", {scaling['slope_from_100k']:.2f} from 100k ratings up"
                   if scaling["slope_from_100k"] is not None else "") + ".\n",
                "| source | ratings | users | items | fit s | ratings/s |",
                "|---|---:|---:|---:|---:|---:|"]
        out += [f"| {r['source']} | {r['n_ratings']:,} | {r['n_users']:,} | {r['n_items']:,} | "
                f"{r['fit_seconds']:.2f} | {r['ratings_per_second']:,.0f} |"
                for r in scaling["rows"]]
        out.append("")
    if results["skipped"]:
        out += ["## Skipped (never estimated)\n"] + [f"- {s}" for s in results["skipped"]] + [""]
    return "\n".join(out)


def _scaling_paragraph(scaling: dict[str, Any] | None) -> str:
    """The scaling plot and its slope, for the README (empty when the section did not run)."""
    if not scaling or "slope" not in scaling:
        return ""
    return (
        "\n![MF+bias fit time against the number of ratings](bench/results/scaling.png)\n\n"
        f"Fit time of MF+bias grows about linearly with the number of ratings (log-log slope "
        f"{scaling['slope']:.2f}, from 10 thousand to 10 million ratings).\n"
    )


def update_readme(results: dict[str, Any]) -> str:
    """Rewrite README.md between the leaderboard markers; say what happened."""
    if not README.is_file():
        return "README.md does not exist: leaderboard not written there"
    text = README.read_text()
    if MARK_START not in text or MARK_END not in text:
        return "README.md has no leaderboard markers: left untouched"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    accuracy = results.get("accuracy", {"rows": []})
    meta = results.get("meta", {})
    body = (
        "\nTest RMSE of every course model and of the libraries people use instead, on the same "
        "splits (lower is better; the best of each column in bold). Hyperparameters were chosen "
        "on a slice of ml-latest-small's training data only and reused everywhere.\n\n"
        + leaderboard_table(accuracy["rows"])
        + _scaling_paragraph(results.get("scaling"))
        + f"\nGenerated by `python bench/run.py` ({meta.get('wall_seconds', 0) / 60:.0f} min on "
        f"{meta.get('machine', 'this machine')}); protocol in [bench/README.md](bench/README.md), "
        "fit times, NDCG@10, the speed ratios, scaling and the targets in "
        "[bench/results/results.md](bench/results/results.md).\n"
    )
    README.write_text(head + MARK_START + body + MARK_END + tail)
    return "README.md leaderboard section rewritten"


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def environment(args: argparse.Namespace, status: dict[str, str]) -> dict[str, Any]:
    return {
        "smoke": args.smoke, "python": platform.python_version(),
        "torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__,
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores"
                   + (f", {describe(pick_device())}" if pick_device().type != "cpu" else ""),
        "torch_threads": torch.get_num_threads(), "peers": status,
        "load_start": [round(x, 1) for x in os.getloadavg()],
    }


def _load_ranking() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ranking", REPO / "bench" / "ranking.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ranking"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run (< 60 s) for the tests")
    parser.add_argument("--out", type=Path, help="output folder (default: bench/results; "
                        "smoke: a new temporary folder)")
    parser.add_argument("--sections", default="accuracy,speed,scaling,ranking",
                        help="comma-separated subset of accuracy,speed,scaling,ranking (a "
                        "subset keeps the other sections of an existing results.json)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the accuracy and scaling sections "
                        "(default 1: robust when other jobs share the CPU; the speed section "
                        "also times every thread count)")
    args = parser.parse_args(argv)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    torch.set_num_threads(args.threads)
    status = peer_status(args.smoke)
    skipped: list[str] = []
    results: dict[str, Any] = {"meta": environment(args, status), "skipped": skipped}
    if "accuracy" in sections:
        results["accuracy"] = accuracy_section(args, status, skipped)
    if "speed" in sections:
        results["speed"] = speed_section(args)
    if "scaling" in sections:
        results["scaling"] = scaling_section(args, out)
    ranking = _load_ranking()  # bench/ranking.py: leave-last-out top-10 lists (notebook 09)
    if "ranking" in sections:
        results["ranking"] = ranking.ranking_section(args.smoke, log)
    ranking.carry_over(results, out / "results.json", sections)
    results["targets"] = check_targets(results)
    results["meta"]["wall_seconds"] = time.perf_counter() - T0
    results["meta"]["load_end"] = [round(x, 1) for x in os.getloadavg()]
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "results.md").write_text(markdown(results)
                                    + "\n".join(ranking.ranking_markdown(results.get("ranking"))))
    if out.resolve() == RESULTS.resolve() and not args.smoke and "accuracy" in sections:
        log(update_readme(results))
    if out.resolve() == RESULTS.resolve() and not args.smoke and "ranking" in sections:
        log(ranking.update_readme(results["ranking"], README))
    log(f"wrote {out / 'results.json'} and results.md in {results['meta']['wall_seconds']:.0f} s")
    for target in results["targets"]:
        log(f"target {'met' if target['met'] else 'NOT MET'}: {target['target']} "
            f"({target['detail']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
