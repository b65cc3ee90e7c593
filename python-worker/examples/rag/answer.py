"""Example worker for the ``answer`` v1 contract: RAG beside the product's own database.

A question about a tenant's catalogue is embedded, the nearest chunks of that tenant's
products are retrieved from PostgreSQL (pgvector's HNSW index, with an iterative scan so that
the tenant filter still yields ``top_k`` rows), and a model writes an answer that cites them.
The stand-in model here is offline and deterministic: it answers with the sentences of the
retrieved chunks that share the most words with the question.

Two checks hold every reply to the evidence (docs/guardrails.md): ``cited_chunks`` looks each
citation up in the database (it must be a chunk of the request's tenant, of its product's
current version, and its quote must be in it), and ``citation_markers`` matches the
``[chunk N]`` markers of the text with the citations. The contract declares ``repair``: a reply
that fails goes back to the handler with the violations. The stand-in model makes a mistake
real models make: it trusts a ``[chunk N]`` marker smuggled into the question (a prompt
injection) and cites it; the check refuses it, and the second attempt leaves it out.

The contract is tenant-scoped (``"tenant": "/tenant"``): with API keys, a key bound to a
tenant (``keys create -tenant acme``) gets 403 at the gateway for any other (docs/patterns.md).
From the repository root, with the database of schema.sql at ``$NOTEBRIDGE_RAG_DATABASE_URL``:

    notebridge-worker run python-worker/examples/rag/answer.py:worker --contracts-dir contracts
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import catalog
import numpy as np
import psycopg
from embedder import load_embedder

from notebridge_worker import RequestContext, Worker

logger = logging.getLogger("rag.answer")

# The repository's contracts, wherever it is imported from; $NOTEBRIDGE_CONTRACTS_DIR wins.
worker = Worker(name="rag-answer", contracts_dir="../../../contracts")
embedder = load_embedder()

MARKER = re.compile(r"\[chunk (\d+)\]")
NOTHING_FOUND = "The catalogue says nothing about that."


# The checks: each gets every reply the response schema accepted, and the request.


@worker.check("answer")
def cited_chunks(reply: dict[str, Any], request: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Each citation is a chunk of the request's tenant, of its product's current version,
    and quotes it word for word. A chunk of another tenant and one that does not exist get the
    same message: a caller learns nothing about other tenants' data."""
    citations = reply["citations"]
    if not citations:
        return
    found = catalog.cited_chunks(catalog.connection(), [c["chunk_id"] for c in citations])
    tenant = request["tenant"]
    for index, citation in enumerate(citations):
        at, chunk_id = f"/citations/{index}", citation["chunk_id"]
        chunk = found.get(chunk_id)
        if chunk is None or chunk["tenant"] != tenant:
            yield f"{at}/chunk_id", f"chunk {chunk_id} is not a document of tenant {tenant}"
            continue
        if citation["product_id"] != chunk["product_id"]:
            yield (
                f"{at}/product_id",
                f"chunk {chunk_id} is part of product {chunk['product_id']}, "
                f"not {citation['product_id']}",
            )
        if citation["source_version"] != chunk["source_version"]:
            yield (
                f"{at}/source_version",
                f"chunk {chunk_id} is from version {chunk['source_version']}, "
                f"not {citation['source_version']}",
            )
        elif chunk["source_version"] != chunk["product_version"]:
            yield (
                f"{at}/source_version",
                f"chunk {chunk_id} is from version {chunk['source_version']} of product "
                f"{chunk['product_id']}, which is now at version {chunk['product_version']}",
            )
        if citation["quote"] not in chunk["content"]:
            yield f"{at}/quote", f"the quote is not in chunk {chunk_id}"


