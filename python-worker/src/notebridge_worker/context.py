"""What a handler may know about the request it serves, besides the request itself."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    """The context of one request, passed to handlers that take a second parameter.

    ``deadline`` is absolute, Unix time in seconds: past it nobody waits for the reply any
    more (the gateway has answered 504), so long work should check :meth:`time_left`.
    """

    request_id: str
    deadline: float
    contract: str
    version: int
    headers: Mapping[str, str] = field(default_factory=dict)

    def time_left(self) -> float:
        """Return the seconds left before the deadline, 0.0 once it has passed."""
        return max(0.0, self.deadline - time.time())
