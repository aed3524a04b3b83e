"""Write the notebooks' setup cell and Colab badge and the README's Colab column from course.toml.

    python tools/setup_cell.py            # check: exit 1 and name every file that is out of date
    python tools/setup_cell.py --write    # rewrite them
    python tools/setup_cell.py --repository OWNER/NAME --release TAG --write   # a fork, one step

course.toml names the GitHub repository and the release (a tag) that the Colab set-up clones.
The script touches only three things: the first code cell of each notebook (its source; stored
outputs stay), a badge line at the top of each notebook's title cell, and the Colab column of
the README's notebook table. Run it again after adding or renaming a notebook.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
COURSE_FILE = ROOT / "course.toml"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_START = "[![Open In Colab]("
TABLE_HEADER = "| # | notebook |"
REPOSITORY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")
RELEASE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


@dataclass(frozen=True)
class Course:
    """Where the course lives: GitHub owner/name, whether that address is real, the release tag."""

    repository: str
    published: bool
    release: str

    @property
    def git_url(self) -> str:
        """The clone address, or "" while the repository is only a placeholder."""
        return f"https://github.com/{self.repository}.git" if self.published else ""

    def colab_url(self, notebook: str) -> str | None:
        """Colab's address of a notebook at the release, or None while unpublished."""
        if not self.published:
            return None
        return (
            f"https://colab.research.google.com/github/{self.repository}/blob/{self.release}"
            f"/notebooks/{notebook}"
        )


def load_course(path: Path = COURSE_FILE) -> Course:
    """Read and check course.toml."""
    with path.open("rb") as file:
        table = tomllib.load(file)["course"]
    course = Course(table["repository"], bool(table["published"]), table["release"])
    if not REPOSITORY_PATTERN.fullmatch(course.repository):
        raise ValueError(f"{path}: repository must be OWNER/NAME, not {course.repository!r}")
    if not RELEASE_PATTERN.fullmatch(course.release) or course.release in {"main", "master"}:
        raise ValueError(f"{path}: release must be a tag such as v0.1.0, not {course.release!r}")
    return course


def set_course(repository: str, release: str | None, path: Path = COURSE_FILE) -> Course:
    """Point course.toml at a published repository (a fork's one step) and return it."""
    text = path.read_text()
    text = re.sub(r'(?m)^repository = "[^"]*"', f'repository = "{repository}"', text)
    text = re.sub(r"(?m)^published = \w+", "published = true", text)
    if release is not None:
        text = re.sub(r'(?m)^release = "[^"]*"', f'release = "{release}"', text)
    path.write_text(text)
    return load_course(path)


SETUP_TEMPLATE = '''\
# Setup, the same cell opens every lesson (tools/setup_cell.py writes it from course.toml):
# make `import utils` mean this course's package, then seed, pick the device, print versions.
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COURSE_GIT = os.environ.get("MF_COURSE_GIT", "{git_url}")
COURSE_RELEASE = "{release}"
if "google.colab" in sys.modules:  # Colab: clone the release once, put it first on the path
    COURSE_ROOT = Path("mf-course").resolve()
    if not COURSE_GIT:
        raise RuntimeError(
            "This copy of the course has no published address, so nothing will be installed. "
            "Open the lesson from the course's own repository, or give your fork's address in "
            "course.toml (README, 'Open in Colab') or with %env MF_COURSE_GIT=<git URL>."
        )
    if not COURSE_ROOT.is_dir():  # cloned aside, then renamed: a stopped clone is no course
        scratch = Path(tempfile.mkdtemp(prefix="mf-course-clone-", dir=COURSE_ROOT.parent))
        clone = subprocess.run(
            ["git", "clone", "--quiet", "--depth=1", f"--branch={{COURSE_RELEASE}}", COURSE_GIT,
             str(scratch / "course")], capture_output=True, text=True,
        )
        if clone.returncode:
            shutil.rmtree(scratch, ignore_errors=True)
            raise RuntimeError(
                f"Could not download the course from {{COURSE_GIT}} at release {{COURSE_RELEASE}}"
                f" ({{clone.stderr.strip()}}): check the address, that the release exists and "
                "that the runtime is online, then run this cell again."
            )
        if not COURSE_ROOT.is_dir():  # another lesson in this runtime may have finished first
            (scratch / "course").rename(COURSE_ROOT)
        shutil.rmtree(scratch, ignore_errors=True)
else:  # a checkout: the lessons sit in notebooks/, the course's package in the folder above
    COURSE_ROOT = Path.cwd().parent
sys.path.insert(0, str(COURSE_ROOT))
import utils  # noqa: E402

if getattr(utils, "COURSE", None) != "mf-course":
    raise ImportError(
        f"`import utils` found {{utils.__file__ or list(utils.__path__)}}, which is not this "
        "course's package: rename it (or uninstall the package that ships it) and restart."
    )
if "google.colab" in sys.modules:
    from utils.colab import install_requirements  # noqa: E402

    install_requirements()  # only what the runtime lacks: Colab's versions fit the ranges
from utils.device import environment_report, pick_device, seed_everything  # noqa: E402

SEED = 42
DEVICE = pick_device()
seed_everything(SEED)
print(environment_report(DEVICE))'''


