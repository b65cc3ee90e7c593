"""The RAG example (python-worker/examples/rag) as real processes, for end-to-end tests: a
database of its schema and seed in the session's PostgreSQL, its two workers, and its outbox
relay submitting jobs through a real gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from notebridge_worker.testing import run_worker_process

from .conftest import REPO, Gateway, Postgres, stop, wait_until

RAG = REPO / "python-worker" / "examples" / "rag"
CONTRACTS = REPO / "contracts"
WORKERS = ["answer.py:worker", "embed.py:worker"]

NOT_INDEXED = """
SELECT count(*) FROM products p WHERE NOT EXISTS (
    SELECT 1 FROM product_chunks c WHERE c.product_id = p.id AND c.source_version = p.version)
"""


def create_database(server: Postgres, name: str, *, seed: bool = True) -> str:
    """A new database ``name`` (dropped first if it exists) with the example's schema, and its
    seed unless told otherwise; its URL."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute((RAG / "schema.sql").read_text())
        if seed:
            conn.execute((RAG / "seed.sql").read_text())
    return url


def drop_database(server: Postgres, name: str) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def not_indexed(database_url: str) -> int:
    """How many products have no chunks of their current version yet."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(NOT_INDEXED).fetchone()
    assert row is not None
    return int(row[0])


def start_relay(
    gateway_url: str,
    database_url: str,
    log: Path,
    api_key: str | None = None,
    *,
    poll: float = 0.5,
    ready_file: Path | None = None,
) -> subprocess.Popen:
    """The outbox relay, once it listens; its log goes to ``log``."""
    env = {**os.environ, "NOTEBRIDGE_RAG_DATABASE_URL": database_url}
    if api_key:
        env["NOTEBRIDGE_API_KEY"] = api_key
    if ready_file is not None:
        env["NOTEBRIDGE_READY_FILE"] = str(ready_file)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RAG / "outbox_relay.py"),
            "--gateway",
            gateway_url,
            "--poll",
            str(poll),
        ],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: "relay: listening" in log.read_text(), "the relay listening")
    except BaseException:
        stop(proc)
        raise
    return proc


@dataclass
class RagStack:
    database_url: str
    relay: subprocess.Popen
    relay_log: Path


@contextmanager
def rag_stack(
    gateway: Gateway, database_url: str, tmp: Path, api_key: str | None = None
) -> Iterator[RagStack]:
    """The example's workers and relay against ``database_url``, once the seed is indexed."""
    env = {"NOTEBRIDGE_RAG_DATABASE_URL": database_url}
    with ExitStack() as stack:
        for target in WORKERS:
            stack.enter_context(
                run_worker_process(
                    target, gateway.nats_url, CONTRACTS, env=env, cwd=RAG, timeout=60
                )
            )
        relay_log = tmp / "relay.log"
        relay = start_relay(gateway.url, database_url, relay_log, api_key)
        stack.callback(stop, relay)
        wait_until(lambda: not_indexed(database_url) == 0, "the seed indexed", timeout=60)
        yield RagStack(database_url, relay, relay_log)
