"""Find the Worker a command line names: ``module:attr``, ``file.py:attr`` or ``notebook.ipynb``."""

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from notebridge_worker.contracts import ContractError
from notebridge_worker.notebook import NotebookError, load_notebook
from notebridge_worker.worker import Worker


class TargetError(Exception):
    """The target cannot be loaded, or does not name exactly one Worker."""


def load_worker(target: str) -> Worker:
    """Load ``target`` and return the Worker it names.

    ``target`` is ``module:attr`` (the working directory is importable, as for ``python -m``),
    ``path/to/file.py:attr`` or ``path/to/notebook.ipynb:attr`` (the file's directory is
    importable, for its sibling modules). Without ``:attr``, the one Worker the module or
    notebook defines. Raises TargetError, or ContractError from the Worker's contracts.
    """
    location, attribute = _split(target)
    if location.endswith(".ipynb"):
        try:
            module = load_notebook(location)
        except NotebookError as error:
            raise TargetError(str(error)) from None
    elif location.endswith(".py") or "/" in location or os.sep in location:
        module = _import_file(Path(location))
    else:
        module = _import_module(location)
    return _find_worker(module, location, attribute)


def _split(target: str) -> tuple[str, str | None]:
    location, separator, attribute = target.rpartition(":")
    if not separator or "/" in attribute or os.sep in attribute:
        return target, None
    return location, attribute or None


def _import_module(name: str) -> ModuleType:
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and (name + ".").startswith(error.name + "."):
            raise TargetError(f"cannot import {name}: {error}") from None
        raise _failed(name, error) from None
    except Exception as error:
        raise _failed(name, error) from None


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise TargetError(f"no such file: {path}")
    sys.path.insert(0, str(path.resolve().parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered under its name before it runs, so that pickle (process pools) finds it.
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise _failed(str(path), error) from None
    return module


def _failed(location: str, error: Exception) -> TargetError:
    """A TargetError carrying the traceback of the module's own code that raised.

    A ContractError (a missing contracts folder, a broken schema) says all there is to say
    in its message: the traceback would only bury it.
    """
    if isinstance(error, ContractError):
        return TargetError(f"{location}: {error}")
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return TargetError(f"importing {location} failed:\n{''.join(lines).rstrip()}")


def _find_worker(module: ModuleType, location: str, attribute: str | None) -> Worker:
    if attribute is not None:
        worker = getattr(module, attribute, None)
        if not isinstance(worker, Worker):
            found = "nothing" if worker is None else f"a {type(worker).__name__}"
            raise TargetError(f"{location}:{attribute} is {found}, not a notebridge_worker.Worker")
        return worker
    workers: dict[int, list[str]] = {}
    for name, value in vars(module).items():
        if isinstance(value, Worker):
            workers.setdefault(id(value), []).append(name)
    if len(workers) == 1:
        return getattr(module, next(iter(workers.values()))[0])
    if not workers:
        raise TargetError(f"{location} defines no notebridge_worker.Worker")
    names = ", ".join(sorted(names[0] for names in workers.values()))
    raise TargetError(
        f"{location} defines {len(workers)} Workers ({names}): name one, as {location}:NAME"
    )
