"""`notebridge contracts test|lint` against the real Python worker, as a CI job runs them."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from .conftest import GATEWAY_BIN, REPO, TEST_CONTRACTS, Gateway


def contracts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GATEWAY_BIN), "contracts", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


def test_examples_pass_through_the_python_worker(
    gateway: Gateway, echo_worker: subprocess.Popen, tmp_path: Path
) -> None:
    junit = tmp_path / "contracts.xml"
    run = contracts(
        "test",
        "--nats",
        gateway.operator_url,
        "--contracts-dir",
        str(TEST_CONTRACTS),
        "--contract",
        "echo/v1",
        "--junit",
        str(junit),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'PASS      echo/v1 "number kept exact"' in run.stdout
    assert "contracts test: 2 example(s): 2 pass, 0 fail, 0 without a worker" in run.stdout
    suites = ET.parse(junit).getroot()
    assert suites.get("tests") == "2"
    assert suites.get("failures") == "0"


def test_a_version_without_worker_fails_the_run(
    gateway: Gateway, echo_worker: subprocess.Popen
) -> None:
    run = contracts(
        "test",
        "--nats",
        gateway.operator_url,
        "--contracts-dir",
        str(TEST_CONTRACTS),
        "--contract",
        "echo",
    )
    assert run.returncode == 1
    assert 'NO WORKER echo/v2 "hello"' in run.stdout


def test_lint_of_the_shipped_contracts() -> None:
    run = contracts("lint", "--contracts-dir", f"contracts,{TEST_CONTRACTS}")
    assert run.returncode == 0, run.stdout
    assert "no problems" in run.stdout
