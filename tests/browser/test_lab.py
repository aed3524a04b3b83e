"""The lessons' widgets in a real JupyterLab, driven by headless Chromium through Playwright.

Runs only with MF_COURSE_BROWSER=1 (the browser stage of .ci/run): it needs Debian's chromium
at /usr/bin/chromium and takes a minute or two, so the plain `make test` run leaves it out.
A small notebook written by the test builds the three widgets the lessons use (running whole
lessons in a browser would take several minutes): it moves a playground slider, rates a film,
clicks a recommendation, highlights a genre and picks a film on the map, asserts on what the
page shows, and saves a screenshot of each widget in tests/browser/artifacts/.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(os.environ.get("MF_COURSE_BROWSER") != "1",
                       reason="the browser test runs with MF_COURSE_BROWSER=1 (.ci/run does)"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--enable-unsafe-swiftshader"]  # software WebGL for the 3D view
ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 240_000
NBSP = "\xa0"  # ipywidgets writes the spaces of option labels as non-breaking spaces
POLL_MS = 250  # wait_for_function polls on a timer: animation frames can stall in a busy tab

DEMO_CELLS = [
    """\
import numpy as np
import torch

from utils.data import load_movies, load_ratings
from utils.encode import encode_split, random_split, time_split, to_tensors
from utils.models import BiasedMF
from utils.train import fit
from utils.widgets import EmbeddingMap, RecommendationExplorer, TrainingPlayground

ratings, movies = load_ratings("ml-latest-small"), load_movies("ml-latest-small")
split = encode_split(*time_split(ratings, 0.8))
train, valid = to_tensors(split.train), to_tensors(split.valid)""",
    """\
playground = TrainingPlayground(train, valid, split.n_users, split.n_items, n_factors=20,
                                n_epochs=3, max_epochs=12, y_max=15.0, seed=0)
playground""",
    """\
r_split = encode_split(*random_split(ratings, valid_frac=0.2, seed=0))
r_train = to_tensors(r_split.train)
torch.manual_seed(0)
model = BiasedMF(r_split.n_users, r_split.n_items, 30, offset=float(r_train.ratings.mean()))
fit(model, r_train, n_epochs=2, lr=0.01, wd=3e-4, bias_wd=0.0, batch_size=4096)
explorer = RecommendationExplorer(model, r_train, r_split.users, r_split.items, movies, k=10,
                                  min_count=20, user_id=1)
explorer""",
    """\
kept = np.flatnonzero(explorer.counts.numpy() >= 20)
embedding_map = EmbeddingMap(explorer.parts["item_vecs"].numpy()[kept],
                             explorer.films.titles[kept],
                             [explorer.films.genres[i] for i in kept], k=8,
                             film="Matrix, The (1999)", genre="Horror")
embedding_map""",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab on 127.0.0.1 with a token and private settings; yields the notebook URL."""
    root = tmp_path_factory.mktemp("lab")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in DEMO_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, root / "widgets_demo.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "MF_COURSE_PROGRESS": "0"}
    private = [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
               ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("IPYTHONDIR", "ipython"),
               ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]
    for variable, folder in private:
        env[variable] = str(root.parent / f"{root.name}-{folder}")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--ServerApp.port_retries=0"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (root.parent / f"{root.name}-server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    ARTIFACTS.mkdir(exist_ok=True)
    pid_file = ARTIFACTS / "server.pid"  # for .ci/run, should this process be killed
    pid_file.write_text(str(server.pid))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; see {log.name}") from None
                time.sleep(0.5)
        yield f"{base}/lab/tree/widgets_demo.ipynb?token={token}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        pid_file.unlink()
        log.close()


# JupyterLab's notebook, exposed as window.jupyterapp (LabApp.expose_app_in_browser).
NOTEBOOK_JS = "window.jupyterapp.shell.currentWidget"
PROMPTS_JS = ("[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
              ".map(p => p.textContent)")
KERNEL_IDLE_JS = (f"() => {{ const k = {NOTEBOOK_JS}.sessionContext.session?.kernel; "
                  "return k && k.connectionStatus === 'connected' && k.status === 'idle'; }")


def run_all(tab) -> None:
    """Run every cell; run again from the first cell left unrun until all have run.

    A kernel that is still connecting, or busy starting up, can drop or abort the queued
    requests of "run all", which leaves the later cells unrun with an empty prompt.
    """
    for _ in range(6):
        tab.wait_for_function(KERNEL_IDLE_JS, polling=POLL_MS)
        prompts = tab.evaluate(f"() => {PROMPTS_JS}")
        unrun = [i for i, prompt in enumerate(prompts) if not re.search(r"\[\d+\]", prompt)]
        if not unrun:
            return
        tab.evaluate(f"() => {{ {NOTEBOOK_JS}.content.activeCellIndex = {unrun[0]}; "
                     "return window.jupyterapp.commands.execute('notebook:run-all-below'); }")
        # then wait until no cell is queued or running, and the kernel is idle again
        tab.wait_for_function(f"() => !({PROMPTS_JS}).some(p => p.includes('*'))"
                              f" && ({KERNEL_IDLE_JS})()", polling=500)
    prompts = tab.evaluate(f"() => {PROMPTS_JS}")
    raise RuntimeError(f"JupyterLab left cells unrun; the prompts read {prompts}")