# Where the cell has chosen its `utils` and goes on to use it (the shadowing tests stop here).
REQUIREMENTS_STEP = '\nif "google.colab" in sys.modules:\n    from utils.colab'
assert REQUIREMENTS_STEP in SETUP_TEMPLATE


def setup_cell_source(course: Course) -> str:
    """The source of the setup cell that opens every notebook."""
    return SETUP_TEMPLATE.format(git_url=course.git_url, release=course.release)


def badge(course: Course, notebook: str, readme_link: str) -> str:
    """An Open-in-Colab badge; while unpublished it links to the README's explanation instead."""
    target = course.colab_url(notebook) or readme_link
    return f"{BADGE_START}{BADGE_IMAGE})]({target})"


def updated_notebook(path: Path, course: Course) -> nbformat.NotebookNode:
    """The notebook with its setup cell and title badge regenerated (outputs untouched)."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    title = notebook.cells[0]
    if not code or title.cell_type != "markdown":
        raise ValueError(f"{path}: expected a markdown title cell and a setup code cell")
    code[0].source = setup_cell_source(course)
    lines = title.source.split("\n")
    if lines[0].startswith(BADGE_START):
        lines = lines[2:] if len(lines) > 1 and not lines[1].strip() else lines[1:]
    notebook_badge = badge(course, path.name, "../README.md#open-in-colab")
    title.source = "\n".join([notebook_badge, "", *lines])
    return notebook


def updated_readme(text: str, course: Course, notebooks: list[str]) -> str:
    """The README with the last column of the notebook table holding each notebook's badge."""
    lines = text.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(TABLE_HEADER))
    except StopIteration:
        raise ValueError(f"README.md: no notebook table starting with {TABLE_HEADER!r}") from None
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = [_cells(line) for line in lines[start:end]]
    has_column = rows[0][-1] == "Colab"
    listed = []
    for number, row in enumerate(rows):
        base = row[:-1] if has_column else row
        if number == 0:
            row = [*base, "Colab"]
        elif number == 1:
            row = [*base, ":-:"]  # keeps the table's own |---| style
        else:
            match = re.search(r"\(notebooks/([^)]+\.ipynb)\)", row[1])
            if not match:
                raise ValueError(f"README.md: table row without a notebook link: {row}")
            listed.append(match.group(1))
            row = [*base, badge(course, match.group(1), "#open-in-colab")]
        if number == 1:
            lines[start + number] = "|" + "|".join(row) + "|"
        else:
            lines[start + number] = "| " + " | ".join(row) + " |"
    missing = sorted(set(notebooks) - set(listed))
    if missing:
        raise ValueError(f"README.md: add a row to the notebook table for {', '.join(missing)}")
    return "\n".join(lines)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def stale_files(course: Course, write: bool) -> list[Path]:
    """The notebooks and README that differ from what course.toml gives; rewrite them if asked."""
    stale = []
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in notebooks:
        notebook = updated_notebook(path, course)
        if nbformat.writes(notebook) + "\n" != path.read_text():
            stale.append(path)
            if write:
                nbformat.write(notebook, path)
    readme = ROOT / "README.md"
    text = readme.read_text()
    new_text = updated_readme(text, course, [path.name for path in notebooks])
    if new_text != text:
        stale.append(readme)
        if write:
            readme.write_text(new_text)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the files that differ")
    parser.add_argument("--repository", help="set course.toml's GitHub OWNER/NAME (a fork)")
    parser.add_argument("--release", help="set course.toml's release tag")
    args = parser.parse_args(argv)
    if (args.repository or args.release) and not args.write:
        parser.error("--repository and --release change course.toml: add --write")
    if args.repository:
        if not REPOSITORY_PATTERN.fullmatch(args.repository):
            parser.error(f"--repository must be GitHub's OWNER/NAME, not {args.repository!r}")
        course = set_course(args.repository, args.release)
    elif args.release:
        parser.error("--release alone: give --repository too (your fork's OWNER/NAME)")
    else:
        course = load_course()
    stale = stale_files(course, write=args.write)
    for path in stale:
        print(f"{'rewrote' if args.write else 'out of date'}: {path.relative_to(ROOT)}")
    if stale and not args.write:
        print("run: python tools/setup_cell.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
