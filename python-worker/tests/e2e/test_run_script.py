"""`make run` (scripts/run.sh) as a user runs it, on free ports: the whole stack, real
processes, real HTTP. A worker that dies is replaced; the gateway and the others go on."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from .conftest import REPO, free_port, wait_until

STARTED = re.compile(r"worker (\S+) started \(pid (\d+)\)")


def started_workers(log: str) -> list[tuple[str, int]]:
    """(target, pid) of every worker the supervisors started, in order."""
    return [(m.group(1), int(m.group(2))) for m in STARTED.finditer(log)]


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_make_run_replaces_a_worker_that_dies_and_keeps_serving(tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    base = f"http://{listen}"
    # As root, PostgreSQL runs as the postgres OS user, which must reach its folder.
    pg_dir = Path(tempfile.mkdtemp(prefix="notebridge-run-pg-")) / "postgres"
    pg_dir.parent.chmod(0o755)
    env = {
        **os.environ,
        "NOTEBRIDGE_LISTEN": listen,
        "NOTEBRIDGE_NATS_PORT": str(free_port()),
        "NOTEBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "NOTEBRIDGE_PG_DIR": str(pg_dir),
        "NOTEBRIDGE_PG_PORT": str(free_port()),
    }
    log_path = tmp_path / "run.log"
    # A session of its own: whatever happens, the test can end the script and its processes.
    script = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "run.sh")],
        cwd=REPO,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: "notebridge is up" in log_path.read_text() or script.poll() is not None,
            "make run",
            timeout=120,
        )
        assert script.poll() is None, log_path.read_text()

        # The tokens worker kills itself (SIGKILL) after its first chunk, as asked.
        with httpx.stream(
            "POST", f"{base}/api/tokens", json={"text": "a b c", "behavior": "die"}, timeout=30
        ) as resp:
            stream = resp.read().decode()
        assert resp.status_code == 200, stream
        assert "event: error" in stream
        assert "urn:notebridge:problem:worker-lost" in stream

        # A new one answers within a bounded time; the other contracts never stopped.
        tokens: list[int] = []
        deadline = time.monotonic() + 30
        while True:
            reply = httpx.post(
                f"{base}/api/tokens",
                json={"text": "a b c"},
                headers={"Accept": "application/json"},
                timeout=10,
            )
            tokens.append(reply.status_code)
            echo = httpx.post(f"{base}/api/echo", json={"text": "still here"}, timeout=10)
            assert (echo.status_code, echo.json()) == (200, {"text": "still here"}), echo.text
            sentiment = httpx.post(f"{base}/api/sentiment", json={"text": "great"}, timeout=10)
            assert sentiment.status_code == 200, sentiment.text
            if reply.status_code == 200:
                break
            assert time.monotonic() < deadline, f"tokens/v1 answered {tokens} for 30 s"
            time.sleep(0.1)
        assert reply.json() == {"text": "a b c "}
        assert script.poll() is None, log_path.read_text()

        # The RAG example's line: an answer from its database, which was indexed before "up".
        question = {"tenant": "acme", "question": "Will the tent keep me dry in heavy rain?"}
        answer = httpx.post(f"{base}/api/answer", json=question, timeout=10)
        assert answer.status_code == 200, answer.text
        assert "3000 mm" in answer.json()["answer"]

        # Its supervisor said which worker died, how, and started another.
        log = log_path.read_text()
        tokens_pids = [pid for target, pid in started_workers(log) if "tokens" in target]
        assert len(tokens_pids) == 2, log
        assert f"(pid {tokens_pids[0]}) died: killed by SIGKILL after" in log, log
        assert running(tokens_pids[1])
    finally:
        if script.poll() is None:
            script.send_signal(signal.SIGTERM)
        try:
            status = script.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(script.pid, signal.SIGKILL)
            status = script.wait()
        postgres_left = (pg_dir / "data" / "postmaster.pid").exists()
        if postgres_left:  # stop it before failing: it is not the test's to leave behind
            subprocess.run(["bash", str(REPO / "scripts" / "postgres.sh"), "stop", str(pg_dir)])
        shutil.rmtree(pg_dir.parent, ignore_errors=True)
    # Ctrl-C (or a TERM) stops everything it started, PostgreSQL included.
    assert status == 143, log_path.read_text()
    assert not postgres_left, "PostgreSQL outlived make run"
    workers = started_workers(log_path.read_text())
    assert len(workers) == 11, workers  # ten, and the tokens worker's successor
    for _, pid in workers:
        assert not running(pid), f"worker {pid} outlived make run"
