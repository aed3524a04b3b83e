"""Add the profile and the hand-written SGD loop to notebook 07's speed section.

    python tools/add_speed_cells.py [notebooks/07_deep_mf.ipynb]

The cells go at the end of the subsection whose heading starts with ANCHOR (found by its text,
so the script survives cells being added or moved elsewhere), before the next heading or the
notebook's closing results cell. Every cell it adds carries `metadata.speed_cells`; running the
script again first removes those cells, so it is idempotent and re-running it updates them.
It also adds the `utils.speed` import to the imports cell and the loop's knobs to the
parameters cell, each once. Re-execute the notebook afterwards (tools/run_notebooks.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "07_deep_mf.ipynb"
ANCHOR = "### At ml-1m scale"
MARKER = "speed_cells"
IMPORT_AFTER = "from utils.train import"
IMPORT_LINE = "from utils.speed import fit_sgd, profile_epoch, time_row_updates"
KNOBS = """
# The hand-written SGD loop of section 8 (per-rating lr and L2, as in surprise and cornac)
SGD_LR = 0.01
SGD_WD = 0.05
SGD_BATCH = 4096
SGD_EPOCHS = 30
"""

CELLS = [
    ("markdown", """\
### Where a step spends its time

At batch 65,536, one step of `fit` is a handful of large tensor operations. To see which of
them cost the time, `utils.speed.profile_epoch` runs one epoch of the same loop (the same
32-factor model, Adam, mean squared error) and reads a wall clock after each phase: drawing
the batch (a shuffled order, then three gathers), the forward pass and the loss, the backward
pass, and the optimiser step. `torch.profiler` shows the same per operator; a clock per phase is
enough to decide what to change."""),
    ("code", """\
# NBVAL_IGNORE_OUTPUT
# (timings: they differ from run to run)
torch.manual_seed(SEED)
profiled = BiasedMF(syn_split.n_users, syn_split.n_items, 32, offset=3.5)
step_profile = profile_epoch(profiled, syn_train.to("cpu"), BIG_BATCH)
step_profile.round(3)"""),
    ("markdown", """\
The backward pass and the forward gathers take most of the epoch. The backward pass adds every
rating's gradient row into gradient tables as large as the embedding tables. Adam's step, which
updates every row of both tables, is a small share here only because ml-1m's tables are small
(under 10,000 rows of 32 numbers) next to a batch of 65,536 ratings; with the 162,000 users of
ml-25m it would weigh much more. Two things follow.

First, the row additions are where a faster loop must save. PyTorch has three ways to add a
batch of rows into a table, all giving the same sums; which is fastest depends on the machine,
the batch size and the PyTorch version, so we time them rather than guess (`utils.speed` uses
`index_add_`, the plainest, which was as fast as any in our timings):"""),
    ("code", """\
# NBVAL_IGNORE_OUTPUT
# (timings: they differ from run to run)
time_row_updates().round(2)"""),
    ("markdown", """\
