"""Section 2: speed. Seconds per epoch of the course loops, the lab loop and surprise's SVD
(`speed_section`), and raw throughput beside cornac and surprise (`throughput_section`)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.common import ML1M_ITEMS, ML1M_RATINGS, ML1M_USERS, log
from bench.splits import encoded_tensors
from utils.data import load_ratings
from utils.device import describe, pick_device
from utils.encode import RatingTensors, random_split
from utils.lab_loop import lab_epoch, lab_loader
from utils.models import BiasedMF
from utils.speed import can_compile_on_cpu, fit_sgd, sgd_step
from utils.synthetic import synthetic_ratings
from utils.train import fit


def time_utils_loop(data: RatingTensors, n_users: int, n_items: int, device: torch.device,
                    batch_size: int | None, n_epochs: int
                    ) -> float:
    """Seconds per epoch of utils.train.fit (median over epochs after the first, warm-up)."""
    torch.manual_seed(0)
    mean = float(data.ratings.mean())
    model = BiasedMF(n_users, n_items, 32, offset=mean).to(device)
    history = fit(model, data.to(device), n_epochs=n_epochs, lr=1e-3, batch_size=batch_size)
    seconds = history["seconds"].to_numpy()
    return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


def time_lab_loop(data: RatingTensors, n_users: int, n_items: int, device: torch.device,
                  max_steps: int) -> tuple[float, int]:
    """The deep-MF lab's DataLoader loop: time `max_steps` batches of 512, extrapolated."""
    torch.manual_seed(0)
    model = BiasedMF(n_users, n_items, 32, offset=float(data.ratings.mean())).to(device)
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


def _speed_plan(smoke: bool, cpu_threads: int) -> tuple[dict[str, Any], list[int | None],
                                                       list[int], int, int]:
    """The data sets, batch sizes, thread counts, lab steps and epochs the section times."""
    if smoke:
        sets = {"ml-100k (u1.base)": encoded_tensors(load_ratings("ml-100k", file_name="u1.base"))}
        return sets, [None, 4096], [cpu_threads], 20, 2
    synthetic = synthetic_ratings(ML1M_USERS, ML1M_ITEMS, ML1M_RATINGS, seed=0)
    sets = {
        f"synthetic ml-1m shape ({ML1M_RATINGS:,} ratings)": encoded_tensors(synthetic),
        "ml-100k (u.data, 100,000 ratings)": encoded_tensors(load_ratings("ml-100k")),
    }
    thread_options = sorted({1, os.cpu_count() or 1})  # 1 first: it runs the sweep
    return sets, [None, 1024, 4096, 16384, 65536, 262144], thread_options, 300, 3


