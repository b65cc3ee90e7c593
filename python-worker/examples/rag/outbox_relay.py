"""The outbox relay of the RAG example: each product change becomes one ``embed`` job.

The products' triggers write a row to ``product_outbox`` in the transaction of each change
and NOTIFY ``product_outbox`` when it commits (schema.sql). This relay LISTENs (and polls, so
a wake-up lost while it was down only delays a row), takes the rows still undelivered, oldest
first, submits each as a job through the gateway's HTTP API, ``POST /api/embed/v1/jobs``, with
the row's ``delivery_key`` as the ``Idempotency-Key``, and marks the row delivered with the
job id once the gateway answered 202. A relay that dies after a submission and before the
mark submits the row again when it restarts, and the gateway answers with the job the first
submission made: no job twice, none lost. Several relays may run: a row is taken with
``FOR UPDATE SKIP LOCKED``.

A gateway that cannot take the job now (down, 5xx, 429, or a key that is refused) leaves the
row for the next round; a row the gateway refuses for good (a 4xx such as 422: its body breaks
the contract) is marked failed, with the answer in ``last_error``. Run it from the repository
root (``--help`` lists the options and their environment variables):

    python python-worker/examples/rag/outbox_relay.py --gateway http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

logger = logging.getLogger("rag.relay")

CHANNEL = "product_outbox"
BATCH = 50
PENDING = """
SELECT id, delivery_key, product_id, tenant, source_version FROM product_outbox
WHERE delivered_at IS NULL AND failed_at IS NULL
ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""


class Retry(Exception):
    """The gateway cannot take the job now: leave the row for the next round."""


@dataclass(frozen=True)
class Submitted:
    job_id: str | None  # None: refused for good
    detail: str


class Gateway:
    """Submits ``embed`` jobs through the gateway's HTTP API."""

    def __init__(self, url: str, api_key: str | None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/") + "/api/embed/v1/jobs"
        self.api_key = api_key
        self.timeout = timeout

    def submit(self, row: dict[str, Any]) -> Submitted:
        body = {k: row[k] for k in ("product_id", "tenant", "source_version")}
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"product-outbox-{row['delivery_key']}",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
                return Submitted(answer["id"], f"{response.status} {answer['status']}")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")[:500]
            if error.code in (401, 403, 404, 408, 409, 425, 429) or error.code >= 500:
                raise Retry(f"{error.code}: {text}") from None
            return Submitted(None, f"{error.code}: {text}")
        except (OSError, ValueError, KeyError) as error:  # refused, reset, timed out, not JSON
            raise Retry(str(error)) from None


def deliver_pending(
    conn: psycopg.Connection[Any], submit: Callable[[dict[str, Any]], Submitted]
) -> int:
    """Submit every undelivered row, oldest first; return how many were delivered. Raises
    Retry when the gateway cannot take one; the rows marked before it stay marked."""
    delivered = 0
    while True:
        retry: Retry | None = None
        with conn.transaction():
            rows = conn.execute(PENDING, (BATCH,)).fetchall()
            for row in rows:
                try:
                    done = submit(row)
                except Retry as error:
                    retry = error
                    break
                if done.job_id is None:
                    logger.error("outbox %s refused for good: %s", row["id"], done.detail)
                    conn.execute(
                        "UPDATE product_outbox SET failed_at = now(), last_error = %s"
                        " WHERE id = %s",
                        (done.detail, row["id"]),
                    )
                    continue
                conn.execute(
                    "UPDATE product_outbox SET delivered_at = now(), job_id = %s WHERE id = %s",
                    (done.job_id, row["id"]),
                )
                delivered += 1
                logger.info(
                    "outbox %s: product %s version %s -> embed job %s (%s)",
                    row["id"],
                    row["product_id"],
                    row["source_version"],
                    done.job_id,
                    done.detail,
                )
        if retry is not None:
            raise retry
        if len(rows) < BATCH:
            return delivered


class Stop(Exception):
    """SIGTERM or SIGINT: leave the loop, wherever it waits."""


def stop(signum: int, frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def run(database_url: str, gateway: Gateway, poll: float, ready_file: Path | None) -> None:
    """Deliver rows until stopped: at start, on every NOTIFY, and every ``poll`` seconds; after
    a failure, again after a pause that doubles up to a minute."""
    backoff = poll
    while True:
        try:
            with psycopg.connect(
                database_url, autocommit=True, connect_timeout=5, row_factory=dict_row
            ) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                logger.info("relay: listening on %s, submitting to %s", CHANNEL, gateway.url)
                if ready_file is not None:
                    ready_file.touch()
                while True:
                    try:
                        deliver_pending(conn, gateway.submit)
                        backoff = poll
                    except Retry as error:
                        logger.warning(
                            "the gateway cannot take jobs now (%s); again in %.0f s", error, backoff
                        )
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 60.0)
                        continue
                    # Wake on the first NOTIFY, or after poll seconds.
                    for _ in conn.notifies(timeout=poll, stop_after=1):
                        pass
        except psycopg.OperationalError as error:
            if ready_file is not None:
                ready_file.unlink(missing_ok=True)
            logger.warning("database unavailable (%s); again in %.0f s", error, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 60.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Submit each row of product_outbox as an embed job through the gateway.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("NOTEBRIDGE_RAG_DATABASE_URL"),
        help="libpq URL of the product database ($NOTEBRIDGE_RAG_DATABASE_URL)",
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("NOTEBRIDGE_GATEWAY_URL", "http://127.0.0.1:8080"),
        help="the gateway's base URL ($NOTEBRIDGE_GATEWAY_URL, default http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("NOTEBRIDGE_API_KEY"),
        help="an API key allowed to submit embed jobs ($NOTEBRIDGE_API_KEY); none without auth",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=float(os.environ.get("NOTEBRIDGE_RELAY_POLL_SECONDS", "2")),
        help="seconds between polls when no NOTIFY comes ($NOTEBRIDGE_RELAY_POLL_SECONDS, "
        "default 2)",
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        default=os.environ.get("NOTEBRIDGE_READY_FILE") or None,
        help="a file written once the relay listens, removed when it stops "
        "($NOTEBRIDGE_READY_FILE; the container image's healthcheck looks for it)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("no database: set --database-url or NOTEBRIDGE_RAG_DATABASE_URL")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        run(args.database_url, Gateway(args.gateway, args.api_key), args.poll, args.ready_file)
    except Stop as why:
        logger.info("relay: stopped (%s)", why)
    finally:
        if args.ready_file is not None:
            args.ready_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