Second, autograd and Adam are more machinery than MF+bias needs. Its gradients are short enough
to write by hand: with the error $e = r - (\\mu + b_u + b_i + p_u \\cdot q_i)$ of one rating,
plain SGD moves $p_u$ by $\\text{lr}\\,(e\\,q_i - \\text{wd}\\,p_u)$, $q_i$ by
$\\text{lr}\\,(e\\,p_u - \\text{wd}\\,q_i)$ and each bias by $\\text{lr}\\,(e - \\text{wd}\\,b)$.
This is the update Simon Funk made famous in the Netflix Prize ("Netflix Update: Try This at
Home", https://sifter.org/~simon/journal/20061211.html), and the one scikit-surprise's and
cornac's compiled loops run one rating at a time. `utils.speed.fit_sgd` applies it to a whole
batch at once with `index_add_`: no autograd, no gradient tables, no optimiser state, and only
the rows the batch touches are written. It trains MF+bias without a sigmoid
range and nothing else; the rest of the course keeps `fit`."""),
    ("code", """\
# NBVAL_IGNORE_OUTPUT
# (timings: they differ from run to run)
torch.manual_seed(SEED)
sgd_32 = BiasedMF(syn_split.n_users, syn_split.n_items, 32, offset=3.5).to(DEVICE)
sgd_history = fit_sgd(sgd_32, syn_train, n_epochs=2, lr=SGD_LR, wd=SGD_WD,
                      batch_size=SGD_BATCH, seed=SEED)
sgd_seconds = float(sgd_history["seconds"].iloc[-1])
print(f"fit (autograd + Adam), batch {BIG_BATCH:,}: "
      f"{len(syn_train) / seconds / 1e6:.2f} million ratings/s")
print(f"fit_sgd (by hand), batch {SGD_BATCH:,}: "
      f"{len(syn_train) / sgd_seconds / 1e6:.2f} million ratings/s, "
      f"{seconds / sgd_seconds:.1f}x (timings, not asserted)")"""),
    ("markdown", """\
Faster steps are only worth having if they reach the same accuracy. On the lesson's real
ratings, the same split as before, MF+bias trained by hand for `SGD_EPOCHS` epochs against MF
with biases trained by `fit`:"""),
    ("code", """\
torch.manual_seed(SEED)
sgd_mf = BiasedMF(split.n_users, split.n_items, 50,
                  offset=float(train.ratings.mean())).to(DEVICE)
sgd_fit = fit_sgd(sgd_mf, train, n_epochs=SGD_EPOCHS, lr=SGD_LR, wd=SGD_WD,
                  batch_size=SGD_BATCH, seed=SEED)
sgd_rmse = evaluate(sgd_mf, test)["rmse"]
fit_rmse = float(comparison.loc["MF + biases", "test_rmse"])
print(f"{DATASET} test RMSE: fit_sgd {sgd_rmse:.4f} in {sgd_fit['seconds'].sum():.1f} s; "
      f"MF + biases with fit {fit_rmse:.4f}")
if DATASET == "ml-100k":  # measured: 0.9041 against 0.9061
    assert abs(sgd_rmse - fit_rmse) < 0.015, (sgd_rmse, fit_rmse)"""),
]


def _source(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def _cell(number: int, kind: str, text: str) -> dict:
    cell = {"cell_type": kind, "id": f"{MARKER}-{number}", "metadata": {MARKER: True},
            "source": _source(text)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _insert_at(cells: list[dict]) -> int:
    """After the anchor subsection's last cell: before the next heading or results cell."""
    starts = [n for n, c in enumerate(cells) if c["cell_type"] == "markdown"
              and "".join(c["source"]).lstrip().startswith(ANCHOR)]
    if not starts:
        raise SystemExit(f"no markdown cell starts with {ANCHOR!r}: is this notebook 07?")
    for n in range(starts[0] + 1, len(cells)):
        text = "".join(cells[n]["source"]).lstrip()
        if text.startswith("#") and cells[n]["cell_type"] == "markdown":
            return n
        if cells[n]["cell_type"] == "code" and "headline" in text:  # the closing results
            return n
    return len(cells)


def _add_import(cells: list[dict]) -> None:
    """Put IMPORT_LINE among the imports cell's `from utils.` lines, in sorted order, once."""
    for cell in cells:
        lines = "".join(cell["source"]).split("\n")
        if cell["cell_type"] != "code" or not any(x.startswith(IMPORT_AFTER) for x in lines):
            continue
        if IMPORT_LINE not in lines:
            ours = [n for n, x in enumerate(lines) if x.startswith("from utils.")]
            later = [n for n in ours if lines[n] > IMPORT_LINE]
            at = later[0] if later else ours[-1] + 1
            lines.insert(at, IMPORT_LINE)
            cell["source"] = _source("\n".join(lines))
        return
    raise SystemExit(f"no code cell holds {IMPORT_AFTER!r} (the imports cell)")


def patch(path: Path) -> int:
    notebook = json.loads(path.read_text())
    cells = [c for c in notebook["cells"] if not c.get("metadata", {}).get(MARKER)]
    at = _insert_at(cells)
    cells[at:at] = [_cell(n, kind, text) for n, (kind, text) in enumerate(CELLS)]
    _add_import(cells)
    parameters = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])),
                      None)
    if parameters is None:
        raise SystemExit("no cell is tagged `parameters`")
    if "SGD_LR" not in "".join(parameters["source"]):
        parameters["source"] = _source("".join(parameters["source"]).rstrip("\n") + "\n" + KNOBS
                                       .rstrip("\n"))
    notebook["cells"] = cells
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    print(f"{path}: {len(CELLS)} speed cells at position {at}")
    return 0


if __name__ == "__main__":
    sys.exit(patch(Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOK))
