"""Insert the worked solutions and self-check questions into lessons 01 and 02 (re-runnable).

    python tools/add_solutions.py [notebooks/01_data_encoding.ipynb ...]

Every cell this script writes carries `metadata.course_kit`; running it again first removes
those cells, then inserts the current ones right after the markdown cell holding
"## Exercises", so the script can be re-applied after the lessons' other cells change. It
stops with a clear message if an exercise's wording no longer matches its solution. Afterwards
re-execute the notebook with tools/run_notebooks.py. The cell pattern is the nbgrader one
described in TEACHING.md: solution regions, autograded check cells, manually graded answers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

KIT_KEY = "course_kit"
ANCHOR = "## Exercises"


def _nbgrader(grade_id: str, *, solution: bool, grade: bool, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution,
            "schema_version": 3, "solution": solution}
    if grade:
        meta["points"] = points
    return meta


def plain_markdown(kit_id: str, text: str) -> nbformat.NotebookNode:
    """A markdown cell both editions keep."""
    return new_markdown_cell(text, metadata={KIT_KEY: kit_id})


def solution_code(grade_id: str, source: str) -> nbformat.NotebookNode:
    """An autograded answer: the `### BEGIN/END SOLUTION` region becomes the placeholder."""
    return new_code_cell(source, metadata={
        KIT_KEY: grade_id, "tags": ["solution"],
        "nbgrader": _nbgrader(grade_id, solution=True, grade=False)})


def check_code(grade_id: str, source: str) -> nbformat.NotebookNode:
    """An autograder test cell worth one point; its output is cleared in the student edition."""
    return new_code_cell(source, metadata={
        KIT_KEY: grade_id, "tags": ["check"],
        "nbgrader": _nbgrader(grade_id, solution=False, grade=True, points=1)})


def answer_markdown(grade_id: str, text: str) -> nbformat.NotebookNode:
    """A manually graded prose answer: "YOUR ANSWER HERE" in the student edition."""
    return new_markdown_cell(text, metadata={
        KIT_KEY: grade_id, "nbgrader": _nbgrader(grade_id, solution=True, grade=True, points=1)})


def instructor_markdown(kit_id: str, text: str) -> nbformat.NotebookNode:
    """A cell the student edition drops entirely (the self-check answers)."""
    return new_markdown_cell(text, metadata={KIT_KEY: kit_id, "tags": ["instructor-only"]})


@dataclass
class Exercise:
    number: int
    wording: str  # a phrase of the exercise text, so that a reworded exercise is noticed
    intro: str
    solution: str
    answer: str
    check: str | None = None

    def cells(self, lesson: str) -> list[nbformat.NotebookNode]:
        prefix = f"ex{lesson}-{self.number}"
        cells = [plain_markdown(f"{prefix}-intro", f"### Exercise {self.number}\n\n{self.intro}"),
                 solution_code(f"{prefix}-solution", self.solution)]
        if self.check:
            cells.append(check_code(f"{prefix}-check", self.check))
        cells.append(answer_markdown(f"{prefix}-answer", self.answer))
        return cells


@dataclass
class Lesson:
    prefix: str  # "01": the notebook's number
    exercises: list[Exercise]
    self_check: list[tuple[str, str]] = field(default_factory=list)  # (question, answer)

    def cells(self) -> list[nbformat.NotebookNode]:
        cells = [new_code_cell(
            "from utils.checks import check_exercise  # says whether an answer is right, and why",
            metadata={KIT_KEY: f"checks{self.prefix}"})]
        cells += [c for exercise in self.exercises for c in exercise.cells(self.prefix)]
        questions = "\n".join(f"{i}. {q}" for i, (q, _) in enumerate(self.self_check, 1))
        answers = "\n".join(f"{i}. {a}" for i, (_, a) in enumerate(self.self_check, 1))
        cells.append(plain_markdown(
            f"selfcheck{self.prefix}",
            "## Self-check\n\nAnswer in a sentence or two, without running anything; each answer "
            f"is in this notebook.\n\n{questions}"))
        cells.append(instructor_markdown(
            f"selfcheck{self.prefix}-answers", f"### Self-check answers\n\n{answers}"))
        return cells


LESSON_01 = Lesson("01", [
    Exercise(
        1, "Change `VALID_QUANTILE` to 0.9 and 0.7",
        "Set `rows_kept` to a dict `{0.7: ..., 0.9: ...}` of validation rows kept after "
        "encoding, then run the check.",
        """\
