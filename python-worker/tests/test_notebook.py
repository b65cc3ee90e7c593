"""Notebooks as workers: which cells run, what a failing cell says, and serving one."""

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import TEST_CONTRACTS
from nats.aio.client import Client
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from support import call, error_of

from notebridge_worker import load_notebook
from notebridge_worker.loader import TargetError, load_worker
from notebridge_worker.testing import run_worker_process

WORKER_CELL = f"""
from notebridge_worker import Worker

worker = Worker(name="notebook-echo", contracts_dir={str(TEST_CONTRACTS)!r})
"""


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"tags": list(tags)} if tags else {})


def write_notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    notebook = new_notebook(cells=list(cells))
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def forget_notebook_modules() -> Iterator[None]:
    """Loading a notebook registers it in sys.modules; each test starts without it."""
    before = set(sys.modules)
    try:
        yield
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


@pytest.mark.usefixtures("forget_notebook_modules")
def test_cells_run_in_order_in_one_namespace_except_skipped_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notebook = write_notebook(
        tmp_path / "ran.ipynb",
        new_markdown_cell("# Not code"),
        code("ran = []\nimport os\ncwd = os.getcwd()"),
        code("raise RuntimeError('exploration that must not run')", "skip"),
        code("ran.append('setup')", "setup"),
        code("%matplotlib inline\nif True:\n    !pip install nothing\nran.append('magic lines')"),
        code("%%bash\necho this is not Python"),
        code("%%time\nran.append('timed')"),
        code("import asyncio\nawait asyncio.sleep(0)\nran.append('awaited')"),
        code("display(ran)\nran.append(__name__)"),
    )
    with caplog.at_level(logging.DEBUG, logger="notebridge_worker"):
        module = load_notebook(notebook)
    assert module.ran == ["setup", "magic lines", "timed", "awaited", "ran"]
    assert module.cwd == str(tmp_path)
    assert os.getcwd() != str(tmp_path)
    assert sys.modules["ran"] is module
    skipped = """cell 3 ("raise RuntimeError('exploration that must not run')")"""
    assert f"ran.ipynb: {skipped} is tagged skip: not run" in caplog.text
    assert """ran.ipynb: setup cell 4 ("ran.append('setup')") ran in""" in caplog.text
    assert "left out IPython lines '%matplotlib inline', '!pip install nothing'" in caplog.text
    assert 'cell 6 ("%%bash") is a cell magic (%%bash): not run' in caplog.text


@pytest.mark.parametrize(
    ("failing_cell", "expected"),
    [
        (
            "features = load(data)",
            [
                'broken.ipynb: setup cell 3 ("features = load(data)") failed:',
                'File "broken.ipynb, cell 3", line 1, in <module>',
                "NameError: name 'load' is not defined",
            ],
        ),
        (
            "def handler(request)\n    return request",
            ["broken.ipynb: setup cell 3 (\"def handler(request)\") is not Python: expected ':'"],
        ),
    ],
)
def test_a_failing_cell_stops_the_start_and_says_which(
    tmp_path: Path, failing_cell: str, expected: list[str]
) -> None:
    notebook = write_notebook(
        tmp_path / "broken.ipynb",
        new_markdown_cell("Cells are counted as Jupyter shows them, markdown too."),
        code(WORKER_CELL),
        code(failing_cell, "setup"),
        code("raise AssertionError('a cell after the failing one ran')"),
    )
    finished = subprocess.run(
        [sys.executable, "-m", "notebridge_worker", "run", str(notebook)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 2
    for line in expected:
        assert line in finished.stderr
    assert "a cell after the failing one ran" not in finished.stderr


@pytest.mark.usefixtures("forget_notebook_modules")
def test_without_attr_the_one_worker_of_the_notebook_is_served(tmp_path: Path) -> None:
    one = write_notebook(tmp_path / "one.ipynb", code(WORKER_CELL + "same = worker"))
    assert load_worker(str(one)).name == "notebook-echo"
    two = write_notebook(
        tmp_path / "two.ipynb",
        code(
            WORKER_CELL
            + "other = Worker("
            + (f"name='other', contracts_dir={str(TEST_CONTRACTS)!r})")
        ),
    )
    with pytest.raises(TargetError, match=r"defines 2 Workers \(other, worker\): name one, as "):
        load_worker(str(two))
    assert load_worker(f"{two}:other").name == "other"


async def test_a_notebook_is_served_with_its_handlers_in_a_process_pool(
    client: Client, nats_url: str, tmp_path: Path
) -> None:
    notebook = write_notebook(
        tmp_path / "served.ipynb",
        code(WORKER_CELL),
        code("import os\nGREETING = 'hello from a setup cell'", "setup"),
        code(
            "@worker.handler('echo', version=1)\n"
            "def greet(request):\n"
            "    return {'text': f\"{GREETING} in process {os.getpid()}\"}"
        ),
        code("import matplotlib  # not installed: exploration only", "skip"),
    )
    with run_worker_process(
        str(notebook), nats_url, args=["--pool", "process", "--pool-size", "1"]
    ) as worker:
        reply = await call(client, "nb.echo.v1", {"text": "x"})
    assert error_of(reply) is None
    text = json.loads(reply.data)["text"]
    assert text.startswith("hello from a setup cell in process ")
    assert text != f"hello from a setup cell in process {worker.process.pid}"
