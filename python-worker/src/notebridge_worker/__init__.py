"""notebridge worker SDK: serve plain Python functions as notebridge contract handlers.

    from notebridge_worker import Worker

    worker = Worker(name="summarizer")

    @worker.handler("summarize", version=1)
    def summarize(request):
        return {"summary": request["text"][:100], "sentences": []}

Then ``notebridge-worker run my_module:worker`` (or ``my_notebook.ipynb``), and
``notebridge-worker test my_module:worker`` to run the contract's examples without NATS.
"""

from notebridge_worker.config import Batch, WorkerConfig
from notebridge_worker.connection import ConnectError, NatsOptions
from notebridge_worker.context import RequestContext
from notebridge_worker.contracts import Contract, ContractError, load_contracts
from notebridge_worker.errors import ServiceError, StartError
from notebridge_worker.notebook import NotebookError, load_notebook
from notebridge_worker.repair import Repair, Usage
from notebridge_worker.version import __version__
from notebridge_worker.worker import Worker

__all__ = [
    "Batch",
    "ConnectError",
    "Contract",
    "ContractError",
    "NatsOptions",
    "NotebookError",
    "Repair",
    "RequestContext",
    "ServiceError",
    "StartError",
    "Usage",
    "Worker",
    "WorkerConfig",
    "__version__",
    "load_contracts",
    "load_notebook",
]
