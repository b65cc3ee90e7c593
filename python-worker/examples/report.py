"""Example worker for the ``report`` v1 job contract: statistics over the bundled reviews.

A job runs durably on JetStream (docs/protocol.md, "Job mode"): the gateway answers 202 with
a job id at once, the worker pulls the job, and the client reads its progress and result
with ``GET /jobs/{id}``. This handler reads data/reviews.tsv in chunks, pausing
``delay_ms`` after each so that the job lasts a while, and reports its progress after every
chunk with ``await ctx.progress(...)``. From the repository root, with a gateway running:

    notebridge-worker run python-worker/examples/report.py:worker --contracts-dir contracts
"""

import asyncio
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from notebridge_worker import RequestContext, Worker

REVIEWS = Path(__file__).parent / "data" / "reviews.tsv"
WORD = re.compile(r"[a-z']+")

worker = Worker("report")


def read_reviews(label: str | None) -> list[tuple[str, str]]:
    """(label, text) of every review in the data file, of ``label`` if given."""
    rows = [line.split("\t", 1) for line in REVIEWS.read_text().splitlines() if line.strip()]
    return [(kind, text) for kind, text in rows if label is None or kind == label]


@worker.handler("report")
async def report(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    reviews = read_reviews(request.get("label"))
    size = request.get("chunk_size", 10)
    chunks = [reviews[start : start + size] for start in range(0, len(reviews), size)]
    labels: Counter[str] = Counter()
    words: dict[str, Counter[str]] = defaultdict(Counter)
    total_words = 0
    for number, chunk in enumerate(chunks, start=1):
        for label, text in chunk:
            tokens = WORD.findall(text.lower())
            labels[label] += 1
            total_words += len(tokens)
            words[label].update(token for token in tokens if len(token) >= 4)
        await asyncio.sleep(request.get("delay_ms", 300) / 1000)
        await ctx.progress(number / len(chunks), f"chunk {number} of {len(chunks)}")
    top = request.get("top", 5)
    return {
        "reviews": len(reviews),
        "labels": dict(sorted(labels.items())),
        "mean_words": round(total_words / len(reviews), 2) if reviews else 0,
        # Ties are broken alphabetically, so the report is the same on every run.
        "top_words": {
            label: [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
            for label, counts in sorted(words.items())
        },
    }
