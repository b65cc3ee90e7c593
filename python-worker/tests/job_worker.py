"""The worker of the job test contracts (tests/job_contracts): steps/v1 and ticks/v1.

Both take ``steps`` steps of ``step_ms`` each and report progress after each; they fail with
a ServiceError on the attempts ``fail_on`` lists, and break the result schema when asked;
``die`` (a poison job) ends the whole worker process at once, as a crashing native library
would.
Each delivery reports usage: 10 input tokens, 2 output, a cost of 0.25.
``steps`` is an ``async def`` (``await ctx.progress``), ``ticks`` a plain ``def`` run in a
thread (``ctx.report_progress``, ``ctx.cancelled``). Each logs when it is stopped.
"""

import asyncio
import logging
import os
import time
from typing import Any

from notebridge_worker import RequestContext, ServiceError, Worker

logger = logging.getLogger("job_worker")
worker = Worker("jobs-test", os.path.join(os.path.dirname(__file__), "job_contracts"))


def _result(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    # Every delivery costs something, whether it succeeds or not.
    ctx.report_usage(model="job-model", input_tokens=10, output_tokens=2, cost=0.25)
    if ctx.attempt in request.get("fail_on", []):
        raise ServiceError("job_failed", f"asked to fail on attempt {ctx.attempt}")
    if request.get("bad_result"):
        return {"text": 42, "attempt": ctx.attempt}
    return {"text": request["text"], "attempt": ctx.attempt}


@worker.handler("steps")
async def steps(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if request.get("die"):
        logger.warning("job %s is poison: the worker dies", ctx.job_id)
        os._exit(3)
    total = request.get("steps", 0)
    try:
        for step in range(1, total + 1):
            await asyncio.sleep(request.get("step_ms", 0) / 1000)
            await ctx.progress(step / total, f"step {step} of {total}")
    except asyncio.CancelledError:
        logger.warning("steps handler of job %s stopped at step %d", ctx.job_id, step)
        raise
    return _result(request, ctx)


@worker.handler("ticks")
def ticks(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    total = request.get("steps", 0)
    for step in range(1, total + 1):
        if ctx.cancelled:
            logger.warning("ticks handler of job %s stopped at step %d", ctx.job_id, step)
            return {"text": "cancelled", "attempt": ctx.attempt}
        time.sleep(request.get("step_ms", 0) / 1000)
        ctx.report_progress(step / total, f"tick {step} of {total}")
    return _result(request, ctx)