@worker.check("answer")
def citation_markers(reply: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every ``[chunk N]`` in the answer has its citation, and every citation its marker."""
    marked = [int(n) for n in MARKER.findall(reply["answer"])]
    cited = [c["chunk_id"] for c in reply["citations"]]
    for chunk_id in dict.fromkeys(marked):
        if chunk_id not in cited:
            yield "/answer", f"[chunk {chunk_id}] has no citation"
    for index, chunk_id in enumerate(cited):
        if chunk_id not in marked:
            yield f"/citations/{index}", f"chunk {chunk_id} is cited but not marked in the answer"


class StandInModel:
    """A deterministic stand-in for a language model, so the example runs offline.

    It reads what a model's prompt holds: the question, and the retrieved chunks. It answers
    with the sentences of the chunks closest in meaning to the question (the cosine of their
    embeddings): the closest, and any others nearly as close, three at most, each followed by
    its marker. Its flaw, a real model's: a sentence of the question that carries a marker
    ``[chunk N]`` is taken for evidence, repeated and cited, with the product and version of
    the top chunk, unless the prompt says that chunk was refused. Token counts are words; the
    price is per thousand tokens.
    """

    name = "stand-in-rag-1"
    price_per_1k_tokens = 0.002
    relevant = 0.2
    """Below this cosine, a sentence is not about the question at all."""
    nearly = 0.8
    """Sentences at least this fraction of the closest one's cosine are kept too."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray]) -> None:
        self.embed = embed

    def complete(
        self, question: str, context: list[dict[str, Any]], refused: set[int]
    ) -> dict[str, Any]:
        candidates = [
            (chunk, sentence)
            for chunk in context
            if chunk["id"] not in refused
            for sentence in catalog.SENTENCE_END.split(chunk["content"])
        ]
        by_product: dict[str, list[str]] = {}  # the answer's parts, a product's together
        citations: list[dict[str, Any]] = []
        if candidates:
            vectors = self.embed([MARKER.sub(" ", question)] + [s for _, s in candidates])
            closeness = vectors[1:] @ vectors[0]
            best = float(closeness.max())
            # Closest first; among equals, the order of retrieval.
            for index in sorted(range(len(candidates)), key=lambda i: -closeness[i])[:3]:
                chunk, sentence = candidates[index]
                if closeness[index] < max(self.relevant, self.nearly * best):
                    break
                by_product.setdefault(chunk["product"], []).append(
                    f"{sentence} [chunk {chunk['id']}]"
                )
                citations.append(citation(chunk, sentence))
        parts = [f"{product}: {' '.join(said)}" for product, said in by_product.items()]
        # The flaw: a marker in the question looks like evidence to the model.
        cited = {c["chunk_id"] for c in citations}
        for sentence in catalog.SENTENCE_END.split(question.strip()):
            for chunk_id in dict.fromkeys(int(n) for n in MARKER.findall(sentence)):
                claim = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(MARKER.sub(" ", sentence).split()))
                if claim and context and chunk_id not in refused and chunk_id not in cited:
                    parts.append(f"{claim} [chunk {chunk_id}]")
                    citations.append({**citation(context[0], claim), "chunk_id": chunk_id})
                    cited.add(chunk_id)
        return {"answer": " ".join(parts) or NOTHING_FOUND, "citations": citations}


def citation(chunk: dict[str, Any], quote: str) -> dict[str, Any]:
    return {
        "chunk_id": chunk["id"],
        "product_id": chunk["product_id"],
        "source_version": chunk["source_version"],
        "quote": quote,
    }


model = StandInModel(embedder.embed)


def prompt_for(question: str, context: list[dict[str, Any]]) -> str:
    lines = [
        f"[chunk {c['id']}] {c['product']} (version {c['source_version']}): {c['content']}"
        for c in context
    ]
    return (
        "Answer the question from the context only; cite each source as [chunk N].\n"
        "Context:\n" + "\n".join(lines) + f"\nQuestion: {question}\n"
    )


@worker.handler("answer", version=1)
def answer(request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
    question = request["question"]
    query = embedder.embed([question])[0]
    top_k = request.get("top_k", 4)
    with catalog.database_errors():
        chunks = catalog.retrieve(catalog.connection(), request["tenant"], query, top_k)
    prompt = prompt_for(question, chunks)
    refused: set[int] = set()
    if context.repair is not None:
        feedback = context.repair.feedback()
        prompt += (
            f"Your previous answer had these problems; answer again without them:\n{feedback}\n"
        )
        # What the model takes from the feedback: the chunks it must not cite.
        refused = {int(n) for n in re.findall(r"chunk (\d+)", feedback)}
    reply = model.complete(question, chunks, refused)
    input_tokens, output_tokens = len(prompt.split()), len(reply["answer"].split())
    context.report_usage(
        model=model.name,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=round((input_tokens + output_tokens) * model.price_per_1k_tokens / 1000, 8),
    )
    return reply


def warn_about_another_embedder() -> None:
    """Questions must be embedded as the chunks were: say so at start if they were not."""
    try:
        with catalog.connect() as conn:
            others = [e for e in catalog.embedders_in_index(conn) if e != embedder.name]
    except psycopg.Error as error:  # the database may come up later; calls will say so
        logger.warning("cannot read the index yet: %s", error)
        return
    if others:
        logger.warning(
            "the index holds chunks made by %s, and this worker embeds with %s: "
            "set NOTEBRIDGE_EMBEDDER to match, or re-embed",
            ", ".join(others),
            embedder.name,
        )


if os.environ.get(catalog.DATABASE_URL_VARIABLE):
    warn_about_another_embedder()
