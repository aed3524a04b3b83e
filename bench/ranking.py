"""The ranking part of the bench: leave-last-out top-10 lists from implicit feedback (notebook 09).

On ml-latest-small and ml-100k each user's latest rating is held out and ranked against every
item the user has not rated in training. Every contender is tuned the same way: each setting of
its grid trains on the training rows minus each user's second-to-last rating and is scored on
that rating (NDCG@10); the best setting is refitted on all training rows and scored once on the
held-out ratings. Contenders: popularity, the course's rating model, EASE, EASE scored from a
recency-weighted history, BPR-MF and softmax-MF (utils.ranking), and the `implicit` library's
ALS and BPR when it is installed.
Called from bench/run.py (section "ranking").
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utils.data import load_ratings
from utils.encode import RatingTensors
from utils.metrics import Scorer, mf_scorer, popularity_scorer
from utils.models import BiasedMF
from utils.ranking import (
    ImplicitData,
    ease_scores,
    encode_leave_last_out,
    fit_ranking,
    leave_last_out_metrics,
    ranking_mf,
    recency_weights,
    table_scorer,
    validation_slice,
)
from utils.train import fit

K = 10
DATASETS = ("ml-latest-small", "ml-100k")
EASE_L2 = (20.0, 50.0, 100.0, 300.0, 1000.0)
HALF_LIVES = (1.0, 2.0, 5.0, 10.0, 20.0)  # in ratings: see utils.ranking.recency_weights
SMOKE_USERS = 50  # the smoke run keeps the first users of each dataset
MARK_START, MARK_END = "<!-- ranking:start -->", "<!-- ranking:end -->"
Fitter = Callable[[ImplicitData, dict[str, Any], int], Scorer]


@dataclass
class Contender:
    """A ranking model: how to fit it on `data.train` with settings `hp`, and the grid to tune."""

    name: str
    fitter: Fitter
    grid: dict[str, tuple] = field(default_factory=dict)
    course: bool = True


def _popularity(data: ImplicitData, hp: dict[str, Any], seed: int) -> Scorer:
    return popularity_scorer(data.train.item_idx, data.n_items)


def _rating_model(data: ImplicitData, hp: dict[str, Any], seed: int) -> Scorer:
    torch.manual_seed(seed)
    model = BiasedMF(data.n_users, data.n_items, hp["n_factors"],
                     offset=float(data.train.ratings.mean()))
    fit(model, data.train, n_epochs=hp["n_epochs"], lr=hp["lr"], wd=hp["wd"], bias_wd=0.0,
        batch_size=hp["batch_size"], seed=seed)
    return mf_scorer(model)


def _ease(data: ImplicitData, hp: dict[str, Any], seed: int) -> Scorer:
    half_life = hp.get("half_life")  # absent: plain EASE, every rated item weighs 1
    weights = None if half_life is None else recency_weights(data.train, half_life)
    return table_scorer(ease_scores(data.train, data.n_users, data.n_items, hp["l2"], weights))


def _ranking_mf(data: ImplicitData, hp: dict[str, Any], seed: int) -> Scorer:
    model = ranking_mf(data.n_users, data.n_items, hp.pop("n_factors"), seed=seed)
    fit_ranking(model, data.train, seed=seed, **hp)
    return mf_scorer(model)


def _implicit_matrix(train: RatingTensors, n_users: int, n_items: int) -> Any:
    import scipy.sparse as sp

    ones = np.ones(len(train), dtype=np.float32)
    return sp.csr_matrix((ones, (train.user_idx.numpy(), train.item_idx.numpy())),
                         shape=(n_users, n_items))


def _implicit(kind: str) -> Fitter:
    def fitter(data: ImplicitData, hp: dict[str, Any], seed: int) -> Scorer:
        if kind == "als":
            from implicit.cpu.als import AlternatingLeastSquares as Model
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking as Model
        from threadpoolctl import threadpool_limits

        model = Model(random_state=seed, num_threads=1, **hp)
        with threadpool_limits(1, "blas"):  # implicit asks for one BLAS thread (and warns)
            model.fit(_implicit_matrix(data.train, data.n_users, data.n_items),
                      show_progress=False)
        users = torch.tensor(np.asarray(model.user_factors))  # (U, K)
        items = torch.tensor(np.asarray(model.item_factors))  # (I, K)
        return lambda user_idx: users[user_idx] @ items.T  # (B, I)

    return fitter


def contenders(smoke: bool) -> list[Contender]:
    """Every model of the ranking table with its grid (a single setting in smoke mode)."""
    epochs = 2 if smoke else 20
    mf = {"n_factors": (64,), "n_epochs": (epochs,), "lr": (0.01,), "batch_size": (2048,)}
    models = [
        Contender("popularity", _popularity),
        Contender("MF+bias on ratings (notebook 08's recipe)", _rating_model,
                  {"n_factors": (30,), "n_epochs": (2 if smoke else 10,), "lr": (0.01,),
                   "wd": (3e-4,), "batch_size": (2048,)}),
        Contender("EASE", _ease, {"l2": (50.0,) if smoke else EASE_L2}),
        Contender("EASE, recency-weighted history", _ease,
                  {"l2": (50.0,) if smoke else EASE_L2,
                   "half_life": (5.0,) if smoke else HALF_LIVES}),
        Contender("BPR-MF", _ranking_mf,
                  {**mf, "loss": ("bpr",), "n_negatives": (4,), "batch_size": (4096,),
                   "lr": (0.02,), "sampler": ("uniform",), "wd": (0.0,)}),
        Contender("softmax-MF (sampled)", _ranking_mf,
                  {**mf, "loss": ("sampled_softmax",), "n_negatives": (1024,),
                   "sampler": ("uniform",), "wd": (0.0,)}),
    ]
    if importlib.util.find_spec("implicit") is not None:
        models += [
            Contender("implicit ALS", _implicit("als"),
                      {"factors": (64,) if smoke else (32, 64),
                       "iterations": (2 if smoke else 15,),
                       "regularization": (0.05,) if smoke else (0.05, 1.0, 10.0, 50.0),
                       "alpha": (1.0,) if smoke else (1.0, 10.0)}, course=False),
            Contender("implicit BPR", _implicit("bpr"),
                      {"factors": (64,) if smoke else (32, 64),
                       "iterations": (2 if smoke else 100,),
                       "learning_rate": (0.01,) if smoke else (0.005, 0.01, 0.05),
                       "regularization": (0.01,)}, course=False),
        ]
    return models


def _settings(grid: dict[str, tuple]) -> list[dict[str, Any]]:
    return [dict(zip(grid, values, strict=True)) for values in product(*grid.values())]


def _shrink(data: ImplicitData, n_users: int) -> ImplicitData:
    """The first n_users users only (smoke runs); the catalogue stays whole."""
    def keep(part: RatingTensors) -> RatingTensors:
        return part.subset(torch.nonzero(part.user_idx < n_users).squeeze(1))

    return ImplicitData(data.users, data.items, keep(data.train), keep(data.heldout))


def evaluate_contender(contender: Contender, data: ImplicitData, tune: ImplicitData,
                       seed: int = 0) -> dict[str, Any]:
    """Tune on the slice, refit the best setting on all training rows, score the test items."""
    tried = []
    settings = _settings(contender.grid)
    for hp in settings if len(settings) > 1 else []:  # a single setting needs no choosing
        scorer = contender.fitter(tune, dict(hp), seed)
        tried.append({**hp, "slice_ndcg": leave_last_out_metrics(
            scorer, tune.train, tune.heldout, tune.n_users, tune.n_items, K)[f"NDCG@{K}"]})
    best = (max(tried, key=lambda row: row["slice_ndcg"]) if tried
            else {**settings[0], "slice_ndcg": None})
    chosen = {key: value for key, value in best.items() if key != "slice_ndcg"}
    started = time.perf_counter()
    scorer = contender.fitter(data, dict(chosen), seed)
    seconds = time.perf_counter() - started
    scores = leave_last_out_metrics(scorer, data.train, data.heldout, data.n_users, data.n_items,
                                    K)
    return {"model": contender.name, "course": contender.course, **scores,
            "fit_seconds": seconds, "chosen": chosen, "slice_ndcg": best["slice_ndcg"],
            "n_settings": len(tried)}


def ranking_section(smoke: bool, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every contender on every dataset, and the targets; the bench's "ranking" section."""
    started = time.perf_counter()
    rows = []
    for dataset in DATASETS:
        data = encode_leave_last_out(load_ratings(dataset))
        if smoke:
            data = _shrink(data, SMOKE_USERS)
        tune = validation_slice(data)
        for contender in contenders(smoke):
            row = {"dataset": dataset, **evaluate_contender(contender, data, tune)}
            rows.append(row)
            log(f"ranking {dataset} {contender.name}: NDCG@{K} {row[f'NDCG@{K}']:.4f} "
                f"(chosen {json.dumps(row['chosen'])})")
    return {"rows": rows, "targets": ranking_targets(rows),
            "wall_seconds": time.perf_counter() - started}