rows_kept = None  # your answer: {quantile: validation rows kept}
### BEGIN SOLUTION
by_quantile = {}
for quantile in (0.7, VALID_QUANTILE, 0.9):
    train_part, valid_part = time_split(ratings, quantile)
    report = unseen_report(train_part, valid_part)
    by_quantile[quantile] = {
        "validation rows": len(valid_part),
        "share with a new user": report["rows with a new user"] / len(valid_part),
        "rows kept": report["rows kept"],
    }
rows_kept = {quantile: row["rows kept"] for quantile, row in by_quantile.items()}
pd.DataFrame(by_quantile).T.astype({"validation rows": int, "rows kept": int}).round(3)
### END SOLUTION""",
        "**Answer.** A later cut-off shortens the validation period (10,084 rows at 0.9 against "
        "30,251 at 0.7) and lowers the share of rows from new users (84 % against 91 %), yet "
        "the rows kept hardly move: 1,290, 1,311 and 1,344. Kept rows come only from the few "
        "users who rated both before and after the cut-off, and there are about as many of those "
        "wherever the line is drawn; a later cut-off mostly removes new users' rows from a "
        "period that became shorter.",
        'check_exercise("01.1", rows_kept, dataset=DATASET)',
    ),
    Exercise(
        2, "what single number could a model predict",
        "Set `fallback_rmse` to the RMSE of your single-number prediction on the time-split "
        "validation rows that `encode_split` dropped.",
        """\
fallback_rmse = None  # your answer: one number, the RMSE on the dropped rows
### BEGIN SOLUTION
seen = (time_valid["user_id"].isin(time_train["user_id"])
        & time_valid["item_id"].isin(time_train["item_id"]))
dropped_ratings = time_valid.loc[~seen, "rating"]
global_mean = time_train["rating"].mean()  # the constant with the least squared training error
fallback_rmse = float(((dropped_ratings - global_mean) ** 2).mean() ** 0.5)
print(f"predict {global_mean:.2f} stars for {len(dropped_ratings):,} dropped rows: "
      f"RMSE {fallback_rmse:.3f} (their standard deviation: {dropped_ratings.std(ddof=0):.3f})")
### END SOLUTION""",
        "**Answer.** The mean training rating, 3.51 stars: of all constants it has the least "
        "squared error on the data the model may see. On the 18,857 dropped rows its RMSE is "
        "1.076 stars — no better than the spread of those ratings themselves (1.075), so it is "
        "a safe default that says nothing about the person. Models that know the user do "
        "clearly better on the rows they can score (see the leaderboard in the README).",
        'check_exercise("01.2", fallback_rmse, dataset=DATASET, quantile=VALID_QUANTILE)',
    ),
    Exercise(
        3, 'Set `DATASET = "ml-100k"`',
        "Load ml-100k beside the current dataset (rather than changing `DATASET`), set "
        "`sparsity_100k` to its share of empty cells as a fraction, and compare the ratings per "
        "user.",
        """\
sparsity_100k = None  # your answer: a fraction between 0 and 1
### BEGIN SOLUTION
ratings_100k = load_ratings("ml-100k")
per_user_100k = ratings_100k.groupby("user_id").size()
sparsity_100k = 1 - len(ratings_100k) / (len(per_user_100k) * ratings_100k["item_id"].nunique())
print(f"empty cells: ml-100k {sparsity_100k:.2%}, {DATASET} {sparsity:.2%}")
pd.DataFrame({"ml-100k": per_user_100k.describe(), DATASET: per_user.describe()}).round(1)
### END SOLUTION""",
        "**Answer.** ml-100k is much denser (93.7 % of its cells empty against 98.3 %) because "
        "it has 1,682 films instead of 9,724 for a similar number of ratings. Both releases "
        "keep only users with at least 20 ratings, so the minimum is 20 in each; ml-100k's "
        "users are more alike (its busiest user has 737 ratings, ml-latest-small's 2,698).",
        'check_exercise("01.3", sparsity_100k)',
    ),
], [
    ("Why does the course check each archive against a published checksum before caching it?",
     "So that the data is the genuine release, and a broken or tampered download can never "
     "pass for a good cache."),
    ("What share of ml-latest-small's user × movie matrix is empty, and what does a "
     "recommender do with those cells?",
     "98.3 %; predicting the empty cells is the recommender's whole job."),
    ("Why can raw MovieLens movie ids not index an embedding table?",
     "They are neither zero-based nor contiguous (up to 193,609 for 9,724 films): they fall "
     "off a table sized for the films, or waste 95 % of a table sized for the largest id."),
    ("What does `IdEncoder` return for an id it never saw, and why not simply 0?",
     "−1; index 0 is a real user or film, so 0 would silently read someone else's row."),
    ("Why are the encoders fitted on the training part only?",
     "The model has a row only for ids seen in training; nothing can be learned for others."),
    ("What does a time split measure that a random split does not?",
     "Predicting the future from the past, as in deployment: drifting tastes, new users and "
     "new films."),
    ("Why are over 90 % of the time-split validation rows dropped?",
     "Most of them come from users who joined after the cut-off, so training never saw them."),
    ("Why does a random split still drop about 4 % of its validation rows?",
     "They belong to films whose only ratings all landed in the validation part."),
    ("Can an RMSE on the time split be compared with one on the random split?",
     "No: the two splits ask different questions, on different rows."),
])

