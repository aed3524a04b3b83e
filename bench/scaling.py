"""Section 3: fit time of MF+bias from 10 thousand to 10 million ratings."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import ML1M_ITEMS, ML1M_RATINGS, ML1M_USERS, log
from bench.splits import encoded_tensors
from utils.data import (
    load_ratings,
)
from utils.models import BiasedMF
from utils.synthetic import synthetic_ratings
from utils.train import fit


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
        model = BiasedMF(n_users, n_items, 32, offset=float(data.ratings.mean()))
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


