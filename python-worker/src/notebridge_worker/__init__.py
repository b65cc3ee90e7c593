"""notebridge worker SDK: serve plain Python functions as notebridge contract handlers.

    from notebridge_worker import Worker

    worker = Worker(name="summarizer")

    @worker.handler("summarize", version=1)
    def summarize(request):
        return {"summary": request["text"][:100], "sentences": []}

Then ``notebridge-worker run my_module:worker``.
"""

from notebridge_worker.context import RequestContext
from notebridge_worker.contracts import Contract, ContractError, load_contracts
from notebridge_worker.errors import ServiceError
from notebridge_worker.version import __version__
from notebridge_worker.worker import Worker

__all__ = [
    "Contract",
    "ContractError",
    "RequestContext",
    "ServiceError",
    "Worker",
    "__version__",
    "load_contracts",
]