LESSON_02 = Lesson("02", [
    Exercise(
        1, "Replace `.sum(dim=1)` in the toy forward pass with `.sum(dim=0)`",
        "Set `summed_shape` to the shape that `.sum(dim=0)` gives, as a tuple, and show when "
        "the loss accepts it.",
        """\
import warnings

summed_shape = None  # your answer: a tuple
### BEGIN SOLUTION
wrong_predictions = (user_vecs * item_vecs).sum(dim=0)  # (K,): the batch was summed away
summed_shape = tuple(wrong_predictions.shape)
print("shape with .sum(dim=0):", summed_shape)
with warnings.catch_warnings(record=True) as caught:  # PyTorch warns about both losses below
    warnings.simplefilter("always")
    try:
        F.mse_loss(wrong_predictions, ratings)  # (K,) against (B,) = (3,) against (6,)
    except RuntimeError as error:
        print("a batch of six:", error)
    one_rating = F.mse_loss(wrong_predictions, ratings[:1])  # (K,) against (1,) broadcasts
print(f"a batch of one rating: loss {one_rating.item():.3f}, no error, only a warning:")
print(caught[-1].message)
### END SOLUTION""",
        "**Answer.** The result has shape `(3,)` = `(K,)`: the products were added over the "
        "batch, one number per factor. On the toy batch the loss refuses it, since 3 and 6 do "
        "not broadcast, but with a batch of one rating (or a batch as long as K) the shapes "
        "broadcast, PyTorch only warns, and training runs while fitting the wrong quantity. "
        "The shape printout of the forward pass and the comparison with the full matrix "
        "$UV^\\top$ catch it at once; an `assert predictions.shape == (B,)` makes it fail.",
        'check_exercise("02.1", summed_shape, n_factors=N_FACTORS)',
    ),
    Exercise(
        2, "torch.einsum",
        "Set `einsum_predictions` to the toy predictions computed from `user_vecs` and "
        "`item_vecs` by one `torch.einsum` call.",
        """\
einsum_predictions = None  # your answer: a tensor of shape (B,)
### BEGIN SOLUTION
einsum_predictions = torch.einsum("bk,bk->b", user_vecs, item_vecs)  # (B, K), (B, K) -> (B,)
assert torch.allclose(einsum_predictions, predictions)
einsum_predictions.detach()
### END SOLUTION""",
        "**Answer.** `torch.einsum(\"bk,bk->b\", user_vecs, item_vecs)`: `k` appears in both "
        "inputs but not in the output, so it is multiplied and summed; `b` is kept, one "
        "prediction per rating. `\"bk,ck->bc\"` would instead compute all B × B user–movie "
        "pairs, the full-matrix route.",
        'check_exercise("02.2", einsum_predictions, user_vecs=user_vecs, item_vecs=item_vecs)',
    ),
    Exercise(
        3, "Run the one-step training cell ten times",
        "Train copies of the toy tables for ten steps at several learning rates and plot the "
        "loss.",
        """\
### BEGIN SOLUTION
import copy

import matplotlib.pyplot as plt


def toy_losses(lr: float, n_steps: int = 10) -> list[float]:
    users, items = copy.deepcopy(user_emb), copy.deepcopy(item_emb)  # the same start each time
    step_optimizer = torch.optim.SGD([*users.parameters(), *items.parameters()], lr=lr)
    losses = []
    for _ in range(n_steps + 1):
        loss = F.mse_loss((users(user_idx) * items(item_idx)).sum(dim=1), ratings)
        losses.append(loss.item())
        step_optimizer.zero_grad()
        loss.backward()
        step_optimizer.step()
    return losses

learning_rates = [0.05, 0.2, 0.5, 0.7, 1.0]
curves = {lr: toy_losses(lr) for lr in learning_rates}
fig, ax = plt.subplots(figsize=(6, 3))
for lr, losses in curves.items():
    ax.plot(losses, marker="o", label=f"lr {lr}")
ax.set(yscale="log", ylim=(1e-3, 1e3), xlabel="step", ylabel="toy MSE")
ax.legend(loc="upper right")
plt.show()
for lr, losses in curves.items():
    # NaN compares as "not lower" too: a diverged run counts as rising
    rising = [step for step in range(1, len(losses)) if not losses[step] < losses[step - 1]]
    first = f"step {rising[0]}" if rising else "never"
    print(f"lr {lr}: loss {losses[0]:.2f} -> {losses[-1]:.3g}, first rise: {first}")
### END SOLUTION""",
        "**Answer.** At the cell's learning rate of 0.05 the loss keeps falling, from 8.24 to "
        "0.52 after ten more steps, and at 0.2 faster still. From 0.5 some steps raise the "
        "loss, which jumps around instead of settling; at 0.7 the very first step raises it, "
        "and at 1.0 it explodes to NaN within a few steps. The safe step size depends on "
        "the scale of the gradients, here ratings of up to 5 stars; notebook 03 compares "
        "optimisers on the real data.",
    ),
], [
    ("What does `nn.Embedding(n, k)` return for a tensor of ids, and how would you compute the "
     "same with a matrix product?",
     "The rows of its `(n, k)` weight matrix for those ids; `one_hot(ids) @ weight` gives the "
     "same without the lookup's savings."),
    ("After back-propagating through a lookup, which rows of the weight have a non-zero "
     "gradient, and what does a row looked up three times receive?",
     "Only the rows looked up; a row used three times collects the sum of three contributions."),
    ("Write the shapes of the forward pass from `user_idx` to the predictions.",
     "`(B,)` indices → `(B, K)` vectors for users and movies → `(B, K)` element-wise product "
     "→ `(B,)` after summing over the factors."),
    ("Why does the forward pass not compute $UV^\\top$ and pick the entries it needs?",
     "The full matrix costs n_users × n_items dot products (5 million for ml-latest-small) to "
     "use a batch of them."),
    ("Why does plain SGD on a minibatch update only the users and films in that batch?",
     "The other rows get a zero gradient; only optimisers with momentum, such as Adam, keep "
     "moving them."),
    ("What kind of bug does decoding every training triple back to its original rating catch?",
     "Scrambled encodings, e.g. a second encoder fitted on the validation data, where the same "
     "index means a different user."),
    ("Why is an `IndexError` from raw ids the good outcome?",
     "It fails loudly; raw ids small enough to fit would silently read the wrong rows."),
    ("What is the smallest check that forward pass, loss and optimiser are wired together?",
     "One gradient step on a tiny batch must lower the loss."),
])

