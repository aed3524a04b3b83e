"""Interactive widgets of the lessons: a recommendation explorer (notebook 04), a training
playground (notebooks 03 and 06) and a map of film embeddings (notebook 06).

Controls are ipywidgets and plots are plotly FigureWidgets, which work with ipywidgets 7 (Colab)
and 8 (JupyterLab 4). Displaying a widget also stores a PNG of the state it was shown in, which
viewers without a kernel (GitHub, nbviewer) draw instead. Every update is vectorised: the
explorer answers in milliseconds and a playground retrain takes about a second on a 2-core CPU
(`python bench/widgets_speed.py` measures both).
"""

from __future__ import annotations

import base64
import html
import io
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from utils.encode import IdEncoder, RatingTensors
from utils.gravity import GravityMF
from utils.interpret import nearest_neighbours
from utils.models import BiasedMF, DotProductMF
from utils.train import fit

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLAYGROUND_KINDS = ("dot", "biased", "gravity")


# --- shared plumbing --------------------------------------------------------------------------


def png_base64(figure: Figure, dpi: int = 80) -> str:
    """A matplotlib Figure as base64 PNG text, the form a notebook's image/png output takes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def widget_bundle(widget: widgets.Widget, picture: Figure, text: str) -> dict[str, object]:
    """A display bundle: the live widget where the front end can draw it, else a PNG of it.

    Jupyter front ends pick the richest type they can render, so JupyterLab and Colab show the
    widget while GitHub, which renders no widgets, shows the picture.
    """
    if "google.colab" in sys.modules:  # Colab draws third-party widgets only when asked to
        from google.colab import output

        output.enable_custom_widget_manager()
    view = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    return {WIDGET_MIME: view, "image/png": png_base64(picture), "text/plain": text}


class Interactive:
    """Base of the three widgets: `widget` is the ipywidgets box, `snapshot` its picture."""

    widget: widgets.Box

    def snapshot(self) -> Figure:
        """A static matplotlib picture of the widget's current state."""
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, object]:
        return widget_bundle(self.widget, self.snapshot(), f"<{type(self).__name__}>")


@dataclass(frozen=True)
class Films:
    """Titles and genres of the encoded films, in item_idx order."""

    titles: np.ndarray  # (n_items,) str
    genres: list[tuple[str, ...]]  # n_items tuples

    def label(self, item_idx: int) -> str:
        """'Title (year) · Genre | Genre', for hover texts and lists."""
        return f"{self.titles[item_idx]} · {' | '.join(self.genres[item_idx]) or 'no genre'}"


def films_of(items: IdEncoder, movies: pd.DataFrame) -> Films:
    """Titles and genres of every encoded item from `load_movies` (item_id column or index)."""
    table = movies.set_index("item_id") if "item_id" in movies.columns else movies
    rows = table.reindex(items.decode(np.arange(len(items))))
    missing = int(rows["title"].isna().sum())
    if missing:
        raise ValueError(f"{missing} encoded items have no row in `movies`: pass the movies of "
                         "the dataset the model was trained on")
    return Films(rows["title"].to_numpy(dtype=str), [tuple(g) for g in rows["genres"]])


def html_table(frame: pd.DataFrame) -> str:
    """A compact HTML table of a small frame (numbers to 2 decimals, text escaped).

    Written out because pandas' `to_html` takes tens of milliseconds, too slow per interaction.
    """
    def cell(value: object) -> str:
        text = f"{value:.2f}" if isinstance(value, float | np.floating) else str(value)
        return f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in frame.columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table class='mf-table'><tr>{head}</tr>{body}</table>"


