"""Testing a worker without NATS: TestClient, ``notebridge-worker test`` and the pytest plugin."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import PYTHON_WORKER, TEST_CONTRACTS
from echo_worker import build_worker

import notebridge_worker
from notebridge_worker import RequestContext, Worker, WorkerConfig
from notebridge_worker.protocol import HEADER_CONTRACT_DIGEST, HEADER_REQUEST_ID
from notebridge_worker.testing import CallError, TestClient

pytest_plugins = ["pytester"]

BROKEN_WORKER = f"""
from notebridge_worker import Worker

worker = Worker(name="broken", contracts_dir={str(TEST_CONTRACTS)!r})


@worker.handler("echo", version=1)
def echo(request):
    return {{"text": request["text"]}}


@worker.handler("echo", version=2)
def forgets_the_text(request):
    return {{"txt": request["text"]}}
"""


def test_call_runs_the_handler_and_returns_its_reply() -> None:
    seen: list[tuple[dict, RequestContext]] = []
    client = TestClient(build_worker(seen=seen))
    assert client.call("echo", {"text": "héllo"}, headers={HEADER_REQUEST_ID: "t-1"}) == {
        "text": "héllo"
    }
    [(request, context)] = seen
    assert request == {"text": "héllo"}
    assert context.request_id == "t-1"
    assert 0 < context.time_left() <= 2  # echo/v1's timeout_seconds


def test_a_broken_reply_is_caught_with_the_violations() -> None:
    with pytest.raises(CallError) as raised:
        TestClient(build_worker()).call("echo", {"text": "x", "behavior": "bad_reply"})
    assert raised.value.code == "invalid_reply"
    # Every violation, in the message and as data; none left as "(and 2 more)".
    assert raised.value.message == (
        'echo/v1 reply broke the contract: reply: unexpected property "extra"; '
        "n: expected number, got string at /n; text: expected string, got integer at /text"
    )
    assert [(v["instancePath"], v["keyword"]) for v in raised.value.violations] == [
        ("", "additionalProperties"),
        ("/n", "type"),
        ("/text", "type"),
    ]


def test_the_request_is_checked_before_the_handler_runs() -> None:
    seen: list[tuple[dict, RequestContext]] = []
    client = TestClient(build_worker(seen=seen))
    with pytest.raises(CallError) as raised:
        client.call("echo", {"text": 5, "extra": 1})
    assert raised.value.code == "invalid_request"
    assert [v["keyword"] for v in raised.value.violations] == ["additionalProperties", "type"]
    with pytest.raises(CallError, match="invalid_request: the request body is not JSON"):
        client.call("echo", b'{"text": ')
    assert seen == []


def test_drift_deadline_and_service_errors_are_those_a_served_request_gets() -> None:
    client = TestClient(build_worker())
    with pytest.raises(CallError, match=r"^drift: contract drift on echo/v1"):
        client.call("echo", {"text": "x"}, headers={HEADER_CONTRACT_DIGEST: "sha256:" + "0" * 64})
    with pytest.raises(CallError, match=r"^deadline_exceeded: echo/v1 did not finish"):
        client.call("echo", {"text": "x", "sleep_ms": 1000}, timeout=0.1)
    with pytest.raises(CallError, match=r"^echo_failed: echo was asked to fail$"):
        client.call("echo", {"text": "x", "behavior": "fail"})


def test_calling_a_contract_the_worker_does_not_serve_says_what_it_serves() -> None:
    with pytest.raises(LookupError, match=r"no handler for echo/v2 \(it serves echo/v1\)"):
        TestClient(build_worker()).call("echo", {"text": "x"}, version=2)


async def test_acall_works_where_an_event_loop_runs() -> None:
    client = TestClient(build_worker())
    assert await client.acall("echo", {"text": "async"}) == {"text": "async"}
    # call() too, as in a notebook, whose kernel runs a loop.
    assert client.call("echo", {"text": "sync"}) == {"text": "sync"}


def test_run_examples_compares_replies_with_the_examples_responses() -> None:
    exact = TestClient(build_worker()).run_examples()
    assert [str(result) for result in exact] == [
        "PASS echo/v1 'hello'",
        "PASS echo/v1 'number kept exact'",
    ]
    # Without exact numbers the echoed n is a float: 12345678901234567890.125 loses digits.
    floats = Worker(name="floats", contracts_dir=TEST_CONTRACTS)
    floats.handler("echo", version=1)(lambda request: request)
    [hello, number] = TestClient(floats).run_examples()
    assert hello.passed
    assert not number.passed
    assert number.problem == (
        "the reply differs from the example's response\n"
        '  expected {"text":"n","n":12345678901234567890.125}\n'
        '       got {"text":"n","n":1.2345678901234567e+19}'
    )


def run_cli(*args: str, cwd: Path = PYTHON_WORKER) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notebridge_worker", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_the_test_command_reports_each_example_and_fails_on_a_broken_reply(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken_worker.py").write_text(BROKEN_WORKER)
    finished = run_cli("test", str(tmp_path / "broken_worker.py"))
    assert finished.returncode == 1, finished.stderr
    assert finished.stdout.splitlines() == [
        "PASS echo/v1 'hello'",
        "FAIL echo/v1 'number kept exact': the reply differs from the example's response",
        '  expected {"text":"n","n":12345678901234567890.125}',
        '       got {"text":"n"}',
        "FAIL echo/v2 'hello': invalid_reply: echo/v2 reply broke the contract: "
        'reply: unexpected property "txt"; reply: missing required property "text"',
        "examples: 1 passed, 2 failed",
    ]
    assert "echo/v2 reply broke the contract (request test-" in finished.stderr
    assert 'reply: unexpected property "txt"; reply: missing required property "text"' in (
        finished.stderr
    )
    only_v2 = run_cli("test", str(tmp_path / "broken_worker.py"), "--contract", "echo/v2")
    assert only_v2.stdout.splitlines()[-1] == "examples: 0 passed, 1 failed"


def test_the_test_command_passes_the_example_notebook() -> None:
    finished = run_cli("test", "examples/iris.ipynb")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stdout.splitlines()[-4:] == [
        "PASS iris/v1 'setosa'",
        "PASS iris/v1 'versicolor'",
        "PASS iris/v1 'virginica'",
        "examples: 3 passed, 0 failed",
    ]


def test_the_pytest_plugin_makes_one_test_per_example(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(broken_worker=BROKEN_WORKER)
    pytester.makepyfile(
        test_published_examples=textwrap.dedent(
            """
            import pytest

            @pytest.mark.notebridge("broken_worker:worker")
            def test_example(notebridge_example):
                notebridge_example.check()
            """
        )
    )
    result = pytester.runpytest("-v", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_example?echo/v1:hello? PASSED*",
            "*test_example?echo/v2:hello? FAILED*",
            "*FAIL echo/v2 'hello': invalid_reply: echo/v2 reply broke the contract*",
        ]
    )


def test_the_pytest_plugin_finds_a_worker_file_beside_the_test(pytester: pytest.Pytester) -> None:
    # The worker names its contracts relative to its own file, the marker names the worker
    # relative to the test file; pytest runs from elsewhere and both still resolve.
    project = pytester.path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "workers").mkdir()
    (project / "workers" / "echo_here.py").write_text(
        BROKEN_WORKER.replace(
            repr(str(TEST_CONTRACTS)), repr(os.path.relpath(TEST_CONTRACTS, project / "workers"))
        )
    )
    (project / "tests" / "test_marked.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.notebridge("../workers/echo_here.py:worker", contracts=["echo/v1"])
            def test_example(notebridge_example):
                notebridge_example.check()
            """
        )
    )
    elsewhere = pytester.path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    result = pytester.runpytest(
        str(project / "tests"), "-p", "no:cacheprovider", "-p", "no:asyncio"
    )
    result.assert_outcomes(passed=1, failed=1)  # the broken worker drops "n"


