"""Another `utils` cannot take the course's place: the three ways it happens, in throwaway setups.

Each test first reproduces the problem without the setup cell, then runs the notebooks' setup
cell (up to where it has chosen its `utils`) in a fresh Python process, the way a kernel runs it:
with the working folder first on the path. The cell must import the course's package, or stop
with an error that names the file in the way.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("setup_cell", ROOT / "tools" / "setup_cell.py")
setup_cell = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("setup_cell", setup_cell)
_spec.loader.exec_module(setup_cell)

COURSE = setup_cell.Course("someone/course", published=True, release="v1.0")
CHOOSE_UTILS = setup_cell.setup_cell_source(COURSE).split(setup_cell.REQUIREMENTS_STEP)[0]
REPORT = (
    "\nimport importlib.util, json"
    "\nprint(json.dumps([utils.__file__, importlib.util.find_spec('utils.device').origin]))"
)
OTHER_UTILS = '"""Some other project\'s helpers."""\n\n\ndef slugify(text):\n    return text\n'


def _wheel(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal wheel of `files`, as a build backend would write it."""
    dist_info = f"{name}-1.0.dist-info"
    files = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _environment(folder: Path) -> Path:
    """A fresh venv that also sees this environment's packages (torch, the course, pip)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    shared = "; ".join(f"site.addsitedir({path!r})" for path in site.getsitepackages())
    (Path(own) / "shared_packages.pth").write_text(f"import site; {shared}\n")
    return python


def _pip_install(python: Path, wheel: Path) -> None:
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
         "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True,
    )


def _course_checkout(folder: Path) -> Path:
    """A copy of the course's package with an empty notebooks/ folder; returns notebooks/."""
    shutil.copytree(ROOT / "utils", folder / "utils", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "notebooks").mkdir()
    return folder / "notebooks"


def _python(python: Path, code: str, folder: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `code` the way a kernel would: from `folder`, which is first on the path."""
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(folder), **env}
    return subprocess.run(
        [python, "-c", code], cwd=folder, capture_output=True, text=True, env=environment
    )


def _choose_utils(python: Path, folder: Path, prelude: str = "", **env: str) -> list[str]:
    """Run the setup cell up to its choice of `utils`; return utils' and utils.device's files."""
    result = _python(python, prelude + CHOOSE_UTILS + REPORT, folder, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_another_distribution_with_a_top_level_utils(tmp_path: Path) -> None:
    python = _environment(tmp_path / "venv")
    other = {"utils/__init__.py": OTHER_UTILS}
    _pip_install(python, _wheel(tmp_path, "other_helpers", other))
    notebooks = _course_checkout(tmp_path / "course")
    elsewhere = tmp_path / "elsewhere" / "lessons"
    elsewhere.mkdir(parents=True)

    without_cell = _python(python, "import utils; print(utils.__file__)", elsewhere)
    assert "venv" in without_cell.stdout and "course" not in without_cell.stdout  # theirs

    files = _choose_utils(python, notebooks)
    assert files == [str(notebooks.parent / "utils" / name) for name in
                     ("__init__.py", "device.py")]

    # A notebook opened outside the course's folder finds theirs first: the cell stops and says so.
    stopped = _python(python, CHOOSE_UTILS, elsewhere)
    assert stopped.returncode != 0
    last_line = stopped.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: `import utils` found ")
    assert "venv/lib/" in last_line
    assert "utils/__init__.py, which is not this course's" in last_line
    assert "rename it (or uninstall the package that ships it) and restart" in last_line


def test_a_regular_install_merged_into_one_utils_folder(
    tmp_path: Path, course_origin: Path
) -> None:
    python = _environment(tmp_path / "venv")
    ours = {f"utils/{path.name}": path.read_text() for path in (ROOT / "utils").glob("*.py")}
    _pip_install(python, _wheel(tmp_path, "mf_course", ours))
    _pip_install(python, _wheel(tmp_path, "other_helpers", {"utils/__init__.py": OTHER_UTILS}))
    content = tmp_path / "content"
    content.mkdir()

    merged = _python(
        python, "import utils, utils.device; print(utils.__doc__); print(utils.device.__file__)",
        content,
    )
    assert merged.returncode == 0, merged.stderr
    assert "other project" in merged.stdout and "venv/lib/" in merged.stdout  # one mixed folder

    # On Colab (its kernel has imported google.colab) the cell clones the release and imports
    # it first, whatever site-packages holds.
    colab = tmp_path / "colab-stub"
    (colab / "google" / "colab").mkdir(parents=True)
    (colab / "google" / "colab" / "__init__.py").write_text("")
    files = _choose_utils(
        python, content, "import google.colab\n",
        PYTHONPATH=str(colab), MF_COURSE_GIT=course_origin.as_uri(),
    )
    clone = content / "mf-course" / "utils"
    assert files == [str(clone / "__init__.py"), str(clone / "device.py")]


def test_a_utils_py_in_the_working_folder(tmp_path: Path) -> None:
    notebooks = _course_checkout(tmp_path / "course")
    (notebooks / "utils.py").write_text("def helper():\n    return 1\n")

    without_cell = _python(Path(sys.executable), "import utils.device", notebooks)
    assert "No module named 'utils.device'; 'utils' is not a package" in without_cell.stderr

    full_cell = setup_cell.setup_cell_source(COURSE) + REPORT
    result = _python(Path(sys.executable), full_cell, notebooks)
    assert result.returncode == 0, result.stderr
    version_line, files_line = result.stdout.strip().splitlines()[-2:]
    assert version_line.startswith("python ") and "device: cpu" in version_line
    assert json.loads(files_line) == [
        str(notebooks.parent / "utils" / name) for name in ("__init__.py", "device.py")
    ]


def test_the_guard_names_a_utils_imported_before_the_cell(tmp_path: Path) -> None:
    """A `utils` that an earlier cell imported is not silently kept."""
    notebooks = _course_checkout(tmp_path / "course")
    other = tmp_path / "other" / "utils"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text(OTHER_UTILS)
    code = f"import sys; sys.path.insert(0, {str(other.parent)!r}); import utils\n" + CHOOSE_UTILS
    result = _python(Path(sys.executable), code, notebooks)
    assert f"found {other / '__init__.py'}, which is not this course's" in result.stderr