@contextmanager
def one_thread() -> Iterator[None]:
    """Run small tensor work on one CPU thread, then restore the thread count.

    On a busy 2-core machine a second thread makes a one-millisecond matrix product wait tens of
    milliseconds for a free core; the explorer's tensors are far too small to gain from it.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# --- recommendation explorer (notebook 04) ----------------------------------------------------


def score_parts(model: BiasedMF) -> dict[str, torch.Tensor | float]:
    """The pieces of a BiasedMF's scores: offset, user and item biases and vectors (on the CPU)."""
    if not isinstance(model, BiasedMF) or not model.biases:
        raise ValueError("the explorer splits scores into biases and factors: give it a "
                         "BiasedMF (or a subclass) built with biases=True")
    if model.y_range is not None:
        raise ValueError("with a y_range the score is squashed by a sigmoid and is no sum of "
                         "parts: give the explorer a model built without y_range")
    all_items = torch.arange(model.item_emb.num_embeddings, device=model.item_emb.weight.device)
    with torch.no_grad():
        return {
            "offset": float(model.offset),
            "user_vecs": model.user_emb.weight.detach().float().cpu(),  # (U, K)
            "user_bias": model.user_bias.weight.detach().float().cpu()[:, 0],  # (U,)
            "item_vecs": model.item_vectors(all_items).float().cpu(),  # (I, K)
            "item_bias": model.item_bias_values(all_items).float().cpu(),  # (I,)
        }


def fold_in(
    item_vecs: torch.Tensor,
    item_bias: torch.Tensor,
    offset: float,
    item_idx: torch.Tensor,
    ratings: torch.Tensor,
    l2: float = 1.0,
) -> tuple[torch.Tensor, float]:
    """A new user's vector and bias from their ratings, the items frozen: one ridge solve.

    Minimises sum_i (r_i - offset - b_i - b - p.q_i)^2 + l2 (|p|^2 + b^2) over (p, b), whose
    minimum solves the (K + 1) x (K + 1) system (Z^T Z + l2 I) x = Z^T y with rows z_i = [q_i, 1].
    """
    if len(item_idx) != len(ratings):
        raise ValueError(f"{len(item_idx)} films but {len(ratings)} ratings")
    features = torch.cat([item_vecs[item_idx], torch.ones(len(item_idx), 1)], 1).double()
    target = (ratings - offset - item_bias[item_idx]).double()  # (R,)
    gram = features.T @ features + l2 * torch.eye(features.shape[1], dtype=torch.float64)
    solution = torch.linalg.solve(gram, features.T @ target)  # (K + 1,)
    return solution[:-1].float(), float(solution[-1])


