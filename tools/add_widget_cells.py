"""Insert the interactive widget cells (utils/widgets.py) into the lessons, or refresh them.

    python tools/add_widget_cells.py [notebooks/*.ipynb ...]

Each block of cells is placed by a markdown heading found by its text, in whichever lesson holds
it: "before" the heading's cell, or at the "end" of its section (before the next heading of the
same or a higher level). Inserted cells carry `metadata.mf_widget`; a rerun first removes every
such cell, so it replaces them rather than adding copies. The script stops with a clear message
if an anchor is missing or a name the cells use is not defined earlier in the lesson. Re-execute
the changed lessons afterwards with tools/run_notebooks.py to store their outputs.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

MARKER = "mf_widget"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@dataclass(frozen=True)
class Block:
    """Cells to insert at a heading; `needs` are the lesson's names the code uses."""

    name: str
    heading: str
    where: str  # "before" the heading's cell or at the "end" of its section
    needs: tuple[str, ...]
    cells: tuple[tuple[str, str], ...]  # (cell type, source)


PLAYGROUND_03 = Block(
    "playground", "## Summary", "before",
    ("train", "valid", "split", "SEED"),
    (("markdown", """\
## A playground: factors, weight decay, learning rate and epochs

The sliders retrain the dot-product model on this notebook's time split (full-batch Adam at a
constant learning rate, so the curves differ a little from the recipe above) and redraw its
training loss and validation MSE; the grey dotted line is the previous setting's validation
curve. Each setting is trained once with the same seed and remembered, so moving a slider back
brings back the very same curve. Things to try: push the epochs up with weight decay 0 and watch
the validation curve turn upwards while the training loss keeps falling (overfitting); then raise
the weight decay step by step; then try a learning rate of 0.3. Without a running kernel (on
GitHub, for instance) you see a picture of the default setting instead."""),
     ("code", """\
from utils.widgets import TrainingPlayground

playground = TrainingPlayground(train, valid, split.n_users, split.n_items, kind="dot",
                                n_factors=50, wd=1e-5, lr=0.03, n_epochs=30, seed=SEED)
playground"""),
     ("code", """\
# The default setting, the same on every run: a seeded model of 50 factors
assert 0.9 < playground.valid_rmse < 1.1, playground.valid_rmse""")),
)

EXPLORER_04 = Block(
    "explorer", "### Top-10 recommendations for one user", "end",
    ("model", "r_train", "r_split", "movies", "TOP_K", "MIN_RATINGS", "USER_ID", "DEVICE",
     "torch"),
    (("markdown", """\
### Explore: any user, or yourself

The explorer below shows the top 10 of the per-rating-L2 model (a) for any user, and splits each
score into the parts the model adds up: the global offset, the user's bias, the film's bias and
the dot product of the two factor vectors. Switch to "me", search a few films you know and rate
them: the model *folds you in* without retraining. Your bias and vector are the ones that best
explain your ratings with every film vector held fixed, a ridge regression with one row per
rating you gave, solved exactly in well under a millisecond. Click a recommendation to see the
films whose vectors point the same way."""),
     ("code", """\
from utils.widgets import RecommendationExplorer

explorer = RecommendationExplorer(model, r_train, r_split.users, r_split.items, movies,
                                  k=TOP_K, min_count=MIN_RATINGS, user_id=USER_ID)
explorer"""),
     ("markdown", """\
The parts in the table are not an approximation: they add up to exactly what the model
predicts for those films."""),
     ("code", """\
import numpy as np

from utils.train import predict

shown = torch.tensor(explorer.recommendations["item_idx"].to_numpy(), device=DEVICE)
user = torch.as_tensor(r_split.users.encode([USER_ID]), device=DEVICE).expand(len(shown))
predicted = predict(model, user, shown).cpu().numpy()  # (TOP_K,)
parts = explorer.recommendations[["offset", "user bias", "film bias", "factors"]].sum(axis=1)
assert np.allclose(parts, predicted, atol=1e-4), (parts, predicted)
assert np.allclose(explorer.recommendations["score"], predicted, atol=1e-4)""")),
)

GRAVITY_PLAYGROUND_06 = Block(
    "gravity playground", "## 5. Choosing", "end",
    ("fit_t", "tune_t", "split", "N_FACTORS", "SEED"),
    (("markdown", """\
The grid above tried a dozen settings. The playground below retrains the same model (full-batch
AdamW at a constant learning rate, 30 epochs) on the same 90 % and scores the same tuning slice
for any L2 and gravity strengths you pick; each setting is trained once with the same seed and
remembered. Watch the validation curve as gravity rises from 0, then as it grows too strong."""),
     ("code", """\
from utils.widgets import TrainingPlayground

gravity_playground = TrainingPlayground(
    fit_t, tune_t, split.n_users, split.n_items, kind="gravity", n_factors=N_FACTORS, wd=0.15,
    lr=0.1, n_epochs=30, gravity=0.1, wd_options=(0.0, 0.05, 0.1, 0.15, 0.25, 0.5),
    gravity_options=(0.0, 0.03, 0.05, 0.1, 0.3, 1.0), max_epochs=60, y_max=1.5, seed=SEED)
gravity_playground""")),
)

