"""The benchmark harness: its smoke mode end to end, the peer adapters, the README rewrite."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench import contenders, report, run
from bench.splits import Split
from utils.data import load_ratings

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "bench" / "run.py"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def test_smoke_run_writes_all_results(mirror: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MOVIELENS_MIRROR": str(mirror), "MF_COURSE_PROGRESS": "0",
           "MF_COURSE_DATA": str(tmp_path / "data")}
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(RUN), "--smoke", "--out", str(out)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert (out / "results.md").read_text().startswith("# Benchmark results")
    assert (out / "scaling.png").stat().st_size > 1000

    rows = results["accuracy"]["rows"]
    models = {row["model"] for row in rows}
    assert "MF+bias" in models
    for row in rows:
        assert 0.5 < row["rmse"] < 3.0 and row["mae"] <= row["rmse"] and row["fit_seconds"] > 0
    # Peers appear exactly when installed; otherwise the results say why they are missing.
    has_surprise = _installed("surprise")
    assert ("scikit-surprise SVD" in models) == has_surprise
    if not has_surprise:
        assert any("scikit-surprise" in line for line in results["skipped"])
    # SVD is timed again alone, with every course model that matches its RMSE.
    timed = results["accuracy"]["head_to_head"]
    assert any(t["model"] == "scikit-surprise SVD" for t in timed) == has_surprise
    for entry in timed:
        svd = next(t for t in timed if t["split"] == entry["split"]
                   and t["model"] == "scikit-surprise SVD")
        assert entry["median_seconds"] > 0 and entry["rmse"] <= svd["rmse"]

    loops = {row["loop"] for row in results["speed"]["rows"]}
    assert any(loop.startswith("utils.train.fit") for loop in loops)
    assert any(loop.startswith("deep-MF lab") for loop in loops)
    ratio = results["speed"]["ratios"][0]
    assert ratio["vs_dataloader_loop"] > 1  # the vectorised loop beats the per-sample DataLoader
    assert len(results["scaling"]["rows"]) >= 2 and "slope" in results["scaling"]
    assert results["meta"]["smoke"] is True
    _check_tables((out / "results.md").read_text(), has_surprise)
    throughput = {row["loop"].split(" (")[0] for row in results["throughput"]["rows"]}
    assert {"utils.train.fit", "utils.speed.fit_sgd"} <= throughput
    assert (out / "time_to_accuracy.png").stat().st_size > 1000

    # The ranking section: every model on both datasets, peers exactly when installed.
    ranking = results["ranking"]["rows"]
    for dataset in ("ml-latest-small", "ml-100k"):
        names = {row["model"] for row in ranking if row["dataset"] == dataset}
        assert {"popularity", "EASE", "EASE, recency-weighted history", "BPR-MF",
                "softmax-MF (sampled)"} <= names
        assert ({"implicit ALS", "implicit BPR"} <= names) == _installed("implicit")
    for row in ranking:
        assert 0 <= row["NDCG@10"] <= row["HR@10"] <= 1 and 0 < row["coverage@10"] <= 1
    assert "## Ranking from implicit feedback" in (out / "results.md").read_text()


# The header row of every table results.md writes (the leaderboard's columns are the splits).
EXPECTED_TABLES = {
    "## Accuracy leaderboard": "| model | ml-100k u1 (200-user subsample) |",
    "#### ml-100k u1 (200-user subsample)": "| model | RMSE | MAE | fit s | NDCG@10 |",
    "### Chosen hyperparameters": "| model | chosen | slice RMSE | note |",
    "### Head to head with scikit-surprise SVD": "| split | model | RMSE | fit s (median) | "
                                                 "SVD s / model s |",
    "### Time to accuracy": "| split | model | RMSE | fit s (median) | frontier |",
    "## Targets": "| target | met | numbers |",
    "## Speed": "| data | device | loop | batch | s/epoch | ratings/s | note |",
    "Ratios": "| data | device | best utils batch | ratings/s | × lab loop | "
              "× surprise SVD epoch |",
    "## Raw throughput": "| loop | threads | fit s | M ratings/s |",
    "## Scaling": "| source | ratings | users | items | fit s | ratings/s |",
    "## Ranking from implicit feedback": "| model | ml-latest-small HR@10 | ml-latest-small "
                                          "NDCG@10 | ml-latest-small coverage@10 | ml-100k HR@10 "
                                          "| ml-100k NDCG@10 | ml-100k coverage@10 |",
    "| dataset | model | chosen |": "| dataset | model | chosen | slice NDCG@10 | settings tried "
                                    "| fit s |",
}


def _check_tables(text: str, has_surprise: bool) -> None:
    """Each heading is followed by its table with the expected columns, rows of that width."""
    lines = text.splitlines()
    for heading, header in EXPECTED_TABLES.items():
        if not has_surprise and ("Head to head" in heading or heading == "## Targets"):
            continue
        start = next(n for n, line in enumerate(lines) if line.startswith(heading))
        at = next(n for n in range(start, len(lines)) if lines[n].startswith("| "))
        assert lines[at] == header, (heading, lines[at])
        rows = []
        for line in lines[at + 2:]:
            if not line.startswith("| "):
                break
            rows.append(line)
        assert rows, f"the table under {heading!r} has no rows"
        assert all(row.count(" | ") == header.count(" | ") for row in rows), heading


def test_surprise_adapter_matches_the_library(
    mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("surprise")
    monkeypatch.setenv("MOVIELENS_MIRROR", str(mirror))
    monkeypatch.setenv("MF_COURSE_DATA", str(tmp_path / "data"))
    import surprise

    base = load_ratings("ml-100k", file_name="u1.base")
    test = load_ratings("ml-100k", file_name="u1.test")
    keep = base.user_id <= 100
    split = Split("tiny", "ml-100k", base[keep], test[test.user_id <= 100])
    for name, hp in (("SVD", {"n_factors": 8, "n_epochs": 3}),
                     ("SVDpp", {"n_factors": 4, "n_epochs": 2}),
                     ("BaselineOnly", {"method": "als"})):
        fitted = contenders._surprise(name)(split, hp, 0)
        users, items, ratings = contenders._ids(split)
        frame = pd.DataFrame({"u": users, "i": items, "r": ratings})
        trainset = surprise.Dataset.load_from_df(
            frame, surprise.Reader(rating_scale=split.scale)).build_full_trainset()
        algo = (surprise.BaselineOnly(bsl_options=hp, verbose=False) if name == "BaselineOnly"
                else getattr(surprise, name)(random_state=0, **hp))
        algo.fit(trainset)
        rows = split.test_t.subset(torch.arange(50))
        ours = fitted.predict(rows.user_idx, rows.item_idx).numpy()
        pairs = zip(rows.user_idx.tolist(), rows.item_idx.tolist(), strict=True)
        theirs = [algo.predict(u, i).est for u, i in pairs]
        assert np.allclose(ours, theirs, atol=1e-4), name


def test_readme_section_is_rewritten_only_between_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = tmp_path / "README.md"
    monkeypatch.setattr(report, "README", readme)
    results = {"accuracy": {"rows": [
        {"split": "s", "model": "m", "rmse": 0.9, "fold_of": None},
        {"split": "s", "model": "p", "rmse": 0.95, "fold_of": None},
    ]}}
    assert "does not exist" in report.update_readme(results)
    readme.write_text("intro\n")
    assert "no leaderboard markers" in report.update_readme(results)
    assert readme.read_text() == "intro\n"
    readme.write_text(f"intro\n{report.MARK_START}\nSTALE TABLE\n{report.MARK_END}\noutro\n")
    report.update_readme(results)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{report.MARK_END}\noutro\n")
    assert "STALE TABLE" not in text and "| m | **0.9000** |" in text and "| p | 0.9500 |" in text


def test_a_partial_run_keeps_the_sections_it_did_not_run(tmp_path: Path) -> None:
    previous = {"meta": {"smoke": False}, "accuracy": {"rows": ["kept"]},
                "ranking": {"rows": ["kept too"]}, "speed": {"rows": ["old"]}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(previous))
    results = {"meta": {}, "speed": {"rows": ["new"]}}
    run.carry_over(results, path, {"speed"})
    assert results["speed"] == {"rows": ["new"]}  # what ran is never replaced
    assert results["accuracy"] == previous["accuracy"]
    assert results["ranking"] == previous["ranking"]
    assert results["meta"]["carried_over"] == {"sections": ["accuracy", "ranking"],
                                               "from_run": {"smoke": False}}
    everything = {"meta": {}}
    run.carry_over(everything, path, {name for name, _ in run.SECTIONS})
    assert everything == {"meta": {}}


def _tiny_split() -> Split:
    """A small synthetic train/test pair, enough for a few epochs in a second."""
    from utils.encode import random_split
    from utils.synthetic import synthetic_ratings

    ratings = synthetic_ratings(n_users=100, n_items=80, n_ratings=3_000, seed=0)
    return Split("tiny", "ml-100k", *random_split(ratings, valid_frac=0.2, seed=0))


@pytest.mark.parametrize("optimizer", ["adam", "hand-written sgd"])
def test_course_tuning_keeps_the_best_epoch_and_retrains_like_fit(optimizer: str) -> None:
    split = _tiny_split()
    grid = [{"n_factors": 8, "optimizer": optimizer, "lr": 0.01, "wd": wd, "batch_size": 256}
            for wd in (1e-4, 0.3)]
    course = contenders.CourseModel("tiny MF+bias", contenders._biased, grid, 6, "test")
    best, trials = course.tune(split)
    assert [t["wd"] for t in trials] == [1e-4, 0.3]
    assert best == min(trials, key=lambda t: t["slice_rmse"])
    assert all(1 <= t["n_epochs"] <= 6 for t in trials)
    fitted, history = course.train(split, best, seed=3, n_epochs=best["n_epochs"])
    assert len(history) == best["n_epochs"]
    torch.manual_seed(3)
    by_hand = contenders._biased(split, best)
    train = contenders.fit_sgd if optimizer == "hand-written sgd" else contenders.fit
    extra = {} if optimizer == "hand-written sgd" else {"optimizer": optimizer}
    train(by_hand, split.train_t, n_epochs=best["n_epochs"], lr=0.01, wd=best["wd"],
          batch_size=256, seed=3, **extra)
    test = split.test_t
    assert torch.equal(fitted.predict(test.user_idx, test.item_idx),
                       contenders.predict(by_hand, test.user_idx, test.item_idx))