class RecommendationExplorer(Interactive):
    """Top-k films for a user of the data or for ratings typed in, with the parts of each score.

    Taught in notebook 04. `train` gives the films each user has seen (left out of their list)
    and the rating counts behind `min_count`; `fold_in_l2` is the ridge strength of `fold_in`.
    """

    def __init__(self, model: BiasedMF, train: RatingTensors, users: IdEncoder, items: IdEncoder,
                 movies: pd.DataFrame, *, k: int = 10, min_count: int = 0,
                 fold_in_l2: float = 1.0, user_id: int | None = None):
        self.parts = score_parts(model)
        self.films = films_of(items, movies)
        self.users, self.k, self.fold_in_l2 = users, k, fold_in_l2
        n_items = len(items)
        user_idx, item_idx = train.user_idx.cpu(), train.item_idx.cpu()
        self.counts = torch.bincount(item_idx, minlength=n_items)  # (I,)
        self.allowed = self.counts >= min_count  # (I,)
        order = torch.argsort(user_idx, stable=True)
        self._seen_items = item_idx[order]  # every user's films, one user after the other
        self._seen_starts = torch.cat([torch.zeros(1, dtype=torch.long),
                                       torch.bincount(user_idx, minlength=len(users)).cumsum(0)])
        self._lower_titles = pd.Series(self.films.titles).str.lower()
        self.my_ratings: dict[int, float] = {}
        self._refreshing = False
        self._build(user_id if user_id is not None else int(users.decode(np.array([0]))[0]))
        self.refresh()

    def _build(self, user_id: int) -> None:
        user_ids = sorted(int(u) for u in self.users.decode(np.arange(len(self.users))))
        self.mode = widgets.ToggleButtons(
            options=[("a user of the data", "user"), ("me: my ratings below", "me")],
            value="user", description="for")
        self.user_picker = widgets.Dropdown(options=user_ids, value=user_id, description="user")
        self.search = widgets.Text(placeholder="part of a title, e.g. matrix",
                                   description="search")
        self.matches = widgets.Dropdown(options=[], description="film",
                                        layout=widgets.Layout(width="420px"))
        self.stars = widgets.FloatSlider(value=4.0, min=0.5, max=5.0, step=0.5,
                                         description="my rating", continuous_update=False)
        self.rate_button = widgets.Button(description="Rate it", button_style="primary")
        self.forget_button = widgets.Button(description="Forget my ratings")
        self.mine = widgets.HTML()
        self.table = widgets.HTML()
        self.pick = widgets.Select(options=[], rows=self.k, description="like…",
                                   layout=widgets.Layout(width="460px"))
        self.similar_table = widgets.HTML()
        self.mode.observe(lambda _: self.refresh(), "value")
        self.user_picker.observe(lambda _: self.mode.value == "user" and self.refresh(), "value")
        self.search.observe(lambda change: self.find(change["new"]), "value")
        self.rate_button.on_click(lambda _: self.matches.value is not None
                                  and self.rate(self.matches.value, self.stars.value))
        self.forget_button.on_click(lambda _: self.forget())
        self.pick.observe(lambda change: self.show_similar(change["new"]), "value")
        rate_row = widgets.HBox([self.stars, self.rate_button, self.forget_button])
        self.widget = widgets.VBox([
            widgets.HBox([self.mode, self.user_picker]),
            widgets.HBox([self.search, self.matches]), rate_row, self.mine,
            widgets.HTML("<b>Recommended</b> (score = offset + user bias + film bias + "
                         "factors p·q):"), self.table,
            widgets.HTML("<b>Click a recommendation</b> to see the films closest to it "
                         "(cosine of the film vectors):"),
            widgets.HBox([self.pick, self.similar_table]),
        ])
        self.widget.add_class("mf-explorer")

    def _user(self) -> tuple[torch.Tensor, float, torch.Tensor, str]:
        """The vector, bias and seen films of the chosen user (or of the folded-in me)."""
        if self.mode.value == "me":
            rated = torch.tensor(list(self.my_ratings), dtype=torch.long)
            stars = torch.tensor(list(self.my_ratings.values()), dtype=torch.float32)
            vec, bias = fold_in(self.parts["item_vecs"], self.parts["item_bias"],
                                self.parts["offset"], rated, stars, self.fold_in_l2)
            return vec, bias, rated, f"you ({len(rated)} ratings)"
        idx = int(self.users.encode(np.array([self.user_picker.value]))[0])
        seen = self._seen_items[self._seen_starts[idx]:self._seen_starts[idx + 1]]
        return (self.parts["user_vecs"][idx], float(self.parts["user_bias"][idx]), seen,
                f"user {self.user_picker.value}")

    def refresh(self) -> None:
        """Recompute the top-k for the current user and redraw the table and the pick list."""
        with one_thread():
            self._refresh()

    def _refresh(self) -> None:
        user_vec, user_bias, seen, self.who = self._user()
        factors = self.parts["item_vecs"] @ user_vec  # (I,)
        scores = self.parts["offset"] + user_bias + self.parts["item_bias"] + factors  # (I,)
        candidates = torch.where(self.allowed, scores, -torch.inf)
        candidates[seen] = -torch.inf
        top = torch.topk(candidates, self.k).indices.numpy()  # (k,)
        self.recommendations = pd.DataFrame({
            "title": self.films.titles[top],
            "genres": [" | ".join(self.films.genres[i]) for i in top],
            "score": scores[top].numpy(), "offset": self.parts["offset"],
            "user bias": user_bias, "film bias": self.parts["item_bias"][top].numpy(),
            "factors": factors[top].numpy(), "item_idx": top,
        })
        self.table.value = html_table(self.recommendations.drop(columns="item_idx"))
        self._refreshing = True  # the pick list's observer waits until the list is complete
        try:
            self.pick.options = [(title, int(i)) for title, i in zip(
                self.recommendations["title"], top, strict=True)]
            self.pick.index = 0
        finally:
            self._refreshing = False
        self.show_similar(self.pick.value)

    def show_similar(self, item_idx: int | None) -> None:
        """List the k films whose vectors are closest (cosine) to the film `item_idx`."""
        if item_idx is None or self._refreshing:
            return
        with one_thread():
            neighbours, similarity = nearest_neighbours(
                self.parts["item_vecs"], torch.tensor([item_idx]), k=self.k,
                allowed=self.allowed)
        self.similar = pd.DataFrame({"like " + self.films.titles[item_idx]:
                                     self.films.titles[neighbours[0].numpy()],
                                     "cosine": similarity[0].numpy()})
        self.similar_table.value = html_table(self.similar)

    def find(self, text: str) -> None:
        """Offer the 20 most-rated films whose title contains `text` (any case), the first chosen.

        ipywidgets 8 leaves a Dropdown's value at None when its options are replaced, so without
        choosing one the box would look empty and "Rate it" would do nothing.
        """
        found = np.flatnonzero(self._lower_titles.str.contains(text.strip().lower(),
                                                               regex=False).to_numpy())
        found = found[np.argsort(-self.counts[found].numpy(), kind="stable")][:20]
        self.matches.options = [(self.films.label(i), int(i)) for i in found]
        self.matches.index = 0 if len(found) else None

    def rate(self, film: int | str, rating: float) -> None:
        """Add my rating of a film (item_idx or exact title) and show my recommendations."""
        if isinstance(film, str):
            hits = np.flatnonzero(self.films.titles == film)
            if not len(hits):
                raise ValueError(f"no film is titled {film!r}: search with find() first")
            film = int(hits[0])
        if not 0.5 <= rating <= 5.0:
            raise ValueError(f"ratings go from 0.5 to 5 stars, not {rating}")
        self.my_ratings[int(film)] = float(rating)
        self.mine.value = "My ratings: " + "; ".join(
            f"{html.escape(self.films.titles[i])} {r:g}★" for i, r in self.my_ratings.items())
        if self.mode.value == "me":
            self.refresh()
        else:
            self.mode.value = "me"  # the observer refreshes

    def forget(self) -> None:
        """Drop all my ratings."""
        self.my_ratings.clear()
        self.mine.value = ""
        self.refresh()

    def snapshot(self) -> Figure:
        figure = Figure(figsize=(7.5, 0.35 * self.k + 1.2))
        ax = figure.add_subplot()
        shown = self.recommendations.iloc[::-1]
        parts = shown[["user bias", "film bias", "factors"]].set_index(shown["title"])
        parts.plot.barh(ax=ax, width=0.8)
        for row, score in enumerate(shown["score"]):
            ax.text(ax.get_xlim()[1], row, f" {score:.2f}", va="center", fontsize=8)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_ylabel("")
        ax.set_xlabel(f"contribution to the score (offset {self.parts['offset']:.2f} "
                      "not drawn; the total is on the right)")
        ax.set_title(f"Top {self.k} for {self.who}")
        ax.legend(fontsize="small", loc="lower right")
        return figure


