"""The summarize example, logging the type of each ``max_sentences`` its handler is given.

The end-to-end tests read the line to see what a handler received through the real gateway.

    notebridge-worker run python-worker/tests/summarize_probe.py:worker --contracts-dir contracts
"""

import logging
import sys
from pathlib import Path
from typing import Any

# The examples are no package: they are imported from their directory.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from summarize import summarize, worker

logger = logging.getLogger("notebridge_worker")


@worker.handler("summarize", version=1)
def summarize_and_tell(request: dict[str, Any]) -> dict[str, Any]:
    count = request.get("max_sentences")
    logger.warning("probe: max_sentences=%r (%s)", count, type(count).__name__)
    return summarize(request)
