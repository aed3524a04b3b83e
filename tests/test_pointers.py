"""Guards that keep the course's pointers true.

- Every "notebook NN" / "lesson NN" in a docstring of `utils` or `bench` names a lesson that
  really uses what the docstring describes: the function or class (directly, or through a
  `utils` function that calls it), or, for a module docstring, something of that module.
  "used by the bench" / "called from bench/NAME.py" must hold the same way.
- Every UPPER_CASE name a lesson assigns is assigned in its `parameters` cell (the setup cell
  and the exercise cells, metadata `course_kit`, excepted), so that every knob is in one place.
- Every lesson links (`../utils/NAME.py`, which works on GitHub) to each `utils` module its cells
  import after the setup cell, and to no module that does not exist.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = {path.name[:2]: path for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
UTILS = sorted(p for p in (ROOT / "utils").glob("*.py") if p.name != "__init__.py")
BENCH = sorted((ROOT / "bench").glob("*.py"))

Ref = tuple[str, str]  # (utils module, top-level name), e.g. ("train", "fit")
LESSON_POINTER = re.compile(
    r"\b(?:notebook|lesson)s?\s+(\d{2}(?:(?:\s*,\s*|\s+and\s+|\s+or\s+)\d{2})*)\b", re.I)
USER_POINTER = re.compile(r"\b(?:(?:re)?used\s+(?:again\s+)?(?:by|in)|called\s+from)\s+"
                          r"(?:notebooks?\s+\d{2}(?:(?:\s*,\s*|\s+and\s+)\d{2})*\s+and\s+)?"
                          r"(the\s+bench|bench/\w+\.py)", re.I)


# --------------------------------------------------------------------------- who uses what
def _notebook_code(path: Path) -> str:
    """Every code cell of a notebook, IPython magics and shell lines blanked."""
    cells = json.loads(path.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for source in sources for line in source.splitlines())


def _utils_imports(tree: ast.AST) -> tuple[dict[str, Ref], dict[str, str]]:
    """Local names bound to utils definitions, and local names bound to utils modules."""
    names: dict[str, Ref] = {}
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "utils":
            modules.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("utils."):
            module = node.module.split(".", 1)[1]
            names.update({a.asname or a.name: (module, a.name) for a in node.names})
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("utils.") and alias.asname:
                    modules[alias.asname] = alias.name.split(".", 1)[1]
    return names, modules


def _references(tree: ast.AST, local: dict[str, Ref]) -> set[Ref]:
    """The utils definitions a piece of code names: imported names, `utils.mod.name`, locals."""
    names, modules = _utils_imports(tree)
    names = {**local, **names}
    found: set[Ref] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            found.add(names[node.id])
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in modules:
                found.add((modules[node.value.id], node.attr))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner = node.value
            if isinstance(inner.value, ast.Name) and inner.value.id == "utils":
                found.add((inner.attr, node.attr))
    return found


def _top_level(tree: ast.Module) -> dict[str, ast.AST]:
    """A module's functions, classes and assigned names."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                found.update({n.id: node for n in ast.walk(target) if isinstance(n, ast.Name)})
    return found


@cache
def _utils_graph() -> dict[Ref, set[Ref]]:
    """For each top-level utils definition, the utils definitions its code names."""
    graph: dict[Ref, set[Ref]] = {}
    for path in UTILS:
        tree = ast.parse(path.read_text())
        own = _top_level(tree)
        imported, _ = _utils_imports(tree)
        local = {**imported, **{name: (path.stem, name) for name in own}}
        for name, node in own.items():
            graph[(path.stem, name)] = _references(node, local) - {(path.stem, name)}
    return graph


def _closure(refs: set[Ref]) -> set[Ref]:
    """refs and every utils definition they reach through calls inside utils."""
    graph, seen, todo = _utils_graph(), set(), list(refs)
    while todo:
        ref = todo.pop()
        if ref not in seen:
            seen.add(ref)
            todo.extend(graph.get(ref, ()))
    return seen