# --- training playground (notebooks 03 and 06) ------------------------------------------------


@dataclass(frozen=True)
class PlaygroundSettings:
    """One setting of the playground's sliders; the cache key of a retrain."""

    n_factors: int
    wd: float  # weight decay, or for a GravityMF its L2 strength
    lr: float
    n_epochs: int
    gravity: float = 0.0


def train_for_playground(
    kind: str,
    settings: PlaygroundSettings,
    train: RatingTensors,
    valid: RatingTensors,
    n_users: int,
    n_items: int,
    seed: int = 0,
) -> pd.DataFrame:
    """One seeded full-batch retrain (dot, biased or gravity MF); returns `fit`'s history."""
    with torch.random.fork_rng(devices=[]):  # the notebook's own random stream is untouched
        torch.manual_seed(seed)
        if kind == "dot":
            model = DotProductMF(n_users, n_items, settings.n_factors)
        elif kind == "biased":
            model = BiasedMF(n_users, n_items, settings.n_factors,
                             offset=float(train.ratings.mean()))
        elif kind == "gravity":
            model = GravityMF(n_users, n_items, settings.n_factors, l2=settings.wd,
                              gravity=settings.gravity)
        else:
            raise ValueError(f"kind must be one of {PLAYGROUND_KINDS}, not {kind!r}")
    model = model.to(train.ratings.device)
    if kind == "gravity":  # its L2 is part of the loss, as in notebook 06
        return fit(model, train, valid, n_epochs=settings.n_epochs, lr=settings.lr,
                   optimizer="adamw", seed=seed)
    return fit(model, train, valid, n_epochs=settings.n_epochs, lr=settings.lr,
               wd=settings.wd, seed=seed)


