"""pytest plugin (loaded wherever the SDK is installed): one test per contract example.

    import pytest

    @pytest.mark.notebridge("../examples/iris.ipynb")   # or a Worker, or "module:attr"
    def test_examples(notebridge_example):
        notebridge_example.check()

A test that takes ``notebridge_example`` runs once for each example of each contract the
marked worker serves (ids like ``iris/v1:setosa``), through the offline TestClient. A target
string is loaded once per test session; a notebook's cells run then. A relative file or
notebook path is relative to the test file.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notebridge_worker.contracts import ContractError, Example
from notebridge_worker.loader import TargetError, load_worker
from notebridge_worker.testing import TestClient
from notebridge_worker.worker import Worker

FIXTURE = "notebridge_example"
MARKER = "notebridge"


@dataclass(frozen=True)
class ExampleCase:
    """One example of one contract a worker serves; ``check()`` runs it."""

    worker: Worker
    contract: str
    example: Example

    @property
    def id(self) -> str:
        return f"{self.contract}:{self.example.name}"

    def check(self) -> None:
        """Run the example through the worker; fail the test with the reason if it fails."""
        result = TestClient(self.worker).run_example(self.contract, self.example)
        if not result.passed:
            pytest.fail(str(result), pytrace=False)


_loaded: dict[str, Worker] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(worker, contracts=None): the Worker (or its module:attr, file.py or "
        f"notebook.ipynb) whose contract examples parametrize the {FIXTURE} fixture",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid} takes {FIXTURE}: mark it with "
            f"@pytest.mark.{MARKER}(worker), the Worker or its module:attr or notebook.ipynb"
        )
    worker = _worker(marker.args[0], metafunc.definition.path.parent)
    contracts = marker.kwargs.get("contracts")
    cases = [
        ExampleCase(worker, ref, example) for ref, example in TestClient(worker).examples(contracts)
    ]
    if not cases:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: the worker has no examples to run")
    metafunc.parametrize(FIXTURE, cases, ids=[case.id for case in cases])


def _worker(target: Any, test_dir: Path) -> Worker:
    """The marked Worker; a relative file or notebook path is relative to the test's file
    (as a notebook's paths are relative to the notebook), whatever the working directory.
    """
    if isinstance(target, Worker):
        return target
    location, separator, attribute = str(target).rpartition(":")
    if not separator or "/" in attribute or os.sep in attribute:
        location, separator, attribute = str(target), "", ""
    beside_the_test = test_dir / location
    # The working directory is the fallback that paths written before this rule relied on.
    in_cwd_only = not beside_the_test.exists() and Path(location).exists()
    if location.endswith((".py", ".ipynb")) and not in_cwd_only:
        target = f"{beside_the_test}{separator}{attribute}"
    if target not in _loaded:
        try:
            _loaded[target] = load_worker(str(target))
        except (TargetError, ContractError) as error:
            raise pytest.UsageError(f"@pytest.mark.{MARKER}({target!r}): {error}") from None
    return _loaded[target]
