"""Example worker for the ``embed`` v1 job contract: keep the chunk index of the RAG example
consistent with the products it describes.

A change to a product writes an outbox row in the same transaction (schema.sql); the relay
(outbox_relay.py) submits it as an ``embed`` job; this worker chunks and embeds the product's
text and replaces its chunks, in one transaction, only if the product is still at the job's
``source_version``. A job that comes late (the product changed again, so a newer job is
queued) writes nothing and says ``stale``; one for a deleted product says ``gone``. Jobs are
durable (JetStream): a worker that dies mid-job is replaced and the job runs again, which is
harmless, as the write is the same. From the repository root, with a gateway running and the
database of schema.sql at ``$NOTEBRIDGE_RAG_DATABASE_URL``:

    notebridge-worker run python-worker/examples/rag/embed.py:worker --contracts-dir contracts
"""

from __future__ import annotations

from typing import Any

import catalog
from embedder import load_embedder

from notebridge_worker import RequestContext, Worker

# The repository's contracts, wherever it is imported from; $NOTEBRIDGE_CONTRACTS_DIR wins.
worker = Worker(name="rag-embed", contracts_dir="../../../contracts")
embedder = load_embedder()


@worker.handler("embed", version=1)
def embed(request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
    with catalog.database_errors():
        done = catalog.index_product(
            catalog.connection(),
            embedder,
            request["product_id"],
            request["tenant"],
            request["source_version"],
        )
    result: dict[str, Any] = {
        "product_id": request["product_id"],
        "source_version": request["source_version"],
        "outcome": done.outcome,
        "chunks": done.chunks,
        "embedder": embedder.name,
    }
    if done.current_version is not None:
        result["current_version"] = done.current_version
    return result