def test_a_missing_contracts_folder_is_one_line_with_its_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "lost_worker.py").write_text(
        "from notebridge_worker import Worker\n"
        'worker = Worker("lost", contracts_dir="../contracts")\n'
    )
    finished = run_cli("test", "here/lost_worker.py", cwd=tmp_path)
    assert finished.returncode == 2
    # Relative to the worker's file, not to the working directory.
    assert finished.stderr == (
        f"notebridge-worker: here/lost_worker.py: no contracts folder at {tmp_path / 'contracts'}\n"
    )
    assert "Traceback" not in finished.stderr


def test_a_relative_contracts_dir_is_relative_to_the_workers_file(tmp_path: Path) -> None:
    (tmp_path / "project" / "workers").mkdir(parents=True)
    shutil.copytree(TEST_CONTRACTS.parent, tmp_path / "project" / "testdata")
    (tmp_path / "project" / "workers" / "echo_there.py").write_text(
        BROKEN_WORKER.replace(repr(str(TEST_CONTRACTS)), repr("../testdata/contracts"))
    )
    finished = run_cli(
        "test",
        str(tmp_path / "project" / "workers" / "echo_there.py"),
        "--contract",
        "echo/v1",
        cwd=tmp_path,
    )
    assert finished.stdout.splitlines()[0] == "PASS echo/v1 'hello'", finished.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["test"], ["models"]])
def test_help_speaks_to_users_not_of_the_sdks_files(command: list[str]) -> None:
    finished = run_cli(*command, "--help")
    assert finished.returncode == 0, finished.stderr
    package = Path(notebridge_worker.__file__).parent
    internal = {path.name for path in package.rglob("*.py")} - {"__init__.py", "__main__.py"}
    assert internal
    mentioned = sorted(name for name in internal if name in finished.stdout)
    assert mentioned == [], finished.stdout


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"max_inflight": 0}, "max_inflight must be at least 1, not 0"),
        ({"pool_size": -2}, "pool_size must be at least 1, not -2"),
        ({"pool": "fork"}, "pool must be one of thread, process, not 'fork'"),
        ({"name": ""}, "name must be a non-empty string"),
    ],
)
def test_a_worker_config_is_checked_when_made_and_when_changed(
    changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        WorkerConfig(**changes)  # type: ignore[arg-type]
    worker = Worker(name="configured", contracts_dir=TEST_CONTRACTS)
    with pytest.raises(ValueError, match=re.escape(problem)):
        worker.configure(**changes)
    assert worker.config == WorkerConfig(name="configured")


def test_configure_replaces_only_what_it_is_given() -> None:
    worker = Worker(name="configured", contracts_dir=TEST_CONTRACTS, pool_size=3)
    worker.configure(name="renamed", max_inflight=None, pool="process")
    assert worker.config == WorkerConfig(name="renamed", pool="process", pool_size=3)
    assert (worker.name, worker.pool, worker.pool_size, worker.max_inflight) == (
        "renamed",
        "process",
        3,
        64,
    )