def speed_section(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per epoch of utils.train.fit by batch size and threads, the lab loop, SVD."""
    cpu_threads = torch.get_num_threads()
    device = pick_device()
    sets, batch_sizes, thread_options, lab_steps, n_epochs = _speed_plan(args.smoke, cpu_threads)
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
                        name, where, "deep-MF lab's DataLoader loop (lab_epoch)", 512, epoch,
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
            lab = rows_here[rows_here["loop"].str.startswith("deep-MF lab")]
            if utils_rows.empty:
                continue
            best = utils_rows.loc[utils_rows["ratings_per_second"].idxmax()]
            batch = best["batch_size"]
            entry = {"dataset": dataset, "device": device,
                     "best_utils_batch_size": None if pd.isna(batch) else int(batch),
                     "best_utils_ratings_per_second": float(best["ratings_per_second"])}
            if not lab.empty:
                entry["vs_dataloader_loop"] = float(best["ratings_per_second"]
                                                 / lab["ratings_per_second"].iloc[0])
            if not surprise_rows.empty:
                entry["vs_surprise_svd_epoch"] = float(
                    best["ratings_per_second"] / surprise_rows["ratings_per_second"].iloc[0])
            out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# Section 3: scaling
# ---------------------------------------------------------------------------------------------



# Raw throughput: MF+bias, K=32, at ml-1m scale (90 % of the synthetic ratings train), the same
# number of epochs for every loop, best of THROUGHPUT_REPEATS fits, all in this one run.
THROUGHPUT_EPOCHS, THROUGHPUT_REPEATS, FAST_BATCH = 5, 2, 8192


def _fit_course(data: RatingTensors, n_users: int, n_items: int, n_epochs: int,
                threads: int) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = BiasedMF(n_users, n_items, 32, offset=float(data.ratings.mean()))
    started = time.perf_counter()
    fit(model, data, n_epochs=n_epochs, lr=1e-3, batch_size=1 << 16)
    return time.perf_counter() - started


def _fit_fast(data: RatingTensors, n_users: int, n_items: int, n_epochs: int,
              threads: int, step: Callable[..., torch.Tensor] = sgd_step) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = BiasedMF(n_users, n_items, 32, offset=float(data.ratings.mean()))
    started = time.perf_counter()
    fit_sgd(model, data, n_epochs=n_epochs, batch_size=FAST_BATCH, step=step)
    return time.perf_counter() - started


def _fit_fast_compiled(data: RatingTensors, n_users: int, n_items: int, n_epochs: int,
                       threads: int) -> float:
    """fit_sgd with its batch step fused by torch.compile; compiling is a warm-up, not timed."""
    compiled = torch.compile(sgd_step, dynamic=False)
    _fit_fast(data, n_users, n_items, 1, threads, compiled)  # compiles the full and last batch
    return _fit_fast(data, n_users, n_items, n_epochs, threads, compiled)


def _fit_cornac(data: RatingTensors, n_users: int, n_items: int, n_epochs: int,
                threads: int) -> float:
    from cornac.data import Dataset as CornacDataset
    from cornac.models import MF

    triples = zip(data.user_idx.tolist(), data.item_idx.tolist(), data.ratings.tolist(),
                  strict=True)
    trainset = CornacDataset.from_uir(list(triples), seed=0)
    model = MF(k=32, max_iter=n_epochs, use_bias=True, num_threads=threads, seed=0)
    started = time.perf_counter()
    model.fit(trainset)
    return time.perf_counter() - started


def _fit_surprise(data: RatingTensors, n_users: int, n_items: int, n_epochs: int,
                  threads: int) -> float:
    import surprise

    frame = pd.DataFrame({"u": data.user_idx.numpy(), "i": data.item_idx.numpy(),
                          "r": data.ratings.numpy().astype(np.float64)})
    reader = surprise.Reader(rating_scale=(0.5, 5.0))
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    algo = surprise.SVD(n_factors=32, n_epochs=n_epochs, random_state=0)
    started = time.perf_counter()
    algo.fit(trainset)
    return time.perf_counter() - started


def throughput_loops(status: dict[str, str]) -> list[tuple[str, Any, tuple[int, ...]]]:
    """(name, timer, thread counts) of each loop; peers only where installed."""
    loops: list[tuple[str, Any, tuple[int, ...]]] = [
        ("utils.train.fit (Adam, batch 65,536; the lessons' loop)", _fit_course, (1, 2)),
        (f"utils.speed.fit_sgd (hand-written SGD, batch {FAST_BATCH:,})", _fit_fast, (1, 2)),
    ]
    if can_compile_on_cpu():
        loops.append(("the same, its step fused by torch.compile (compile time not counted)",
                      _fit_fast_compiled, (1, 2)))
    if not status.get("cornac", "unavailable").startswith("unavailable"):
        loops.append(("cornac MF (compiled SGD)", _fit_cornac, (1, 2)))
    if not status.get("scikit-surprise", "unavailable").startswith("unavailable"):
        loops.append(("scikit-surprise SVD (single-threaded)", _fit_surprise, (1,)))
    return loops


def throughput_section(args: argparse.Namespace, status: dict[str, str]) -> dict[str, Any]:
    """Training ratings per second of each loop at ml-1m scale, 1 and 2 threads, one run."""
    if args.smoke:
        frame = load_ratings("ml-100k", file_name="u1.base")
        n_epochs, repeats, name = 1, 1, "ml-100k u1.base"
    else:
        frame = synthetic_ratings(ML1M_USERS, ML1M_ITEMS, ML1M_RATINGS, seed=0)
        n_epochs, repeats = THROUGHPUT_EPOCHS, THROUGHPUT_REPEATS
        name = f"synthetic ml-1m shape, 90% of {ML1M_RATINGS:,} ratings"
    train, _ = random_split(frame, 0.1, seed=0)
    data, n_users, n_items = encoded_tensors(train)
    loops = throughput_loops(status)
    if args.smoke:
        loops = [loop for loop in loops  # compiling and cornac cost more than a smoke run
                 if not loop[0].startswith(("cornac", "the same, its step fused"))]
    threads_before, rows = torch.get_num_threads(), []
    for loop, timer, thread_counts in loops:
        for threads in thread_counts:
            seconds = min(timer(data, n_users, n_items, n_epochs, threads)
                          for _ in range(repeats))
            rows.append({"loop": loop, "threads": threads, "fit_seconds": seconds,
                         "ratings_per_second": n_epochs * len(data) / seconds})
            log(f"  throughput {loop}, {threads} thread(s): "
                f"{rows[-1]['ratings_per_second'] / 1e6:.2f} M ratings/s")
    torch.set_num_threads(threads_before)
    return {"data": name, "n_ratings": len(data), "n_epochs": n_epochs, "repeats": repeats,
            "rows": rows, "load": [round(x, 1) for x in os.getloadavg()]}
