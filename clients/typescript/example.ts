// A product app calling the notebridge gateway through the client generated
// from its /openapi.json: every call below is type-checked by tsc --strict
// against the contracts' schemas, errors included. `make clients` builds it;
// `NOTEBRIDGE_API_KEY=nb_... node dist/example.js http://127.0.0.1:8080`
// runs it, printing one JSON line per call (the end-to-end tests read them).
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/notebridge.js";

type Problem = components["schemas"]["Problem"];
type Job = components["schemas"]["Job"];
type GenerateEvent = components["schemas"]["generate.v1.event"];

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8080";
// Bodies are read as JSON (application/json, application/problem+json): a
// stream contract answers a merged reply for
// Accept: application/json, and its events through parseAs: "stream".
const apiKey = process.env.NOTEBRIDGE_API_KEY;
const gateway = createClient<paths, `application/${string}json`>({
  baseUrl,
  headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
});

function report(call: string, status: number, body: unknown): void {
  console.log(JSON.stringify({ call, status, body }));
}

// The job's record once it is final (or after ten seconds).
async function finished(id: string): Promise<Job | undefined> {
  let job: Job | undefined;
  for (let i = 0; i < 200; i++) {
    const got = await gateway.GET("/jobs/{id}", { params: { path: { id } } });
    job = got.data;
    if (job && ["succeeded", "failed", "cancelled"].includes(job.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return job;
}

// The events of a text/event-stream body, as the document types them.
async function* events(body: ReadableStream<Uint8Array>): AsyncGenerator<GenerateEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split("\n")) {
        const colon = line.indexOf(": ");
        if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
      }
      if (fields.event === undefined || fields.data === undefined) continue; // a heartbeat comment
      yield { event: fields.event, id: fields.id, data: JSON.parse(fields.data) } as GenerateEvent;
    }
  }
}

async function main(): Promise<void> {
  const summary = await gateway.POST("/api/summarize/v1", {
    body: { text: "NATS moves messages. Workers join queue groups. The gateway checks every request.", max_sentences: 1 },
  });
  report("summarize", summary.response.status, summary.data?.summary);

  const sentiment = await gateway.POST("/api/sentiment", { body: { text: "I love it, works great" } });
  report("sentiment", sentiment.response.status, sentiment.data?.label);

  const iris = await gateway.POST("/api/iris/v1", {
    body: { sepal_length: 6.3, sepal_width: 3.3, petal_length: 6.0, petal_width: 2.5 },
  });
  report("iris", iris.response.status, iris.data?.species);

  // A stream contract merged into one reply.
  const merged = await gateway.POST("/api/generate/v1", {
    body: { prompt: "Once", max_tokens: 12 },
    headers: { Accept: "application/json" },
  });
  report("generate merged", merged.response.status, merged.data?.text);

  // The same stream, chunk by chunk.
  const stream = await gateway.POST("/api/generate/v1", {
    body: { prompt: "Once", max_tokens: 12 },
    parseAs: "stream",
  });
  const seen: string[] = [];
  let text = "";
  if (stream.data) {
    for await (const event of events(stream.data)) {
      seen.push(event.event);
      switch (event.event) {
        case "chunk":
          text += event.data.text;
          break;
        case "error":
          throw new Error(`the stream failed: ${event.data.type}`);
      }
    }
  }
  report("generate stream", stream.response.status, { events: seen.length, last: seen.at(-1), text });

  // A job: 202 at once, then its record until it ends.
  const accepted = await gateway.POST("/api/report/v1/jobs", { body: { label: "negative", top: 3, delay_ms: 0 } });
  if (!accepted.data) throw new Error(`submitting the job: ${accepted.error?.type}`);
  const job = await finished(accepted.data.id);
  const reviews = job?.result && "reviews" in job.result ? job.result.reviews : undefined;
  report("report job", accepted.response.status, { status: job?.status, reviews });

  // RAG beside the product database: an answer with its citations, then a job that
  // re-embeds a product at its current version.
  const answer = await gateway.POST("/api/answer/v1", {
    body: { tenant: "acme", question: "Will the tent keep me dry in heavy rain?", top_k: 4 },
  });
  report("answer", answer.response.status, {
    attempts: answer.response.headers.get("Notebridge-Attempts"),
    quotes: answer.data?.citations.map((c) => c.quote),
  });
  const embedding = await gateway.POST("/api/embed/v1/jobs", {
    body: { product_id: 2, tenant: "acme", source_version: 1 },
  });
  if (!embedding.data) throw new Error(`submitting the embed job: ${embedding.error?.type}`);
  const embedded = await finished(embedding.data.id);
  const outcome = embedded?.result && "outcome" in embedded.result ? embedded.result : undefined;
  report("embed job", embedding.response.status, {
    status: embedded?.status,
    outcome: outcome?.outcome,
    chunks: outcome?.chunks,
  });

  // A contract composed at the gateway: summarize and sentiment in parallel, then sentiment
  // once per sentence of the summary, merged, with how each branch ended.
  const composed = await gateway.POST("/api/review_analysis/v1", {
    body: {
      text: "The battery is great and lasts all week. The strap broke after one day.",
      max_sentences: 2,
    },
  });
  if (!composed.data) throw new Error(`review_analysis: ${composed.error?.type}`);
  report("review_analysis", composed.response.status, {
    completed: composed.data.completed,
    sentences: composed.data.result.sentence_sentiments.map((s) => s.label),
    branches: composed.data.branches.map((b) => b.outcome),
  });

  // A request that breaks its contract: a typed problem+json.
  const invalid = await gateway.POST("/api/sentiment/v1", { body: { text: "" } });
  const problem: Problem | undefined = invalid.error;
  report("sentiment invalid", invalid.response.status, {
    type: problem?.type,
    where: problem?.errors?.map((v) => v.instancePath),
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
