"""Job mode: a worker pulls jobs from JetStream, runs them and keeps their records.

docs/protocol.md, "Job mode", is the contract; gateway/internal/refworker/jobs.go is a Go
worker that follows it to the letter (but for suspects), and this package mirrors it. For each
job
contract it has a handler for, a serving worker pulls one message at a time from the
contract's durable consumer ``nb-jobs-<name>-vN`` on the stream ``NB_JOBS``, while it has a
free in-flight slot (jobs and requests share ``max_inflight``), and pulls the next only once
the last one has started. Each delivery runs in its own task (``puller._JobRun``):

1. read the record ``job.<id>`` of the bucket ``nb_jobs``; skip (ack) a missing or final one
   and a delivery that is not further than the record's ``attempts``; a record still
   ``running`` makes the job a suspect (its last attempt ended without an outcome): it runs
   apart from other suspects, and the worker pulls nothing until it ends
   (``JobPuller.suspect``);
2. subscribe to ``nb.cancel.job.<id>`` (before the record says running: a DELETE that finds
   the job running must find the worker listening);
3. compare-and-set ``running`` with ``attempts`` := the delivery count, then send ``+WPI``
   every third of the ack wait;
4. run the attempt through the request pipeline (_pipeline.py: drift, request schema, the
   handler with the contract's timeout, the response schema), the handler reporting
   progress through its RequestContext;
5. store the outcome by compare-and-set, then settle: ``succeeded`` and ack; ``queued`` with
   the error and nak while attempts are left; ``failed`` and ack after the last one. Nothing
   is written over a final record (cancelled): the message is only acked.

A record that cannot be stored leaves the message unsettled, for JetStream to deliver again
after the ack wait; so does a worker that dies, or stops before its job ends.
"""

from notebridge_worker.jobs.control import JobControl
from notebridge_worker.jobs.puller import JobPuller
from notebridge_worker.jobs.store import JobStore, valid_job_id

__all__ = ["JobControl", "JobPuller", "JobStore", "valid_job_id"]
