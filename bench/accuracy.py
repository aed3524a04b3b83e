"""Section 1: the accuracy leaderboard, tuned on a slice, and time to accuracy (every model
fitted again, one at a time, median of three)."""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.common import HEAD_TO_HEAD, NDCG_K, log
from bench.contenders import CourseModel, PeerModel, course_models, peer_models, score
from bench.splits import Split, make_splits, tuning_split
from utils.models import BiasedMF
from utils.train import fit


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


Contender = CourseModel | PeerModel
Job = tuple[Split, Contender, list[Future]]


def _accuracy(args: argparse.Namespace, courses: list[CourseModel], peers: list[PeerModel],
              pool: ProcessPoolExecutor | _Inline, skipped: list[str]) -> dict[str, Any]:
    splits = make_splits(args.smoke, skipped)
    tune_on = tuning_split(args.smoke)
    chosen = tune_all(args, courses, peers, pool, tune_on)
    jobs, queued = _submit_peers(splits, peers, chosen, pool)
    jobs += _train_courses(splits, courses, chosen, skipped)
    # Once the course models are done, this process takes over peer runs not yet started.
    for futures, position, job in reversed(queued):
        if futures[position].cancel():
            futures[position] = _Inline().submit(_peer_run, *job)
    rows = _collect(splits, [*courses, *peers], jobs, skipped)
    log("accuracy rows done")
    rows += five_fold_rows(rows)
    timed = time_to_accuracy(splits, [*courses, *peers], chosen, rows,
                             1 if args.smoke else HEAD_TO_HEAD)
    return {"tuning_split": tune_on.key, "hyperparameters": chosen, "rows": rows,
            "time_to_accuracy": timed, "head_to_head": head_to_head(timed),
            "peers_in_parallel_process": isinstance(pool, ProcessPoolExecutor),
            "splits": [{"split": s.key, "n_train": len(s.train_t), "n_test": len(s.test_t),
                        "n_test_dropped_unseen": s.encoded.n_valid_dropped,
                        "seeds": list(s.seeds)} for s in splits]}


def tune_all(args: argparse.Namespace, courses: list[CourseModel], peers: list[PeerModel],
             pool: ProcessPoolExecutor | _Inline, tune_on: Split) -> dict[str, Any]:
    """Each family's chosen grid entry and every trial (peers with a grid tune in the pool)."""
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
    return chosen


def _submit_peers(splits: list[Split], peers: list[PeerModel], chosen: dict[str, Any],
                  pool: ProcessPoolExecutor | _Inline
                  ) -> tuple[list[Job], list[tuple[list[Future], int, tuple[Any, ...]]]]:
    """Every peer run goes to the pool first; `queued` lets this process take some over."""
    jobs: list[Job] = []
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
    return jobs, queued


def _train_courses(splits: list[Split], courses: list[CourseModel], chosen: dict[str, Any],
                   skipped: list[str]) -> list[Job]:
    """Every course model on every split and seed, in this process."""
    jobs: list[Job] = []
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
    return jobs


def _collect(splits: list[Split], models: list[Contender], jobs: list[Job],
             skipped: list[str]) -> list[dict[str, Any]]:
    """Leaderboard rows in split order, then model order; peer failures are reported once."""
    order = {(s.key, _label(m)): n for n, (s, m) in enumerate(
        (s, m) for s in splits for m in models)}
    rows = []
    for split, model, futures in sorted(jobs, key=lambda j: order[(j[0].key, _label(j[1]))]):
        row = _row(split, model, futures, skipped if model.kind == "peer" else [])
        if row:
            rows.append(row)
    return rows


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


def time_to_accuracy(splits: list[Split], models: list[Contender], chosen: dict[str, Any],
                     rows: list[dict[str, Any]], repeats: int = HEAD_TO_HEAD
                     ) -> list[dict[str, Any]]:
    """Fit seconds of every model on every split, timed again: the median of `repeats` fits.

    The leaderboard's fit times come from runs that share the machine with the peers' worker
    process. Here every model that has a row on the split runs one at a time in this process,
    interleaved, `repeats` times (seed 0), and the median is kept: the fair basis for "at
    least as accurate and at least as fast". Folds are averaged into their group's row.
    """
    rmse = {(r["split"], r["model"]): r["rmse"] for r in rows}
    timed = []
    for split in splits:
        contenders = [m for m in models if (split.key, _label(m)) in rmse]
        seconds: dict[str, list[float]] = {_label(m): [] for m in contenders}
        kinds = {_label(m): m.kind for m in contenders}
        for _ in range(repeats):
            for model in contenders:
                hp = chosen[_label(model)]["chosen"]
                fitted = (model.train(split, hp, 0, hp["n_epochs"])[0]
                          if isinstance(model, CourseModel) else model.train(split, hp, 0))
                seconds[_label(model)].append(fitted.seconds)
        for name, times in seconds.items():
            timed.append({"split": split.key, "fold_of": split.fold_of, "listed": split.listed,
                          "model": name, "rmse": rmse[(split.key, name)],
                          "kind": kinds[name],
                          "median_seconds": float(np.median(times)), "seconds": times})
        log(f"  timed on {split.key}: " + ", ".join(
            f"{name} {np.median(times):.2f} s" for name, times in seconds.items()))
    return timed + _fold_means(timed)


def _fold_means(timed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mean over the folds of each model timed on every fold of its group."""
    folds = pd.DataFrame([t for t in timed if t["fold_of"]])
    if folds.empty:
        return []
    out = []
    n_folds = folds.groupby("fold_of")["split"].nunique()
    for (group, name), part in folds.groupby(["fold_of", "model"], sort=False):
        if len(part) == n_folds[group]:  # timed on every fold
            out.append({"split": group, "fold_of": None, "listed": True, "model": name,
                        "kind": part["kind"].iloc[0], "rmse": float(part["rmse"].mean()),
                        "median_seconds": float(part["median_seconds"].mean()),
                        "seconds": None})
    return out


def head_to_head(timed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Surprise SVD and the course models at or below its RMSE on that split (or fold group)."""
    svd_name = "scikit-surprise SVD"
    svd = {t["split"]: t["rmse"] for t in timed if t["model"] == svd_name}
    out = []
    for entry in timed:
        if entry["split"] not in svd:
            continue
        group = entry["fold_of"]
        group_rmse = next((t["rmse"] for t in timed
                           if t["split"] == group and t["model"] == entry["model"]), math.inf)
        at_or_below = entry["rmse"] <= svd[entry["split"]] or (
            group is not None and group_rmse <= svd.get(group, -math.inf))
        if entry["model"] == svd_name or (entry["kind"] == "course" and at_or_below):
            out.append(entry)
    return out


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