@pytest.fixture(scope="module")
def page(lab: str):
    """A Chromium page with the demo notebook open and all its cells run."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.set_default_timeout(TIMEOUT_MS)
            tab.goto(lab)
            tab.wait_for_selector(".jp-Notebook .jp-Cell")
            tab.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands"
                                  ".hasCommand('notebook:run-all-cells')", polling=POLL_MS)
            tab.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            run_all(tab)
            try:
                tab.wait_for_selector(".mf-map .mf-neighbours", timeout=TIMEOUT_MS)
            except Exception:
                tab.screenshot(path=ARTIFACTS / "failed_run_all.png", full_page=True)
                raise
            yield tab
        finally:
            browser.close()


def test_playground_slider_retrains_and_shows_the_new_rmse(page):
    playground = page.locator(".mf-playground")
    playground.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for()
    before = playground.locator(".mf-rmse").inner_text()
    assert "after 3 epochs" in before
    handle = playground.locator(".widget-slider", has_text="epochs").locator(".noUi-handle")
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "before => document.querySelector('.mf-playground .mf-rmse').innerText !== before",
        arg=before, polling=POLL_MS)
    after = playground.locator(".mf-rmse").inner_text()
    epochs = playground.locator(".widget-slider", has_text="epochs").locator(
        ".widget-readout").inner_text()
    assert int(epochs) > 3 and f"after {int(epochs)} epochs" in after
    assert re.search(r"validation RMSE (\d\.\d{4})", after).group(1) != re.search(
        r"validation RMSE (\d\.\d{4})", before).group(1)
    playground.screenshot(path=ARTIFACTS / "playground.png")


def wait_until(read, good, what: str, timeout_s: float = TIMEOUT_MS / 1000):
    """Poll `read()` until `good(value)`; a locator re-resolves each time, so a widget that
    JupyterLab redraws (a new DOM element) is still found, where an element handle goes stale."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if good(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}; last read {value!r}")
        time.sleep(0.25)


def recommended_titles(page) -> list[str]:
    options = page.locator(".mf-explorer .widget-select select option").all_inner_texts()
    return [option.replace(NBSP, " ") for option in options]


def test_explorer_folds_in_my_rating_and_lists_similar_films(page):
    explorer = page.locator(".mf-explorer")
    for_user_1 = recommended_titles(page)
    assert len(for_user_1) == 10
    explorer.locator("input[placeholder^='part of a title']").fill("matrix")
    # the film box shows the most-rated match, chosen
    film_box = explorer.locator(".widget-dropdown", has=page.locator(
        "label", has_text=re.compile(r"^film$"))).locator("select")
    wait_until(lambda: film_box.evaluate(
        "box => box.selectedIndex >= 0 ? box.options[box.selectedIndex].textContent : ''")
        .replace(NBSP, " "),
        lambda chosen: "Matrix, The" in chosen, "the film box to offer Matrix, The")
    explorer.screenshot(path=ARTIFACTS / "explorer_search.png")
    explorer.get_by_role("button", name="Rate it").click()
    page.wait_for_function("() => document.querySelector('.mf-explorer').innerText"
                           ".includes('My ratings: Matrix')", polling=POLL_MS)
    page.wait_for_function(
        "old => [...document.querySelectorAll('.mf-explorer .widget-select select option')]"
        ".map(o => o.textContent.replaceAll('\\u00a0', ' ')).join('|') !== old",
        arg="|".join(for_user_1), polling=POLL_MS)
    for_me = recommended_titles(page)
    assert for_me != for_user_1 and not any("Matrix, The" in t for t in for_me)
    choice = for_me[1]
    explorer.locator(".widget-select select").select_option(index=1)
    page.wait_for_function("title => document.querySelector('.mf-explorer').innerText"
                           ".includes('like ' + title)", arg=choice, polling=POLL_MS)
    explorer.screenshot(path=ARTIFACTS / "explorer.png")


def test_map_highlights_a_genre_and_marks_neighbours_in_2d_and_3d(page):
    embedding = page.locator(".mf-map")
    embedding.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for()
    red = ("() => [...document.querySelectorAll('.mf-map .scatterlayer .trace:first-child "
           "path.point')].filter(p => p.style.fill === 'rgb(214, 39, 40)').length")
    horror = page.evaluate(red)
    assert horror > 0 and "Closest to Matrix, The (1999)" in embedding.inner_text()
    embedding.locator(".widget-dropdown select").select_option("Comedy")
    page.wait_for_function(f"n => ({red})() !== n", arg=horror, polling=POLL_MS)
    assert page.evaluate(red) > horror  # more comedies than horror films
    picker = embedding.locator("input[placeholder^='type a title']")
    picker.fill("Toy Story (1995)")
    picker.press("Enter")
    page.wait_for_function("() => document.querySelector('.mf-map .mf-neighbours')"
                           ".innerText.includes('Closest to Toy Story (1995)')", polling=POLL_MS)
    embedding.screenshot(path=ARTIFACTS / "map_2d.png")
    embedding.get_by_role("button", name="3D").click()
    embedding.locator(".js-plotly-plot .gl-container canvas").first.wait_for()
    page.wait_for_timeout(1500)  # WebGL draws after the canvas appears
    embedding.screenshot(path=ARTIFACTS / "map_3d.png")
