"""Run a Jupyter notebook as a Python module, so the worker it defines can be served.

The rules, which docs/researchers.md explains to researchers:

- Code cells run once, in notebook order, in one module namespace, as "Run All" does, with
  the notebook's directory as the working directory (as in Jupyter); the previous one is
  restored afterwards.
- A cell tagged ``skip`` does not run (exploration, plots). A cell tagged ``setup`` (load
  data, train a model) runs in its place like any other; its duration is logged, so a slow
  start is explained, and a failure names it as a setup cell.
- IPython syntax is not Python: in a cell that does not compile, lines starting with ``%`` or
  ``!`` (``%matplotlib inline``, ``!pip install x``) are left out, with a logged note; a cell
  magic (``%%bash``) skips its cell, except ``%%time``, ``%%timeit`` and ``%%capture``,
  whose body runs once. Top-level ``await`` works, as in Jupyter. ``display()`` ignores its
  arguments.
- A cell that raises stops the loading with a NotebookError naming the cell, its first line
  and the exception.
"""

import ast
import contextlib
import inspect
import linecache
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import nbformat

from notebridge_worker._blocking import run_blocking
from notebridge_worker.contracts import ContractError

logger = logging.getLogger("notebridge_worker")

SKIP_TAG = "skip"
SETUP_TAG = "setup"
NOTEBOOK_ATTRIBUTE = "__notebridge_notebook__"
"""Set on a module made from a notebook: the notebook's path, to load it again elsewhere."""
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture"})
"""Cell magics whose body is Python that can run once without IPython."""
MAX_FIRST_LINE = 60
"""Characters of a cell's first line that name it in messages."""
_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


class NotebookError(Exception):
    """A notebook cannot be read, or one of its cells failed."""


def load_notebook(path: str | os.PathLike[str], module_name: str | None = None) -> ModuleType:
    """Run the notebook's code cells (the rules are in this module's docstring).

    Returns the module holding what the cells defined, registered in ``sys.modules`` under
    ``module_name`` (default: the file name without ``.ipynb``, made an identifier), so the
    functions it defines can be found by name (pickle, process pools). Raises NotebookError.
    """
    notebook_path = Path(path).absolute()
    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except (OSError, ValueError, nbformat.ValidationError) as error:
        raise NotebookError(f"{path}: not a readable notebook: {error}") from None
    name = module_name or _module_name(notebook_path)
    module = ModuleType(name, f"notebook {notebook_path.name}")
    module.__file__ = str(notebook_path)
    setattr(module, NOTEBOOK_ATTRIBUTE, str(notebook_path))
    # Jupyter's display() is a builtin of every notebook; outside it, there is no one to show.
    module.__dict__["display"] = _display
    sys.modules[name] = module
    # Modules next to the notebook are importable from its cells, as in Jupyter.
    if str(notebook_path.parent) not in sys.path:
        sys.path.insert(0, str(notebook_path.parent))
    with _working_directory(notebook_path.parent):
        for index, cell in enumerate(notebook.cells, start=1):
            if cell.cell_type == "code":
                _run_cell(module, notebook_path, index, cell)
    return module


def _run_cell(module: ModuleType, notebook_path: Path, index: int, cell: Any) -> None:
    tags = set(cell.get("metadata", {}).get("tags", ()))
    source = cell.source
    first_line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    if len(first_line) > MAX_FIRST_LINE:
        first_line = first_line[: MAX_FIRST_LINE - 1] + "…"
    kind = "setup cell" if SETUP_TAG in tags else "cell"
    where = f'{notebook_path.name}: {kind} {index} ("{first_line}")'
    if SKIP_TAG in tags:
        logger.info("%s is tagged %s: not run", where, SKIP_TAG)
        return
    if not first_line:
        return
    filename = f"{notebook_path.name}, cell {index}"
    try:
        code = _compile_cell(source, filename, where)
    except SyntaxError as error:
        raise NotebookError(f"{where} is not Python: {error.msg} (line {error.lineno})") from None
    if code is None:
        return
    # Tracebacks, including those of handlers the cell defines, show the cell's lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    started = time.monotonic()
    try:
        result = eval(code, module.__dict__)  # running the notebook is the point
        if code.co_flags & inspect.CO_COROUTINE:
            run_blocking(result)
    except ContractError as error:  # its message says all: a traceback would bury it
        raise NotebookError(f"{where} failed: {error}") from None
    except Exception as error:
        raise NotebookError(f"{where} failed:\n{_cell_traceback(error, filename)}") from None
    log = logger.info if SETUP_TAG in tags else logger.debug
    log("%s ran in %.2f s", where, time.monotonic() - started)


def _compile_cell(source: str, filename: str, where: str) -> CodeType | None:
    """Compile a cell; IPython lines are left out only when the cell is not Python as is."""
    try:
        return compile(source, filename, "exec", flags=_COMPILE_FLAGS, dont_inherit=True)
    except SyntaxError:
        python, left_out = _without_ipython(source)
        if not left_out:
            raise
    if python is None:
        logger.warning("%s is a cell magic (%s): not run", where, left_out[0])
        return None
    code = compile(python, filename, "exec", flags=_COMPILE_FLAGS, dont_inherit=True)
    logger.warning("%s: left out IPython lines %s", where, ", ".join(map(repr, left_out)))
    return code


_IPYTHON_LINE = re.compile(r"^(\s*)[%!]")


def _without_ipython(source: str) -> tuple[str | None, list[str]]:
    """The cell without its IPython lines (None: a cell magic), and the lines left out.

    Each line left out becomes ``pass`` at its indentation, so the line numbers of errors
    stay those of the cell, and a block whose body was only such a line stays valid.
    """
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()
        if magic[2:].split(maxsplit=1)[0] not in PYTHON_CELL_MAGICS:
            return None, [magic]
        lines[first] = "pass"
        left_out = [magic]
    else:
        left_out = []
    for number, line in enumerate(lines):
        match = _IPYTHON_LINE.match(line)
        if match:
            left_out.append(line.strip())
            lines[number] = f"{match.group(1)}pass"
    return "\n".join(lines), left_out


def _cell_traceback(error: Exception, filename: str) -> str:
    """The traceback from the cell's own frame on: the loader's frames would only distract."""
    frames = traceback.extract_tb(error.__traceback__)
    first = next((i for i, frame in enumerate(frames) if frame.filename == filename), 0)
    lines = traceback.format_list(frames[first:])
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip()


def _module_name(path: Path) -> str:
    name = re.sub(r"\W", "_", path.stem)
    return name if name.isidentifier() else f"notebook_{name}"


def _display(*objects: object, **options: object) -> None:
    """Stands in for IPython's display(): a served notebook has no output cell to show."""


@contextlib.contextmanager
def _working_directory(directory: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)
