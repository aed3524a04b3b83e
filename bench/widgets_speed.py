"""Response times of the lessons' widgets (utils/widgets.py) on ml-latest-small.

    python bench/widgets_speed.py [--repeats 20]

Trains a small BiasedMF, then times each interaction of the recommendation explorer (pick a
user, search a title, rate a film and fold in, click a recommendation) and the training
playground's retrains (notebook 03's dot product, notebook 06's gravity model) at the default
setting and at the largest one its sliders allow. The goals: under
100 ms per explorer interaction and about 2 s per retrain on a 2-core CPU. Medians over
`--repeats` runs; the playground's cache is cleared before each timed retrain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from utils.data import load_movies, load_ratings
from utils.encode import encode_split, random_split, time_split, to_tensors
from utils.models import BiasedMF
from utils.train import fit
from utils.widgets import RecommendationExplorer, TrainingPlayground


def median_ms(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds of `action` over `repeats` calls.

    CPU time (all threads of this process) is what the work costs; on a busy machine the wall
    clock adds the time spent waiting for a free core.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (time.process_time() - started_cpu))
    return statistics.median(wall), statistics.median(cpu)


def explorer_times(repeats: int) -> dict[str, tuple[float, float]]:
    """Milliseconds per explorer interaction, on a BiasedMF of the random 80/20 split."""
    ratings, movies = load_ratings("ml-latest-small"), load_movies("ml-latest-small")
    split = encode_split(*random_split(ratings, valid_frac=0.2, seed=0))
    train = to_tensors(split.train)
    torch.manual_seed(0)
    model = BiasedMF(split.n_users, split.n_items, 30, offset=float(train.ratings.mean()))
    fit(model, train, n_epochs=8, lr=0.01, wd=3e-4, bias_wd=0.0, batch_size=2048)
    explorer = RecommendationExplorer(model, train, split.users, split.items, movies,
                                      k=10, min_count=20)
    user_ids = list(explorer.user_picker.options)
    turn = iter(range(10**9))
    films = [int(i) for i in explorer.recommendations["item_idx"]]
    return {
        "pick a user": median_ms(
            lambda: setattr(explorer.user_picker, "value", user_ids[next(turn) % 600]), repeats),
        "search a title": median_ms(lambda: explorer.find("star"), repeats),
        "rate a film (fold in)": median_ms(
            lambda: explorer.rate(films[next(turn) % len(films)], 4.5), repeats),
        "click a recommendation": median_ms(
            lambda: setattr(explorer.pick, "index", next(turn) % explorer.k), repeats),
    }


def playground_times(repeats: int) -> dict[str, tuple[float, float]]:
    """Seconds per uncached retrain on notebook 03's time split: default and largest settings.

    Both kinds the lessons show are timed: the dot product of notebook 03 and the gravity model
    of notebook 06 (with notebook 06's strengths and its slider limit of 48 factors). The largest
    setting is read from the sliders' own limits, so the measurement follows any change to them.
    """
    split = encode_split(*time_split(load_ratings("ml-latest-small"), 0.8))
    train, valid = to_tensors(split.train), to_tensors(split.valid)
    playgrounds = {
        "dot": TrainingPlayground(train, valid, split.n_users, split.n_items),
        "gravity": TrainingPlayground(
            train, valid, split.n_users, split.n_items, kind="gravity", n_factors=32, wd=0.15,
            lr=0.1, gravity=0.1, wd_options=(0.0, 0.05, 0.1, 0.15, 0.25, 0.5),
            gravity_options=(0.0, 0.03, 0.05, 0.1, 0.3, 1.0), max_factors=48),
    }
    results = {}
    for kind, playground in playgrounds.items():
        sliders = (playground.factors_slider, playground.epochs_slider)
        settings = {"default": tuple(slider.value for slider in sliders),
                    "largest": tuple(slider.max for slider in sliders)}
        for label, (factors, epochs) in settings.items():
            def retrain(factors: int = factors, epochs: int = epochs,
                        playground: TrainingPlayground = playground) -> None:
                playground.cache.clear()
                with playground.widget.hold_trait_notifications():
                    playground.factors_slider.value = factors
                    playground.epochs_slider.value = epochs
                playground.retrain()
            name = f"{kind}, {label} ({factors} factors, {epochs} epochs)"
            results[name] = median_ms(retrain, max(1, repeats // 5))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, (wall, cpu) in explorer_times(args.repeats).items():
        print(f"explorer   {name:<34} {wall:7.1f} ms wall, {cpu:7.1f} ms CPU (goal < 100 ms)")
    for name, (wall, cpu) in playground_times(args.repeats).items():
        print(f"playground {name:<44} {wall / 1000:7.2f} s  wall, {cpu / 1000:7.2f} s  CPU "
              "(goal about 2 s)")


if __name__ == "__main__":
    main()