MAP_06 = Block(
    "embedding map", "## 11. A rotatable 3D view", "end",
    ("models", "movie_vectors", "movies", "split", "keep", "kept_genres", "maps", "points_3d",
     "KNN_K", "SEED"),
    (("markdown", """\
### The same map, live

The map below runs in JupyterLab and on Colab alike, with no ipympl: hover over a point for the
film's title and genres, highlight a genre, pick a film by title or click its point to ring its
nearest neighbours, and switch to 3D to turn the cloud with the mouse. The neighbours are
measured by cosine in the full 32-dimensional space, not on the map, so they need not look
close here: t-SNE keeps neighbourhoods only roughly."""),
     ("code", """\
from utils.widgets import EmbeddingMap

embedding_map = EmbeddingMap(
    movie_vectors(models["L2 + gravity"]), movies["title"].reindex(split.items.decode(keep)),
    kept_genres, points_2d=maps["L2 + gravity"], points_3d=points_3d, k=KNN_K,
    film="Star Wars (1977)", genre="Horror", seed=SEED)
embedding_map""")),
)

BLOCKS = (PLAYGROUND_03, EXPLORER_04, GRAVITY_PLAYGROUND_06, MAP_06)
LESSON_OF = {PLAYGROUND_03: "03_", EXPLORER_04: "", GRAVITY_PLAYGROUND_06: "06_", MAP_06: "06_"}


def heading_level(cell: nbformat.NotebookNode) -> int | None:
    """The level of the first heading in a markdown cell (## -> 2), or None."""
    if cell.cell_type != "markdown":
        return None
    match = re.match(r"(#+) ", cell.source.lstrip())
    return len(match.group(1)) if match else None


def anchor_position(cells: list, block: Block) -> int | None:
    """Where the block's cells go in a list of cells, or None without the heading."""
    for index, cell in enumerate(cells):
        lines = cell.source.splitlines() if cell.cell_type == "markdown" else []
        if any(line.startswith(block.heading) for line in lines):
            if block.where == "before":
                return index
            level = block.heading.count("#")
            later = [i for i in range(index + 1, len(cells))
                     if (heading_level(cells[i]) or 99) <= level]
            return later[0] if later else len(cells)
    return None


def insert(notebook: nbformat.NotebookNode, block: Block, position: int, path: Path) -> None:
    """Insert the block's cells at `position`, after checking the names they use."""
    earlier = "\n".join(c.source for c in notebook.cells[:position] if c.cell_type == "code")
    missing = [name for name in block.needs if not re.search(rf"\b{name}\b", earlier)]
    if missing:
        sys.exit(f"{path.name}: the {block.name} cells use {missing}, which no earlier cell "
                 "defines; update the block in tools/add_widget_cells.py to the lesson's names")
    new = [nbformat.v4.new_markdown_cell(source) if kind == "markdown"
           else nbformat.v4.new_code_cell(source) for kind, source in block.cells]
    for number, cell in enumerate(new):
        cell.metadata[MARKER] = f"{block.name} {number}"
        cell.id = f"mf-{block.name.replace(' ', '-')}-{number}"  # the same on every run
    notebook.cells[position:position] = new


def main(paths: list[str]) -> None:
    files = [Path(p) for p in paths] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    books = {path: nbformat.read(path, as_version=4) for path in files}
    for book in books.values():
        book.cells = [cell for cell in book.cells if MARKER not in cell.metadata]
    changed = set()
    for block in BLOCKS:
        found = [(path, anchor_position(book.cells, block)) for path, book in books.items()
                 if path.name.startswith(LESSON_OF[block])]
        found = [(path, position) for path, position in found if position is not None]
        if not found and paths:
            print(f"the {block.name} cells belong to none of the given notebooks: skipped")
            continue
        if len(found) != 1:
            sys.exit(f"the heading {block.heading!r} of the {block.name} cells is in "
                     f"{len(found)} of the given notebooks; it must be in exactly one")
        path, position = found[0]
        insert(books[path], block, position, path)
        changed.add(path)
    for path in sorted(changed):
        nbformat.write(books[path], path)
        print(f"{path}: widget cells inserted; re-execute it with tools/run_notebooks.py")


if __name__ == "__main__":
    main(sys.argv[1:])