@cache
def _lesson_uses(number: str) -> frozenset[Ref]:
    tree = ast.parse(_notebook_code(LESSONS[number]))
    return frozenset(_closure(_references(tree, {})))


@cache
def _bench_uses(stem: str | None = None) -> frozenset[Ref]:
    """What one bench module (or, with None, the whole bench) uses of utils, transitively."""
    paths = [p for p in BENCH if stem is None or p.stem == stem]
    return frozenset(_closure(set().union(*(_references(ast.parse(p.read_text()), {})
                                             for p in paths))))


# --------------------------------------------------------------------------- the docstrings
def _docstrings(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """(line, subject, text): subject is the top-level definition, None for the module."""
    tree = ast.parse(path.read_text())
    if ast.get_docstring(tree):
        yield 1, None, ast.get_docstring(tree)
    for top in tree.body:
        if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for node in ast.walk(top):  # methods and nested functions speak for their owner
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if ast.get_docstring(node):
                    yield node.lineno, top.name, ast.get_docstring(node)


def _lessons_named(text: str) -> list[tuple[str, str]]:
    """(the words before the pointer, lesson number) for every lesson pointer in text."""
    flat = " ".join(text.split())
    return [(flat[: match.start()], number) for match in LESSON_POINTER.finditer(flat)
            for number in re.findall(r"\d{2}", match.group(1))]


def _package_subject(before: str) -> str | None:
    """In utils/__init__.py's list of modules, a pointer speaks for the module just before it."""
    words = re.findall(r"\b([a-z_]+) \([^()]*$", before)
    return words[-1] if words else None


def _utils_pointers() -> Iterator[tuple[str, str, set[Ref], str]]:
    """(where, lesson number, what the pointer speaks for, its description) in utils."""
    for path in [ROOT / "utils" / "__init__.py", *UTILS]:
        module = path.stem
        for line, subject, text in _docstrings(path):
            for before, number in _lessons_named(text):
                if module == "__init__":
                    module_named = _package_subject(before)
                    assert module_named, f"utils/__init__.py: notebook {number} names no module"
                    refs = {r for r in _utils_graph() if r[0] == module_named}
                    yield "utils/__init__.py", number, refs, f"utils.{module_named}"
                elif subject is None:
                    refs = {r for r in _utils_graph() if r[0] == module}
                    yield f"utils/{path.name}:{line}", number, refs, f"utils.{module}"
                else:
                    yield (f"utils/{path.name}:{line}", number, {(module, subject)},
                           f"utils.{module}.{subject}")


def _users_named(text: str) -> list[str | None]:
    """The bench module a "used by" pointer names, None for the bench as a whole."""
    return [None if m.group(1).lower().startswith("the") else Path(m.group(1)).stem
            for m in USER_POINTER.finditer(" ".join(text.split()))]


def test_docstring_pointers_name_lessons_of_the_series() -> None:
    """A pointer to a lesson number that does not exist is a leftover of a renumbering."""
    for path in [ROOT / "utils" / "__init__.py", *UTILS, *BENCH]:
        for line, _, text in _docstrings(path):
            for _, number in _lessons_named(text):
                assert number in LESSONS, f"{path.relative_to(ROOT)}:{line}: no notebook {number}"


def test_utils_docstrings_name_lessons_that_use_the_code() -> None:
    false = []
    for where, number, refs, what in _utils_pointers():
        if number in LESSONS and not refs & _lesson_uses(number):
            users = sorted(n for n in LESSONS if refs & _lesson_uses(n))
            false.append(f"{where}: says notebook {number} for {what}; used by {users}")
    assert not false, "\n".join(false)


def test_utils_docstrings_name_bench_modules_that_use_the_code() -> None:
    false = []
    for path in [*UTILS]:
        for line, subject, text in _docstrings(path):
            refs = ({(path.stem, subject)} if subject
                    else {r for r in _utils_graph() if r[0] == path.stem})
            for stem in _users_named(text):
                if not refs & _bench_uses(stem):
                    false.append(f"utils/{path.name}:{line}: names {stem or 'the bench'} as a "
                                 f"user, but it does not use {refs}")
    assert not false, "\n".join(false)


def test_bench_docstrings_name_lessons_that_teach_what_the_code_uses() -> None:
    """A bench pointer holds when the lesson uses a utils definition the bench code uses that is
    particular to few lessons (used by fewer than half of them), not the plumbing of all."""
    false = []
    for path in BENCH:
        imported, _ = _utils_imports(ast.parse(path.read_text()))
        for line, subject, text in _docstrings(path):
            if subject is None:
                refs = _references(ast.parse(path.read_text()), {})
            else:
                node = _top_level(ast.parse(path.read_text()))[subject]
                refs = _references(node, imported)
            particular = {r for r in _closure(refs)
                          if sum(r in _lesson_uses(n) for n in LESSONS) < len(LESSONS) / 2}
            for _, number in _lessons_named(text):
                if number in LESSONS and not particular & _lesson_uses(number):
                    false.append(f"bench/{path.name}:{line}: says notebook {number}")
            for stem in [s for s in _users_named(text) if s]:
                user = (ROOT / "bench" / f"{stem}.py").read_text()
                uses = re.search(rf"\bbench\.{path.stem}\b", user) and (
                    subject is None or re.search(rf"\b{subject}\b", user))
                if not uses:
                    false.append(f"bench/{path.name}:{line}: says it is used by bench/{stem}.py")
    assert not false, "\n".join(false)


# --------------------------------------------------------------------------- the knobs
UPPER_CASE = re.compile(r"[A-Z][A-Z0-9_]*")


def _assigned_at_top(tree: ast.Module) -> Iterator[str]:
    """Names a cell assigns outside function and class bodies (tuple targets included)."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.NamedExpr)):
            targets = [node.target]
        for target in targets:
            yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        todo.extend(ast.iter_child_nodes(node))


def _knobs_outside_parameters(path: Path) -> list[str]:
    """'cell N: NAME' for each UPPER_CASE name assigned outside the parameters cell."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    found = []
    for number, cell in enumerate(cells[1:], start=2):  # the first code cell is the setup cell
        metadata = cell.get("metadata", {})
        if "parameters" in metadata.get("tags", []) or "course_kit" in metadata:
            continue
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                           for line in "".join(cell["source"]).splitlines())
        found += [f"code cell {number}: {name}" for name in _assigned_at_top(ast.parse(source))
                  if UPPER_CASE.fullmatch(name)]
    return found


@pytest.mark.parametrize("number", LESSONS)
def test_knobs_are_set_in_the_parameters_cell(number: str) -> None:
    cells = json.loads(LESSONS[number].read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"notebook {number} has {len(tagged)} cells tagged `parameters`"
    outside = _knobs_outside_parameters(LESSONS[number])
    assert not outside, f"notebook {number} sets knobs outside its parameters cell: {outside}"


UTILS_LINK = re.compile(r"\(\.\./utils/(\w+)\.py\)")


@pytest.mark.parametrize("number", list(LESSONS))
def test_lessons_link_to_the_utils_modules_they_import(number: str) -> None:
    cells = json.loads(LESSONS[number].read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"][1:]  # the setup cell is generated
    tree = ast.parse("\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line
        for cell in code for line in "".join(cell["source"]).splitlines()))
    imported = {node.module.split(".", 1)[1] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("utils.")}
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    linked = set(UTILS_LINK.findall(markdown))
    unlinked = imported - linked
    assert not unlinked, f"notebook {number}: add a link ../utils/NAME.py for {unlinked}"
    missing = {name for name in linked if not (ROOT / "utils" / f"{name}.py").is_file()}
    assert not missing, f"notebook {number} links to utils modules that do not exist: {missing}"
