"""Job contracts in the SDK, without NATS: manifests, handlers, the offline TestClient.

The job protocol itself (pulling, records, retries, cancellation, redelivery) is tested end to
end in tests/e2e/test_jobs_e2e.py.
"""

import json
import pickle
from pathlib import Path

import pytest

from notebridge_worker import ContractError, RequestContext, Worker
from notebridge_worker.contracts import load_contract
from notebridge_worker.testing import TestClient

JOB_CONTRACTS = Path(__file__).parent / "job_contracts"


def test_a_job_contract_loads_with_its_job_fields() -> None:
    contract = load_contract(JOB_CONTRACTS / "steps.v1.json")
    assert (contract.mode, contract.max_attempts, contract.ack_wait_seconds) == ("job", 3, 1.0)


def test_job_fields_default_as_in_docs_contracts_md(tmp_path: Path) -> None:
    manifest = json.loads((JOB_CONTRACTS / "steps.v1.json").read_text())
    del manifest["max_attempts"], manifest["ack_wait_seconds"]
    manifest["request_schema"] = str(JOB_CONTRACTS / manifest["request_schema"])
    manifest["response_schema"] = str(JOB_CONTRACTS / manifest["response_schema"])
    manifest["timeout_seconds"] = 86400  # a job's attempt may take a day
    path = tmp_path / "steps.v1.json"
    path.write_text(json.dumps(manifest))
    contract = load_contract(path)
    assert (contract.max_attempts, contract.ack_wait_seconds) == (3, 30.0)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"max_attempts": 0}, "/max_attempts: 0 must be >= 1 and <= 100"),
        ({"max_attempts": 101}, "/max_attempts: 101 must be >= 1 and <= 100"),
        ({"ack_wait_seconds": 0}, "/ack_wait_seconds: 0 must be > 0 and <= 3600"),
        ({"ack_wait_seconds": 3601}, "/ack_wait_seconds: 3601 must be > 0 and <= 3600"),
        ({"timeout_seconds": 86401}, "/timeout_seconds: 86401 must be > 0 and <= 86400"),
        ({"mode": "sync"}, "/mode: max_attempts and ack_wait_seconds are for mode 'job' only"),
    ],
)
def test_job_fields_are_checked_as_the_gateway_checks_them(
    tmp_path: Path, changes: dict[str, object], problem: str
) -> None:
    manifest = json.loads((JOB_CONTRACTS / "steps.v1.json").read_text())
    manifest.update(changes)
    path = tmp_path / "steps.v1.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ContractError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_contract(path)


def test_a_job_handler_must_return_its_result_not_yield_it() -> None:
    worker = Worker("jobs", JOB_CONTRACTS)
    with pytest.raises(TypeError, match="steps/v1 is a job contract: return the reply"):

        @worker.handler("steps")
        def steps(request: dict[str, object]):  # type: ignore[no-untyped-def]
            yield request


def test_offline_a_job_handler_runs_and_its_progress_reports_do_nothing() -> None:
    worker = Worker("jobs", JOB_CONTRACTS)
    seen: list[tuple[str | None, int, bool]] = []

    @worker.handler("ticks")
    def ticks(request: dict[str, str], ctx: RequestContext) -> dict[str, object]:
        ctx.report_progress(0.5, "halfway")
        seen.append((ctx.job_id, ctx.attempt, ctx.cancelled))
        return {"text": request["text"], "attempt": 1}

    @worker.handler("steps")
    async def steps(request: dict[str, str], ctx: RequestContext) -> dict[str, object]:
        await ctx.progress(1.0)
        return {"text": request["text"], "attempt": 1}

    client = TestClient(worker)
    assert client.call("ticks", {"text": "a"}) == {"text": "a", "attempt": 1}
    assert client.call("steps", {"text": "b"}) == {"text": "b", "attempt": 1}
    assert seen == [(None, 0, False)]
    assert all(result.passed for result in client.run_examples())


def test_a_jobs_context_crosses_to_a_pool_process_without_its_progress_channel() -> None:
    class Control:
        job_id, attempt, cancelled = "job1", 2, False

        def report(self, fraction: float, message: str | None = None) -> None:
            raise AssertionError("reports stay in the worker's process")

    ctx = RequestContext("r", 0.0, "steps", 1, {}, job=Control())
    copy = pickle.loads(pickle.dumps(ctx))
    assert (copy.job_id, copy.attempt, copy.cancelled) == ("job1", 2, False)
    copy.report_progress(0.5)  # dropped


def test_progress_must_be_a_fraction() -> None:
    from notebridge_worker.jobs.control import progress_entry

    assert progress_entry(1, "done") == {"fraction": 1.0, "message": "done"}
    assert progress_entry(0.25, None) == {"fraction": 0.25}
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="from 0 to 1"):
            progress_entry(bad, None)
    with pytest.raises(TypeError):
        progress_entry("half", None)  # type: ignore[arg-type]
