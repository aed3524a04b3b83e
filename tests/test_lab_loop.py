"""Unit tests of utils.lab_loop: the lab's per-sample Dataset/DataLoader epoch (a baseline)."""

from __future__ import annotations

import math

import torch

from utils.encode import RatingTensors
from utils.lab_loop import PerSampleRatings, lab_epoch, lab_loader
from utils.models import DotProductMF
from utils.train import evaluate


def _data(n: int = 1000, seed: int = 0) -> RatingTensors:
    generator = torch.Generator().manual_seed(seed)
    return RatingTensors(
        torch.randint(0, 20, (n,), generator=generator),
        torch.randint(0, 15, (n,), generator=generator),
        torch.randint(1, 6, (n,), generator=generator).float(),
    )


def test_dataset_builds_two_tensors_per_sample() -> None:
    data = _data(10)
    dataset = lab_loader(data, batch_size=4).dataset
    assert isinstance(dataset, PerSampleRatings) and len(dataset) == 10
    x, r = dataset[3]
    assert x.dtype == torch.int64 and x.shape == (2,)
    assert r.dtype == torch.float32 and r.shape == (1,)
    assert x.tolist() == [int(data.user_idx[3]), int(data.item_idx[3])]
    assert float(r) == float(data.ratings[3])


def test_loader_batches_cover_every_rating_once() -> None:
    data = _data(1000)
    batches = list(lab_loader(data, batch_size=512, seed=1))
    assert [len(r) for _, r in batches] == [512, 488]
    x = torch.cat([b[0] for b in batches])  # (N, 2)
    assert sorted(x[:, 0].tolist()) == sorted(data.user_idx.tolist())
    # A seeded shuffle: the same seed gives the same order.
    again = torch.cat([b[0] for b in lab_loader(data, batch_size=512, seed=1)])
    assert torch.equal(x, again)


def test_epoch_trains_and_counts() -> None:
    torch.manual_seed(0)
    data = _data(2000)
    model = DotProductMF(20, 15, 4, init="normal")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    before = evaluate(model, data)["rmse"]
    for _ in range(5):
        epoch = lab_epoch(model, optimizer, lab_loader(data, batch_size=128), "cpu")
    assert epoch.n_steps == math.ceil(2000 / 128) and epoch.n_ratings == 2000
    assert epoch.seconds > 0 and epoch.ratings_per_second > 0
    assert evaluate(model, data)["rmse"] < before
    assert math.isfinite(epoch.train_rmse)


def test_max_steps_stops_early() -> None:
    model = DotProductMF(20, 15, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    epoch = lab_epoch(model, optimizer, lab_loader(_data(1000), batch_size=100), "cpu",
                      max_steps=3)
    assert (epoch.n_steps, epoch.n_ratings) == (3, 300)
