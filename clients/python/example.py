"""A product app calling the notebridge gateway through the client generated from its
/openapi.json by openapi-python-client: every call is checked by mypy --strict against the
contracts' schemas, errors included. `make clients` generates and checks it;
`NOTEBRIDGE_API_KEY=nb_... python example.py http://127.0.0.1:8080` runs it (with generated/ on
the path), printing one JSON line per call (the end-to-end tests read them)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TypeVar

from notebridge_client import AuthenticatedClient
from notebridge_client.api.answer import call_answer_v1
from notebridge_client.api.embed import submit_embed_v1
from notebridge_client.api.generate import call_generate_v1
from notebridge_client.api.iris import call_iris_v1
from notebridge_client.api.jobs import get_job
from notebridge_client.api.report import submit_report_v1
from notebridge_client.api.review_analysis import call_review_analysis_v1
from notebridge_client.api.sentiment import call_sentiment_latest, call_sentiment_v1
from notebridge_client.api.summarize import call_summarize_v1
from notebridge_client.models import (
    AnswerV1Request,
    EmbedResult,
    EmbedV1Request,
    GenerateV1ChunkEvent,
    GenerateV1EndEvent,
    GenerateV1ErrorEvent,
    GenerateV1Request,
    IrisV1Request,
    Job,
    JobAccepted,
    JobStatus,
    Problem,
    ReviewAnalysisV1Request,
    ReviewReport,
    ReviewReportRequest,
    ReviewReportRequestLabel,
    SentimentV1Request,
    SummarizeV1Request,
)
from notebridge_client.types import Response

GenerateEvent = GenerateV1ChunkEvent | GenerateV1EndEvent | GenerateV1ErrorEvent
FINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
T = TypeVar("T")


def report(call: str, status: int, body: Any) -> None:
    print(json.dumps({"call": call, "status": status, "body": body}), flush=True)


def events(client: AuthenticatedClient, request: GenerateV1Request) -> Iterator[GenerateEvent]:
    """The Server-Sent Events of a generate stream, as the document types them."""
    accept = {"Accept": "text/event-stream"}
    http = client.get_httpx_client()
    with http.stream("POST", "/api/generate/v1", json=request.to_dict(), headers=accept) as resp:
        if resp.status_code != 200:
            raise SystemExit(f"generate stream: {resp.status_code} {resp.read()!r}")
        fields: dict[str, str] = {}
        for line in resp.iter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "event" in fields and "data" in fields:  # not a heartbeat comment
                event = {"event": fields["event"], "data": json.loads(fields["data"])}
                if "id" in fields:
                    event["id"] = fields["id"]
                if fields["event"] == "chunk":
                    yield GenerateV1ChunkEvent.from_dict(event)
                elif fields["event"] == "end":
                    yield GenerateV1EndEvent.from_dict(event)
                else:
                    yield GenerateV1ErrorEvent.from_dict(event)
            fields = {}


def parsed(call: str, response: Response[T | Problem]) -> T:
    """The typed reply of a call that succeeded; a problem ends the program."""
    if response.parsed is None or isinstance(response.parsed, Problem):
        raise SystemExit(f"{call}: {response.status_code} {response.content!r}")
    return response.parsed


def finished(client: AuthenticatedClient, job_id: str) -> Job:
    """The job's record once it is final (or after ten seconds)."""
    job = parsed("job", get_job.sync_detailed(client=client, id=job_id))
    for _ in range(200):
        if job.status in FINAL:
            break
        time.sleep(0.05)
        job = parsed("job", get_job.sync_detailed(client=client, id=job_id))
    return job