LESSON_07 = Lesson("07", [
    Exercise(
        1, "Give the lab's MF the lab's DeepMF advantages one at a time",
        "Set `rmse_by_change` to a dict `{change: test RMSE}` of the lab's MF with the changes "
        "added one after the other, each trained a few epochs the lab's way.",
        """\
rmse_by_change = None  # your answer: {change: test RMSE}
### BEGIN SOLUTION
QUICK_EPOCHS = 3  # enough to rank the changes; the lab's MF needs over 100 epochs to settle


def lab_mf_with(offset: bool, biases: bool, init: str) -> BiasedMF:
    \"\"\"The lab's MF with some of DeepMF's advantages; the fixed mean stays 0.\"\"\"
    torch.manual_seed(SEED)
    model = BiasedMF(split.n_users, split.n_items, N_FACTORS, init=init, biases=biases)
    if offset:  # a learned number, like the bias of DeepMF's last layer
        model.global_mean = torch.nn.Parameter(torch.zeros(()))
    return model.to(DEVICE)


changes = {"learned offset": (True, False, "normal"), "+ biases": (True, True, "normal"),
           "+ uniform init": (True, True, "uniform")}
change_models = {change: lab_mf_with(*switches) for change, switches in changes.items()}
for model in change_models.values():
    fit(model, train, n_epochs=QUICK_EPOCHS, lr=LR, wd=WD, batch_size=BATCH_SIZE, seed=SEED)
rmse_by_change = {change: evaluate(model, test)["rmse"]
                  for change, model in change_models.items()}
lab_rows = {"lab MF": history_mf.loc[QUICK_EPOCHS, "test_rmse"],
            "lab DeepMF": history_deep.loc[QUICK_EPOCHS, "test_rmse"]}
pd.Series({**lab_rows, **rmse_by_change}, name=f"test RMSE after {QUICK_EPOCHS} epochs").round(4)
### END SOLUTION""",
        "**Answer.** The uniform initialisation closes most of the gap. After 3 epochs the "
        "learned offset lowers the lab MF's test RMSE from 4.578 to 4.233 and the biases to "
        "3.913, while small uniform vectors bring it to 1.654, near DeepMF's 1.157. At lr 1e-3 "
        "an offset or a bias moves slowly against the ±3 noise of N(0, 1) dot products; that "
        "noisy start, which DeepMF's first layer can simply scale down, is the lab MF's real "
        "handicap.",
        'check_exercise("07.1", rmse_by_change, models=change_models, data=test)',
    ),
    Exercise(
        2, "Train the lab's MF with `utils.train.fit` at batch 8,192",
        "Train the lab's MF at batch 8,192 with a few learning rates and plot test RMSE against "
        "training seconds beside the batch-512 run of section 3.",
        """\
### BEGIN SOLUTION
LARGE_BATCH = 8_192
LARGE_EPOCHS = 12  # about 120 steps: a few seconds, against minutes for the batch-512 run
large_runs = {}
for lr in (1e-2, 3e-2, 1e-1):
    torch.manual_seed(SEED)
    large_runs[lr] = fit(lab_mf(split.n_users, split.n_items), train, n_epochs=LARGE_EPOCHS,
                         lr=lr, wd=WD, batch_size=LARGE_BATCH, also_evaluate={"test": test},
                         seed=SEED)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(history_mf["seconds"].cumsum(), history_mf["test_rmse"],
        label=f"batch {BATCH_SIZE}, lr {LR:g}")
for lr, history in large_runs.items():
    ax.plot(history["seconds"].cumsum(), history["test_rmse"], marker=".",
            label=f"batch {LARGE_BATCH:,}, lr {lr:g}")
ax.set(xscale="log", yscale="log", xlabel="training seconds (this machine)",
       ylabel="test RMSE")
ax.grid(alpha=0.3, which="both")
ax.legend()
plt.show()
small_seconds = history_mf["seconds"].cumsum()
for lr, history in large_runs.items():
    spent = history["seconds"].sum()
    small_rmse = history_mf["test_rmse"][small_seconds <= spent]
    reached = f"{small_rmse.iloc[-1]:.3f}" if len(small_rmse) else "no epoch finished yet"
    print(f"batch {LARGE_BATCH:,}, lr {lr:g}: test RMSE {history['test_rmse'].iloc[-1]:.3f} "
          f"after {LARGE_EPOCHS} epochs; batch {BATCH_SIZE} in the same seconds: {reached}")
### END SOLUTION""",
        "**Answer.** About a hundred times the lab's rate: at lr 0.1, 12 epochs of batch 8,192 "
        "reach a test RMSE of 1.024, a little below the 1.029 of the batch-512 run after 150 "
        "epochs, in the time the batch-512 run needs for about one epoch (its test RMSE then: "
        "4.733). At lr 0.03 the large batch reaches 1.195 and at lr 0.01 only 3.577: with 16 "
        "times fewer steps per epoch, each step must go further.",
    ),
    Exercise(
        3, "Set the GMF branch of `NeuMF` to a single factor",
        "Set `mlp_alone_rmse` to the slice RMSE of NeuMF with `n_factors=1` at the dropout the "
        "slice prefers.",
        """\
mlp_alone_rmse = None  # your answer: one number, an RMSE on tune_slice
### BEGIN SOLUTION
SHORT_EPOCHS = 5  # the NeuMF runs above stopped improving after about 4 epochs
one_factor_models = {}
for dropout in (0.0, 0.2):
    torch.manual_seed(SEED)
    one_factor_models[dropout] = NeuMF(
        split.n_users, split.n_items, 1, 16, (32, 16, 8), dropout=dropout,
        global_mean=mean_logit, y_range=Y_RANGE).to(DEVICE)
    fit(one_factor_models[dropout], tune_fit, tune_slice, n_epochs=SHORT_EPOCHS, lr=TUNE_LR,
        wd=1e-4, batch_size=TUNE_BATCH, patience=PATIENCE, seed=SEED)
slice_rmse = {dropout: evaluate(model, tune_slice)["rmse"]
              for dropout, model in one_factor_models.items()}
best_dropout = min(slice_rmse, key=slice_rmse.get)
mlp_alone_rmse = slice_rmse[best_dropout]
best_of_family = tuning.groupby("model", sort=False)["slice_rmse"].min()
for dropout, rmse in slice_rmse.items():
    print(f"NeuMF, one GMF factor, dropout {dropout}: slice RMSE {rmse:.4f}")
for name in ("MF + biases", "NeuMF (GMF + MLP)"):
    print(f"{name} (section 6): slice RMSE {best_of_family[name]:.4f}")
### END SOLUTION""",
        "**Answer.** Close, but not better: with one GMF factor the MLP branch reaches a slice "
        "RMSE of 0.9118 (dropout 0; 0.9129 with dropout 0.2), against 0.9043 for the full "
        "NeuMF and 0.9029 for the biased dot product. The biases and the global mean still do "
        "much of the work; the MLP adds little that a dot product could not.",
        'check_exercise("07.3", mlp_alone_rmse, model=one_factor_models[best_dropout], '
        "data=tune_slice)",
    ),
], [
    ("What are the two models of the deep-MF lab, in one line each?",
     "MF: the dot product of 10-dimensional user and movie vectors; DeepMF: the two vectors "
     "concatenated and passed through an MLP 20 → 10 → 5 → 1."),
    ("Why does the lab's MF start with a test RMSE above 4?",
     "Its N(0, 1) vectors give dot products around 0 ± 3, with no bias or offset to reach "
     "ratings that average 3.5."),
    ("Which part of DeepMF learns the global mean at once?",
     "The bias of its last linear layer."),
    ("With biases and a global mean on both sides, which wins on ml-100k: the dot product or "
     "the lab's MLP?",
     "The biased dot product: 0.906 test RMSE against 0.920 for DeepMF with biases."),
    ("On which data are the weight decay, dropout and number of epochs chosen, and why not on "
     "the test set?",
     "On a 10 % slice of the training ratings; choosing on the test set would make its score "
     "optimistic."),
    ("Why does averaging the best dot product and the best neural model beat both?",
     "They make different errors, so the average cancels part of each one's noise: an "
     "ensemble effect."),
    ("What did Rendle et al. (2020) find about NCF's learned similarity?",
     "A carefully tuned dot product beat it, and an MLP needs a great deal of data to learn "
     "even a dot product."),
    ("Why is the lab's training loop slow?",
     "Its `Dataset` builds two tensors per rating and its `DataLoader` stacks 512 of them per "
     "step: Python work, not arithmetic."),
    ("Why is the batch-65,536 row of the timing table not a free speed-up?",
     "An epoch has 128 times fewer steps, so it is another training run that needs its own "
     "learning rate and more epochs."),
])