def ranking_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best course model vs the best `implicit` model and vs twice popularity, per dataset."""
    ndcg, targets = f"NDCG@{K}", []
    for dataset in DATASETS:
        here = [r for r in rows if r["dataset"] == dataset]
        course = [r for r in here if r["course"] and r["model"] != "popularity"]
        peers = [r for r in here if not r["course"]]
        popular = next((r for r in here if r["model"] == "popularity"), None)
        if not course or popular is None:
            continue
        best = max(course, key=lambda r: r[ndcg])
        targets.append({
            "target": f"{dataset}: best course model at least 2x popularity (NDCG@{K})",
            "met": best[ndcg] >= 2 * popular[ndcg],
            "detail": f"{best['model']} {best[ndcg]:.4f} vs popularity {popular[ndcg]:.4f}"})
        if peers:
            rival = max(peers, key=lambda r: r[ndcg])
            targets.append({
                "target": f"{dataset}: best course model beats the best tuned implicit model "
                          f"(NDCG@{K})",
                "met": best[ndcg] > rival[ndcg],
                "detail": f"{best['model']} {best[ndcg]:.4f} vs {rival['model']} "
                          f"{rival[ndcg]:.4f}"})
    return targets


def ranking_table(rows: list[dict[str, Any]]) -> str:
    """One line per model: HR@10, NDCG@10 and coverage@10 on each dataset (best NDCG in bold)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    head = "| model | " + " | ".join(f"{d} HR@{K} | {d} NDCG@{K} | {d} coverage@{K}"
                                      for d in DATASETS) + " |"
    lines = [head, "|---|" + "---:|" * 3 * len(DATASETS)]
    best = {d: max((r[f"NDCG@{K}"] for r in rows if r["dataset"] == d), default=None)
            for d in DATASETS}
    for model in models:
        cells = []
        for dataset in DATASETS:
            row = next((r for r in rows if r["model"] == model and r["dataset"] == dataset), None)
            if row is None:
                cells += ["n/a"] * 3
                continue
            ndcg = f"{row[f'NDCG@{K}']:.4f}"
            cells += [f"{row[f'HR@{K}']:.4f}",
                      f"**{ndcg}**" if row[f"NDCG@{K}"] == best[dataset] else ndcg,
                      f"{row[f'coverage@{K}']:.3f}"]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ranking_markdown(ranking: dict[str, Any] | None) -> list[str]:
    """The ranking section of results.md (nothing when the section did not run)."""
    if not ranking:
        return []
    out = ["## Ranking from implicit feedback (leave-last-out, full ranking)\n",
           "Each user's latest rating is held out and ranked against every item the user has "
           "not rated in training (no sampled negatives). Every model is tuned on the training "
           "rows minus each user's second-to-last rating (NDCG@10 on that rating), refitted on "
           f"all training rows and scored once. Section time: {ranking['wall_seconds']:.0f} s.\n",
           ranking_table(ranking["rows"]),
           "\n| dataset | model | chosen | slice NDCG@10 | settings tried | fit s |",
           "|---|---|---|---:|---:|---:|"]
    for r in ranking["rows"]:
        slice_ndcg = "" if r["slice_ndcg"] is None else f"{r['slice_ndcg']:.4f}"
        out.append(f"| {r['dataset']} | {r['model']} | `{json.dumps(r['chosen'])}` | "
                   f"{slice_ndcg} | {r['n_settings']} | {r['fit_seconds']:.1f} |")
    out += ["", "| target | met | numbers |", "|---|---|---|"]
    out += [f"| {t['target']} | {'yes' if t['met'] else '**NOT MET**'} | {t['detail']} |"
            for t in ranking["targets"]]
    return [*out, ""]


def update_readme(ranking: dict[str, Any], readme: Path) -> str:
    """Rewrite README.md between the ranking markers; say what happened."""
    text = readme.read_text() if readme.is_file() else ""
    if MARK_START not in text or MARK_END not in text:
        return "README.md has no ranking markers: ranking table not written there"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    body = ("\nTop-10 lists from implicit feedback (notebook 09): each user's latest rating held "
            "out and ranked against every film the user has not rated; every model tuned on "
            "the second-to-last rating (higher is better; the best NDCG@10 in bold).\n\n"
            + ranking_table(ranking["rows"])
            + "\nThe course's goal for its ranking models (notebook 09), on each dataset:\n\n"
            + "".join(f"- {t['target']}: {'met' if t['met'] else '**NOT MET**'} "
                      f"({t['detail']})\n" for t in ranking["targets"]))
    readme.write_text(head + MARK_START + body + MARK_END + tail)
    return "README.md ranking table rewritten"