def log_options(values: Sequence[float]) -> list[tuple[str, float]]:
    """(label, value) pairs for a SelectionSlider over values such as 0, 1e-5, 1e-4."""
    return [(f"{v:g}", float(v)) for v in values]


class TrainingPlayground(Interactive):
    """Sliders that retrain a model and redraw its train and validation curves.

    Taught in notebook 03 (dot product: factors, weight decay, learning rate, epochs) and used
    in notebook 06 (kind="gravity": L2 and gravity strengths). Each setting is trained once with
    the same seed and cached, so moving a slider back redraws the same curve at once. The
    sliders stop at `max_factors` and `max_epochs`, chosen so that the largest setting
    retrains in about 2 s on ml-latest-small on a 2-core CPU (bench/widgets_speed.py).
    """

    def __init__(self, train: RatingTensors, valid: RatingTensors, n_users: int, n_items: int,
                 *, kind: str = "dot", n_factors: int = 50, wd: float = 1e-5, lr: float = 0.03,
                 n_epochs: int = 30, gravity: float = 0.0,
                 wd_options: Sequence[float] = (0.0, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 1e-3),
                 lr_options: Sequence[float] = (0.003, 0.01, 0.03, 0.1, 0.3),
                 gravity_options: Sequence[float] = (0.0, 0.03, 0.1, 0.3, 1.0),
                 max_epochs: int = 40, max_factors: int = 64, y_max: float = 2.0,
                 seed: int = 0):
        if kind not in PLAYGROUND_KINDS:
            raise ValueError(f"kind must be one of {PLAYGROUND_KINDS}, not {kind!r}")
        for name, value, options in [("wd", wd, wd_options), ("lr", lr, lr_options),
                                     ("gravity", gravity, gravity_options)]:
            if value not in options:
                raise ValueError(f"{name}={value} is not on its slider {tuple(options)}: "
                                 f"pick one of those or pass {name}_options")
        self.data = (train, valid, n_users, n_items)
        self.kind, self.seed = kind, seed
        self.cache: dict[PlaygroundSettings, pd.DataFrame] = {}
        self.last_seconds: float | None = None
        slider = {"continuous_update": False, "style": {"description_width": "110px"}}
        self.factors_slider = widgets.IntSlider(value=n_factors, min=1, max=max_factors,
                                                description="factors", **slider)
        wd_label = "L2 strength" if kind == "gravity" else "weight decay"
        self.wd_slider = widgets.SelectionSlider(options=log_options(wd_options), value=wd,
                                                 description=wd_label, **slider)
        self.lr_slider = widgets.SelectionSlider(options=log_options(lr_options), value=lr,
                                                 description="learning rate", **slider)
        self.epochs_slider = widgets.IntSlider(value=n_epochs, min=1, max=max_epochs,
                                               description="epochs", **slider)
        self.gravity_slider = widgets.SelectionSlider(
            options=log_options(gravity_options), value=gravity, description="gravity",
            **slider)
        sliders = [self.factors_slider, self.wd_slider, self.lr_slider, self.epochs_slider]
        sliders += [self.gravity_slider] if kind == "gravity" else []
        for control in sliders:
            control.observe(lambda _: self.retrain(), "value")
        self.figure = self._figure(y_max)
        self.result = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([widgets.VBox(sliders), self.result]),
                                    self.figure])
        self.widget.add_class("mf-playground")
        self.retrain()

    @staticmethod
    def _figure(y_max: float) -> go.FigureWidget:
        figure = go.FigureWidget(layout={
            "height": 320, "width": 720, "margin": {"l": 50, "r": 10, "t": 30, "b": 40},
            "xaxis": {"title": {"text": "epoch"}},
            "yaxis": {"title": {"text": "mean squared error"}, "range": [0, y_max]},
            "legend": {"x": 0.99, "xanchor": "right", "y": 0.99}})
        figure.add_scatter(name="previous setting: validation", mode="lines",
                           line={"color": "lightgray", "dash": "dot"})
        figure.add_scatter(name="train loss", mode="lines", line={"color": "#1f77b4"})
        figure.add_scatter(name="validation MSE", mode="lines", line={"color": "#d62728"})
        return figure

    @property
    def settings(self) -> PlaygroundSettings:
        """The setting the sliders show now."""
        gravity = self.gravity_slider.value if self.kind == "gravity" else 0.0
        return PlaygroundSettings(self.factors_slider.value, self.wd_slider.value,
                                  self.lr_slider.value, self.epochs_slider.value, gravity)

    @property
    def history(self) -> pd.DataFrame:
        """The fit history of the current setting (trained if not cached yet)."""
        return self.cache[self.settings]

    def retrain(self) -> None:
        """Train the sliders' setting unless cached, then redraw the curves and the result."""
        settings = self.settings
        cached = settings in self.cache
        if not cached:
            started = time.perf_counter()
            self.cache[settings] = train_for_playground(self.kind, settings, *self.data,
                                                        seed=self.seed)
            self.last_seconds = time.perf_counter() - started
        history = self.cache[settings]
        previous, train_line, valid_line = self.figure.data
        with self.figure.batch_update():
            previous.x, previous.y = valid_line.x, valid_line.y
            train_line.x, train_line.y = history.index, history["train_loss"]
            valid_line.x, valid_line.y = history.index, history["valid_mse"]
        self.valid_rmse = float(history["valid_rmse"].iloc[-1])
        best = history["valid_rmse"].idxmin()
        how = "from the cache" if cached else f"retrained in {self.last_seconds:.2f} s"
        self.result.value = (
            f"<div class='mf-rmse'>validation RMSE <b>{self.valid_rmse:.4f}</b> after "
            f"{settings.n_epochs} epochs<br>lowest {history['valid_rmse'].min():.4f} at epoch "
            f"{best}<br><small>{how}; settings {asdict(settings)}</small></div>")

    def snapshot(self) -> Figure:
        figure = Figure(figsize=(6.5, 3.2))
        ax = figure.add_subplot()
        history = self.history
        ax.plot(history.index, history["train_loss"], label="train loss")
        ax.plot(history.index, history["valid_mse"], label="validation MSE", color="#d62728")
        ax.set_ylim(0, self.figure.layout.yaxis.range[1])
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean squared error")
        text = ", ".join(f"{k} {v:g}" for k, v in asdict(self.settings).items()
                         if self.kind == "gravity" or k != "gravity")
        ax.set_title(f"{text}: validation RMSE {self.valid_rmse:.4f}", fontsize=9)
        ax.legend()
        ax.grid(alpha=0.3)
        return figure


