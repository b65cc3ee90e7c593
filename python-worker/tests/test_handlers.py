"""How a handler is registered and what it is given: add_handler, and the RequestContext
found by its annotation, with the positional second parameter as the fallback."""

from typing import Any

import pytest
from conftest import TEST_CONTRACTS

from notebridge_worker import Batch, ContractError, RequestContext, Worker
from notebridge_worker.protocol import HEADER_REQUEST_ID
from notebridge_worker.testing import TestClient

SENT = {HEADER_REQUEST_ID: "req-7"}


def echo_worker() -> Worker:
    return Worker(name="shapes", contracts_dir=TEST_CONTRACTS)


def test_add_handler_registers_the_function_and_returns_it_unchanged() -> None:
    worker = echo_worker()

    def echo(request: dict[str, Any]) -> dict[str, Any]:
        return {"text": request["text"] + "!"}

    assert worker.add_handler("echo", echo, version=1) is echo
    assert worker.served == ["echo/v1"]
    assert TestClient(worker).call("echo", {"text": "hi"}) == {"text": "hi!"}
    assert echo({"text": "still callable"}) == {"text": "still callable!"}


def test_add_handler_checks_what_the_decorator_checks() -> None:
    worker = echo_worker()
    with pytest.raises(ContractError, match=r"no contract nope/v1 in .* \(it has: echo/v1"):
        worker.add_handler("nope", lambda request: request)
    with pytest.raises(ValueError, match="pool must be one of thread, process"):
        worker.add_handler("echo", lambda request: request, pool="gpu")


def requester(request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
    return {"text": f"{request['text']} {context.request_id}"}


def keyword_only(request: dict[str, Any], *, ctx: RequestContext) -> dict[str, Any]:
    return {"text": f"{request['text']} {ctx.request_id}"}


def after_an_option(
    request: dict[str, Any], shout: bool = False, ctx: RequestContext | None = None
) -> dict[str, Any]:
    assert ctx is not None
    assert shout is False
    return {"text": f"{request['text']} {ctx.request_id}"}


async def async_keyword(request: dict[str, Any], *, context: "RequestContext") -> dict[str, Any]:
    return {"text": f"{request['text']} {context.request_id}"}


def untyped_second(request, context):  # type: ignore[no-untyped-def]
    return {"text": f"{request['text']} {context.request_id}"}


@pytest.mark.parametrize(
    "handler",
    [requester, keyword_only, after_an_option, async_keyword, untyped_second],
    ids=lambda handler: handler.__name__,
)
def test_the_context_goes_where_the_handler_takes_it(handler: Any) -> None:
    worker = echo_worker()
    worker.add_handler("echo", handler)
    assert TestClient(worker).call("echo", {"text": "hi"}, headers=SENT) == {"text": "hi req-7"}


def test_a_handler_without_a_context_parameter_gets_none() -> None:
    worker = echo_worker()
    seen: list[tuple[Any, ...]] = []

    def alone(request: dict[str, Any], shout: bool = False) -> dict[str, Any]:
        seen.append((request, shout))
        return request

    # The second positional parameter has a default and another annotation: it is the
    # fallback place of the context all the same, as before annotations were read.
    worker.add_handler("echo", alone)
    TestClient(worker).call("echo", {"text": "hi"}, headers=SENT)
    [(request, second)] = seen
    assert request == {"text": "hi"}
    assert isinstance(second, RequestContext)


def test_a_batch_handler_takes_its_contexts_by_annotation() -> None:
    worker = echo_worker()

    def batch(
        requests: list[dict[str, Any]], *, contexts: list[RequestContext]
    ) -> list[dict[str, Any]]:
        return [
            {"text": f"{r['text']} {c.request_id}"} for r, c in zip(requests, contexts, strict=True)
        ]

    worker.add_handler("echo", batch, batch=Batch(max_size=4, max_wait=0.05))
    replies = TestClient(worker).call_many("echo", [{"text": "a"}, {"text": "b"}], headers=SENT)
    assert replies == [{"text": "a req-7"}, {"text": "b req-7"}]


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (
            lambda request, a, b: request,
            r"must take the request and, optionally, a RequestContext; nothing fills b",
        ),
        (
            lambda *, request: request,
            r"must take the request as its first parameter",
        ),
    ],
    ids=["a third required parameter", "no positional parameter"],
)
def test_a_handler_that_cannot_be_called_is_refused_at_registration(
    handler: Any, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        echo_worker().add_handler("echo", handler)


def test_two_context_parameters_are_refused() -> None:
    def twice(request: dict[str, Any], *, a: RequestContext, b: RequestContext) -> Any:
        return request

    with pytest.raises(TypeError, match="2 parameters annotated as the context"):
        echo_worker().add_handler("echo", twice)


def test_a_required_keyword_besides_the_context_is_refused() -> None:
    def needs_more(request: dict[str, Any], *, ctx: RequestContext, model: str) -> Any:
        return request

    with pytest.raises(TypeError, match="nothing fills model"):
        echo_worker().add_handler("echo", needs_more)