LESSONS = {"01": LESSON_01, "02": LESSON_02, "07": LESSON_07}


def apply(path: Path) -> None:
    """Replace the kit's cells of one notebook by the current ones."""
    lesson = LESSONS.get(path.name[:2])
    if lesson is None:
        raise SystemExit(f"{path}: no solutions written for this lesson yet ({sorted(LESSONS)})")
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if KIT_KEY not in c.metadata]
    anchors = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and ANCHOR in c.source]
    if len(anchors) != 1:
        raise SystemExit(f"{path}: expected one markdown cell with {ANCHOR!r}, "
                         f"found {len(anchors)}")
    exercises_text = cells[anchors[0]].source
    for exercise in lesson.exercises:
        if exercise.wording not in exercises_text:
            raise SystemExit(f"{path}: exercise {exercise.number} no longer says "
                             f"{exercise.wording!r}; update its solution in {__file__}")
    after = anchors[0] + 1
    notebook.cells = cells[:after] + lesson.cells() + cells[after:]
    nbformat.write(notebook, path)
    print(f"{path}: {len(lesson.exercises)} exercises, {len(lesson.self_check)} self-check "
          "questions")


if __name__ == "__main__":
    for name in sys.argv[1:] or [f"notebooks/{n}" for n in
                                 ("01_data_encoding.ipynb", "02_embeddings_debug.ipynb")]:
        apply(Path(name))
