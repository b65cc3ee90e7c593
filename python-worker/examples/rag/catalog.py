"""The product database of the RAG example: connections, chunking, the chunk index's writes
(only at the product's current version) and its reads (by tenant, through the HNSW index).

The schema is schema.sql beside this file. ``NOTEBRIDGE_RAG_DATABASE_URL`` is the libpq URL
of the database (``postgresql://user:password@127.0.0.1:5432/notebridge``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row

from notebridge_worker import ServiceError

logger = logging.getLogger("rag.catalog")

DATABASE_URL_VARIABLE = "NOTEBRIDGE_RAG_DATABASE_URL"
CHUNK_CHARACTERS = 120
"""Sentences are packed into chunks of at most this many characters (a longer sentence is a
chunk of its own)."""
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

_local = threading.local()


def database_url() -> str:
    url = os.environ.get(DATABASE_URL_VARIABLE)
    if not url:
        raise ServiceError(
            "database_unavailable",
            f"{DATABASE_URL_VARIABLE} is not set: the worker has no database",
        )
    return url


def connect(url: str | None = None) -> psycopg.Connection[dict[str, Any]]:
    """A new autocommit connection with pgvector's types, failing fast: 5 s to connect, 5 s a
    statement."""
    conn = psycopg.connect(
        url or database_url(),
        autocommit=True,
        connect_timeout=5,
        options="-c statement_timeout=5000",
        row_factory=dict_row,
    )
    register_vector(conn)
    return conn


def connection() -> psycopg.Connection[dict[str, Any]]:
    """This thread's connection, opened on first use and again after it broke. Handlers run in
    the worker's thread pool and checks on its event loop: one connection each, never shared."""
    conn: psycopg.Connection[dict[str, Any]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed or conn.broken:
        try:
            conn = connect()
        except psycopg.OperationalError as error:
            raise ServiceError(
                "database_unavailable", f"cannot reach the database: {error}"
            ) from None
        _local.conn = conn
    return conn


@contextmanager
def database_errors() -> Iterator[None]:
    """A connection lost or refused mid-call is ``database_unavailable`` for the caller (a job
    is tried again), not an internal error; the thread reconnects on its next call."""
    try:
        yield
    except psycopg.OperationalError as error:
        raise ServiceError("database_unavailable", f"the database failed: {error}") from None


def chunk_text(text: str, limit: int = CHUNK_CHARACTERS) -> list[str]:
    """``text`` in chunks of whole sentences, each at most ``limit`` characters when its
    sentences allow."""
    chunks: list[str] = []
    for sentence in SENTENCE_END.split(text.strip()):
        if chunks and len(chunks[-1]) + 1 + len(sentence) <= limit:
            chunks[-1] += " " + sentence
        elif sentence:
            chunks.append(sentence)
    return chunks


@dataclass(frozen=True)
class Indexed:
    """What one ``embed`` job did to the index."""

    outcome: str  # "embedded", "stale" (the product is at another version) or "gone"
    chunks: int
    current_version: int | None


def index_product(
    conn: psycopg.Connection[dict[str, Any]],
    embedder: Any,
    product_id: int,
    tenant: str,
    source_version: int,
) -> Indexed:
    """Chunk and embed version ``source_version`` of a product, and replace its chunks, unless
    the product has moved on (or is gone): then nothing is written.

    The embedding runs outside any transaction. The write locks the product's row, checks the
    version again, and replaces the chunks in one transaction: an update of the product waits
    for it, and its own job, queued by the update, runs afterwards; a late job for an older
    version finds a newer one and writes nothing. So the index never goes back in time.
    """
    product = conn.execute(
        "SELECT tenant, name, description, version FROM products WHERE id = %s", (product_id,)
    ).fetchone()
    if product is None:
        return Indexed("gone", 0, None)
    if product["tenant"] != tenant:
        raise ServiceError("wrong_tenant", f"product {product_id} is not a product of {tenant}")
    if product["version"] != source_version:
        return Indexed("stale", 0, product["version"])
    chunks = chunk_text(product["description"])
    vectors = embedder.embed([f"{product['name']}. {chunk}" for chunk in chunks])
    with conn.transaction():
        locked = conn.execute(
            "SELECT version FROM products WHERE id = %s FOR UPDATE", (product_id,)
        ).fetchone()
        if locked is None:
            return Indexed("gone", 0, None)
        if locked["version"] != source_version:
            return Indexed("stale", 0, locked["version"])
        conn.execute("DELETE FROM product_chunks WHERE product_id = %s", (product_id,))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO product_chunks (product_id, tenant, source_version, ordinal,"
                " content, embedder, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (product_id, tenant, source_version, ordinal, chunk, embedder.name, vector)
                    for ordinal, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
                ],
            )
    return Indexed("embedded", len(chunks), source_version)


# pgvector's HNSW scan returns the ef_search nearest rows of every tenant, then the WHERE
# clause keeps the caller's: for a tenant with few rows, often fewer than asked for, or none.
# An iterative scan goes on through the index until LIMIT rows pass the filter (or
# hnsw.max_scan_tuples were visited). relaxed_order may return them slightly out of order,
# so the outer query sorts the few it got. A chunk whose product has moved on since it was
# embedded (its job is on the way) is left out: an answer never quotes stale text.
RETRIEVE = """
WITH nearest AS MATERIALIZED (
    SELECT id, product_id, source_version, content, embedding <=> %(query)s AS distance
    FROM product_chunks
    WHERE tenant = %(tenant)s
    ORDER BY embedding <=> %(query)s
    LIMIT %(k)s
)
SELECT n.id, n.product_id, n.source_version, n.content, n.distance, p.name AS product
FROM nearest n JOIN products p ON p.id = n.product_id AND p.version = n.source_version
ORDER BY n.distance, n.id
"""


def retrieve(
    conn: psycopg.Connection[dict[str, Any]],
    tenant: str,
    query: np.ndarray,
    k: int,
    iterative_scan: str = "relaxed_order",
) -> list[dict[str, Any]]:
    """The ``k`` chunks of ``tenant`` nearest to ``query``, nearest first: each ``id``,
    ``product_id``, ``source_version``, ``content``, ``distance`` (cosine) and ``product``."""
    with conn.transaction():
        conn.execute("SELECT set_config('hnsw.iterative_scan', %s, true)", (iterative_scan,))
        return conn.execute(RETRIEVE, {"tenant": tenant, "query": query, "k": k}).fetchall()


def cited_chunks(
    conn: psycopg.Connection[dict[str, Any]], chunk_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """The chunks with these ids, each with its product's current version, by id."""
    rows = conn.execute(
        "SELECT c.id, c.tenant, c.product_id, c.source_version, c.content,"
        " p.version AS product_version"
        " FROM product_chunks c JOIN products p ON p.id = c.product_id WHERE c.id = ANY(%s)",
        (chunk_ids,),
    ).fetchall()
    return {row["id"]: row for row in rows}


def embedders_in_index(conn: psycopg.Connection[dict[str, Any]]) -> list[str]:
    """The embedders that made the chunks of the index."""
    rows = conn.execute("SELECT DISTINCT embedder FROM product_chunks ORDER BY 1").fetchall()
    return [row["embedder"] for row in rows]
