"""The SDK's exceptions: the one a handler raises on purpose (ServiceError), the one a worker
raises when it cannot start serving (StartError), and, inside the SDK, how the request
pipeline ends a request with an error reply (ErrorReply)."""

from typing import Any

from notebridge_worker.protocol import ERROR_CODE_PATTERN


class ServiceError(Exception):
    """A failure the handler means to report: the caller gets this code and message.

    The gateway answers 502 with them, so pick a code a client can branch on, e.g.
    ``ServiceError("model_unavailable", "the summarizer model is still loading")``.
    Anything else a handler raises becomes the code ``internal`` and its traceback stays in
    the worker's log.
    """

    def __init__(self, code: str, message: str) -> None:
        if not ERROR_CODE_PATTERN.fullmatch(code):
            raise ValueError(
                f"error code {code!r} must match {ERROR_CODE_PATTERN.pattern} "
                "(lower case letters, digits and underscores)"
            )
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type["ServiceError"], tuple[str, str]]:
        # A handler in a process pool raises it in another process: it travels pickled.
        return (type(self), (self.code, self.message))

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r})"


class StartError(Exception):
    """The worker cannot start serving: what it needs is missing (a JetStream stream, a
    handler a process pool can run); the message says what to do."""


class ErrorReply(Exception):
    """Ends a request with an error reply: the micro error headers and an optional body."""

    def __init__(
        self,
        code: str,
        message: str,
        body: bytes = b"",
        *,
        raised_by_handler: bool = False,
        violations: "list[Any] | None" = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.body = body
        self.raised_by_handler = raised_by_handler
        """The handler raised it: a generator that raised is over, there is nothing to stop."""
        self.violations = violations or []
        """For ``invalid_reply``: what the reply broke, which a repair attempt is given."""
        self.headers: dict[str, str] = {}
        """Sent with the error reply: the attempts and usage of a request (Nb-Attempts)."""