def main(base_url: str, api_key: str) -> None:
    with AuthenticatedClient(base_url=base_url, token=api_key) as client:
        text = "NATS moves messages. Workers join queue groups. The gateway checks every request."
        call = call_summarize_v1.sync_detailed(
            client=client, body=SummarizeV1Request(text=text, max_sentences=1)
        )
        report("summarize", call.status_code, parsed("summarize", call).summary)

        sentiment = call_sentiment_latest.sync_detailed(
            client=client, body=SentimentV1Request(text="I love it, works great")
        )
        report("sentiment", sentiment.status_code, parsed("sentiment", sentiment).label.value)

        flower = IrisV1Request(sepal_length=6.3, sepal_width=3.3, petal_length=6.0, petal_width=2.5)
        iris = call_iris_v1.sync_detailed(client=client, body=flower)
        report("iris", iris.status_code, parsed("iris", iris).species.value)

        # A stream contract merged into one reply: a client that asks for JSON.
        request = GenerateV1Request(prompt="Once", max_tokens=12)
        json_only = {"Accept": "application/json"}
        with AuthenticatedClient(
            base_url=base_url, token=api_key, headers=json_only
        ) as json_client:
            merged = call_generate_v1.sync_detailed(client=json_client, body=request)
        report("generate merged", merged.status_code, parsed("generate", merged).text)

        # The same stream, chunk by chunk.
        kinds: list[str] = []
        chunks = ""
        for event in events(client, request):
            kinds.append(event.event)
            if isinstance(event, GenerateV1ChunkEvent):
                chunks += event.data.text
            elif isinstance(event, GenerateV1ErrorEvent):
                raise SystemExit(f"the stream failed: {event.data.type_}")
        report("generate stream", 200, {"events": len(kinds), "last": kinds[-1], "text": chunks})

        # A job: 202 at once, then its record until it ends.
        submitted = submit_report_v1.sync_detailed(
            client=client,
            body=ReviewReportRequest(label=ReviewReportRequestLabel.NEGATIVE, top=3, delay_ms=0),
        )
        accepted: JobAccepted = parsed("report", submitted)
        job = finished(client, accepted.id)
        reviews = job.result.reviews if isinstance(job.result, ReviewReport) else None
        report(
            "report job", submitted.status_code, {"status": job.status.value, "reviews": reviews}
        )

        # RAG beside the product database: an answer with its citations, then a job that
        # re-embeds a product at its current version.
        question = AnswerV1Request(
            tenant="acme", question="Will the tent keep me dry in heavy rain?", top_k=4
        )
        answer = call_answer_v1.sync_detailed(client=client, body=question)
        quotes = [citation.quote for citation in parsed("answer", answer).citations]
        attempts = answer.headers.get("Notebridge-Attempts")
        report("answer", answer.status_code, {"attempts": attempts, "quotes": quotes})
        submitted = submit_embed_v1.sync_detailed(
            client=client, body=EmbedV1Request(product_id=2, tenant="acme", source_version=1)
        )
        accepted = parsed("embed", submitted)
        job = finished(client, accepted.id)
        embedded = job.result if isinstance(job.result, EmbedResult) else None
        report(
            "embed job",
            submitted.status_code,
            {
                "status": job.status.value,
                "outcome": embedded.outcome.value if embedded else None,
                "chunks": embedded.chunks if embedded else None,
            },
        )

        # A contract composed at the gateway: summarize and sentiment in parallel, then
        # sentiment once per sentence of the summary, merged, with how each branch ended.
        review = ReviewAnalysisV1Request(
            text="The battery is great and lasts all week. The strap broke after one day.",
            max_sentences=2,
        )
        composed = call_review_analysis_v1.sync_detailed(client=client, body=review)
        analysis = parsed("review_analysis", composed)
        report(
            "review_analysis",
            composed.status_code,
            {
                "completed": analysis.completed,
                "sentences": [s.label.value for s in analysis.result.sentence_sentiments],
                "branches": [b.outcome.value for b in analysis.branches],
            },
        )

        # A request that breaks its contract: a typed problem+json.
        invalid = call_sentiment_v1.sync_detailed(client=client, body=SentimentV1Request(text=""))
        problem = invalid.parsed
        if not isinstance(problem, Problem):
            raise SystemExit(f"an empty text was accepted: {invalid.content!r}")
        where = [v.instance_path for v in problem.errors] if problem.errors else []
        report("sentiment invalid", invalid.status_code, {"type": problem.type_, "where": where})


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080",
        os.environ["NOTEBRIDGE_API_KEY"],
    )