# --- embedding map (notebook 06) --------------------------------------------------------------

NO_GENRE = "(no highlight)"
GREY, HIGHLIGHT, PLAIN = "#c8c8c8", "#d62728", "#1f77b4"


class EmbeddingMap(Interactive):
    """Films as points of a 2D (or rotatable 3D) map of their embeddings (notebook 06).

    Hover shows title and genres; a genre can be highlighted; picking a film (by title or by
    clicking its point) marks its k nearest neighbours, measured by cosine in the full embedding
    space, not on the map. points_2d / points_3d (e.g. t-SNE) default to a PCA of `vectors`.
    """

    def __init__(self, vectors: np.ndarray, titles: Sequence[str],
                 genres: Sequence[Sequence[str]], *, points_2d: np.ndarray | None = None,
                 points_3d: np.ndarray | None = None, k: int = 10, film: str | None = None,
                 genre: str | None = None, seed: int = 0):
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.titles = np.asarray(titles, dtype=str)
        self.genres = [tuple(g) for g in genres]
        if not len(self.vectors) == len(self.titles) == len(self.genres):
            raise ValueError(f"give one title and one genre list per vector: {len(self.vectors)}"
                             f" vectors, {len(self.titles)} titles, {len(self.genres)} genres")
        self.points = {2: self._points(points_2d, 2, seed), 3: self._points(points_3d, 3, seed)}
        self.k = k
        self.selected: int | None = None
        self.neighbours = np.array([], dtype=int)
        self.highlighted = np.zeros(len(self.titles), dtype=bool)
        self._build()
        if genre is not None:
            self.highlight(genre)
        if film is not None:
            self.select(film)

    def _points(self, points: np.ndarray | None, dims: int, seed: int) -> np.ndarray:
        if points is None:
            return PCA(n_components=dims, random_state=seed).fit_transform(self.vectors)
        points = np.asarray(points)
        if points.shape != (len(self.vectors), dims):
            raise ValueError(f"points_{dims}d must have shape ({len(self.vectors)}, {dims}), "
                             f"not {points.shape}")
        return points

    def _build(self) -> None:
        all_genres = sorted({g for film in self.genres for g in film})
        self.genre_picker = widgets.Dropdown(options=[NO_GENRE, *all_genres], value=NO_GENRE,
                                             description="genre")
        self.film_picker = widgets.Combobox(options=sorted(set(self.titles)), value="",
                                            placeholder="type a title, or click a point",
                                            description="film", ensure_option=True)
        self.view = widgets.ToggleButtons(options=["2D", "3D"], value="2D")
        self.neighbour_list = widgets.HTML()
        self.figures = {dims: self._figure(dims) for dims in (2, 3)}
        self.plot_box = widgets.Box([self.figures[2]])
        self.genre_picker.observe(lambda change: self._highlight(change["new"]), "value")
        self.film_picker.observe(lambda change: self._select(change["new"]), "value")
        self.view.observe(lambda change: self._show(int(change["new"][0])), "value")
        self.widget = widgets.VBox([
            widgets.HBox([self.genre_picker, self.film_picker, self.view]),
            widgets.HBox([self.plot_box, self.neighbour_list])])
        self.widget.add_class("mf-map")

    def _figure(self, dims: int) -> go.FigureWidget:
        hover = [f"{t}<br>{' | '.join(g) or 'no genre'}" for t, g in zip(
            self.titles, self.genres, strict=True)]
        scatter = go.Scatter3d if dims == 3 else go.Scatter
        axes = dict(zip("xyz", self.points[dims].T, strict=False))
        size = 3 if dims == 3 else 6
        figure = go.FigureWidget(layout={
            "height": 520, "width": 640, "showlegend": False, "hovermode": "closest",
            "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
            "xaxis": {"showticklabels": False}, "yaxis": {"showticklabels": False},
            "scene": {f"{axis}axis": {"showticklabels": False, "title": {"text": ""}}
                      for axis in "xyz"}})
        figure.add_trace(scatter(**axes, mode="markers", hovertext=hover, hoverinfo="text",
                                 marker={"size": size, "color": PLAIN, "opacity": 0.7}))
        figure.add_trace(scatter(mode="markers", hoverinfo="text", marker={
            "size": size + 6, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "black"}}))
        figure.add_trace(scatter(mode="markers", hoverinfo="text", marker={
            "size": size + 8, "color": "orange", "symbol": "diamond"}))
        figure.data[0].on_click(self._clicked)
        return figure

    def _clicked(self, trace, points, selector) -> None:
        if points.point_inds:
            self.film_picker.value = str(self.titles[points.point_inds[0]])

    def _show(self, dims: int) -> None:
        self.plot_box.children = (self.figures[dims],)

    def highlight(self, genre: str) -> None:
        """Colour the films of `genre` and grey out the rest (NO_GENRE: all plain)."""
        if genre not in self.genre_picker.options:
            raise ValueError(f"no film on the map has the genre {genre!r}; the genres are "
                             f"{self.genre_picker.options[1:]}")
        self.genre_picker.value = genre  # the observer redraws

    def select(self, title: str) -> None:
        """Mark the film titled `title` and its k nearest neighbours, and list them."""
        if title not in self.titles:
            raise ValueError(f"no film on the map is titled {title!r}")
        self.film_picker.value = title  # the observer redraws

    def _highlight(self, genre: str) -> None:
        if genre == NO_GENRE:
            self.highlighted = np.zeros(len(self.titles), dtype=bool)
            colours = [PLAIN] * len(self.titles)
        else:
            self.highlighted = np.array([genre in g for g in self.genres])
            colours = np.where(self.highlighted, HIGHLIGHT, GREY).tolist()
        for figure in self.figures.values():
            figure.data[0].marker.color = colours

    def _select(self, title: str) -> None:
        if title not in self.titles:  # a half-typed title in the combobox
            return
        self.selected = int(np.flatnonzero(self.titles == title)[0])
        with one_thread():
            neighbours, similarity = nearest_neighbours(
                torch.from_numpy(self.vectors), torch.tensor([self.selected]), k=self.k)
        self.neighbours = neighbours[0].numpy()  # (k,)
        for dims, figure in self.figures.items():
            ring, star = figure.data[1], figure.data[2]
            with figure.batch_update():
                for trace, rows in [(ring, self.neighbours), (star, [self.selected])]:
                    for axis, values in zip("xyz", self.points[dims][rows].T, strict=False):
                        setattr(trace, axis, values)
                    trace.hovertext = self.titles[rows].tolist()
        rows = "".join(f"<li>{html.escape(self.titles[i])} <small>({s:.2f})</small></li>"
                       for i, s in zip(self.neighbours, similarity[0].tolist(), strict=True))
        self.neighbour_list.value = (f"<div class='mf-neighbours'><b>Closest to "
                                     f"{html.escape(title)}</b> (cosine)<ol>{rows}</ol></div>")

    def snapshot(self) -> Figure:
        figure = Figure(figsize=(6, 5))
        ax = figure.add_subplot()
        points = self.points[2]
        marked = self.highlighted
        ax.scatter(*points[~marked].T, s=6, alpha=0.6, color=GREY if marked.any() else PLAIN)
        ax.scatter(*points[marked].T, s=8, alpha=0.8, color=HIGHLIGHT,
                   label=self.genre_picker.value)
        if self.selected is not None:
            ax.scatter(*points[self.neighbours].T, s=60, facecolors="none", edgecolors="black",
                       label="nearest films")
            ax.scatter(*points[self.selected], s=90, marker="D", color="orange",
                       label=self.titles[self.selected])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize="small", loc="best")
        ax.set_title("Film embeddings (hover, highlight and pick in the live widget)",
                     fontsize=9)
        return figure
