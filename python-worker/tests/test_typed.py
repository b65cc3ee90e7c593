"""Typed handlers: pydantic models or TypedDicts in and out; the contract's schema still judges."""

import json
from typing import Any, TypedDict

import pytest
from conftest import TEST_CONTRACTS
from nats.aio.client import Client
from pydantic import BaseModel, Field
from support import call

from notebridge_worker import RequestContext, Worker
from notebridge_worker.testing import CallError, TestClient


class EchoRequest(BaseModel):
    text: str
    sleep_ms: int = 0


class Shout(BaseModel):
    # The field's JSON name is the contract's "text": models are dumped by alias.
    shouted: str = Field(serialization_alias="text")


class EchoDict(TypedDict):
    text: str


def typed_worker(seen: list[Any]) -> Worker:
    worker = Worker(name="typed", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1)
    async def shout(request: EchoRequest, context: RequestContext) -> Shout:
        seen.append(request)
        return Shout(shouted=request.text.upper())

    @worker.handler("echo", version=2)
    def plain(request: EchoDict) -> EchoDict:
        seen.append(request)
        return {"text": request["text"]}

    return worker


async def test_a_handler_takes_and_returns_models_over_nats(client: Client, serve) -> None:
    seen: list[Any] = []
    async with serve(typed_worker(seen)):
        reply = await call(client, "nb.echo.v1", {"text": "hi", "sleep_ms": 1})
        typed_dict = await call(client, "nb.echo.v2", {"text": "as is"})
    assert json.loads(reply.data) == {"text": "HI"}
    assert seen[0] == EchoRequest(text="hi", sleep_ms=1)
    # A TypedDict is a type hint only: the handler gets the dict.
    assert json.loads(typed_dict.data) == {"text": "as is"}
    assert type(seen[1]) is dict


def test_the_schema_judges_the_request_before_the_model() -> None:
    seen: list[Any] = []
    with pytest.raises(CallError) as raised:
        # The contract says text is a string: its schema decides, before the model.
        TestClient(typed_worker(seen)).call("echo", {"text": 5})
    assert raised.value.code == "invalid_request"
    assert raised.value.message == (
        "the request breaks echo/v1: text: expected string, got integer at /text"
    )
    assert seen == []


def test_a_model_stricter_than_the_contract_is_an_internal_error_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Terse(BaseModel):
        text: str = Field(max_length=3)

    worker = Worker(name="strict", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1)
    def terse(request: Terse) -> dict[str, str]:
        return {"text": request.text}

    with pytest.raises(CallError) as raised:
        TestClient(worker).call("echo", {"text": "longer than three"})
    assert raised.value.code == "internal"
    assert "model Terse rejected a request the contract accepts" in raised.value.message
    assert "passed the contract's schema but model Terse rejected it" in caplog.text
    assert "String should have at most 3 characters" in caplog.text


def test_a_returned_model_is_checked_against_the_response_schema() -> None:
    class TooMuch(BaseModel):
        text: str
        confidence: float

    worker = Worker(name="loose", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1)
    def loose(request: dict[str, Any]) -> TooMuch:
        return TooMuch(text=request["text"], confidence=0.5)

    with pytest.raises(CallError) as raised:
        TestClient(worker).call("echo", {"text": "x"})
    assert raised.value.code == "invalid_reply"
    assert raised.value.violations == [
        {
            "instancePath": "",
            "keyword": "additionalProperties",
            "message": 'unexpected property "confidence"',
        }
    ]
