"""The checks a request and a reply pass on the way through the pipeline (_pipeline.py).

A request is parsed and held to the protocol's numeric domain, to Unicode and to its
schema; a reply or chunk is encoded and the bytes to be sent are checked. The fast path
(contracts.fastcheck) proves the common value valid; the full validator decides the rest and
lists every violation.
"""

import logging
import sys
from collections.abc import Callable
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker._routes import Route
from notebridge_worker.contracts import Contract, Violation, explain, fastcheck
from notebridge_worker.errors import ErrorReply
from notebridge_worker.protocol import INTERNAL, INVALID_REPLY, INVALID_REQUEST

logger = logging.getLogger("notebridge_worker")


def checked_request(contract: Contract, data: bytes, exact_numbers: bool) -> Any:
    """The handler's argument for a request body, or ``invalid_request`` if it breaks the schema.

    The common request takes the fast path: orjson, and a check that proves it valid. Anything
    else is parsed with exact numbers, held to the protocol's numeric domain and to Unicode
    (docs/protocol.md, "Numbers"), and judged, and explained, by the full validator. Where the
    schema says integer, the handler gets an int (notebridge_worker.integers); the fast path
    never proves a float valid there, so only the exact path needs the conversion.
    """
    if not exact_numbers:
        value = fastcheck.loads(data)
        if value is not fastcheck.NOT_PARSED and fastcheck.proves(contract.request_check, value):
            return value
    outside = exactjson.number_problems(data)
    if outside:
        found = [_violation(problem) for problem in outside]
        raise ErrorReply(
            INVALID_REQUEST,
            f"the request breaks the protocol's numeric domain: {describe(found, 'request')}",
            violations_body(found),
        )
    try:
        instance = exactjson.parse_exact(data)
    except UnicodeDecodeError as error:
        raise ErrorReply(
            INVALID_REQUEST,
            f"the request body is not valid Unicode text: invalid UTF-8 at byte {error.start}",
        ) from None
    except (ValueError, RecursionError) as error:
        raise ErrorReply(INVALID_REQUEST, f"the request body is not JSON: {error}") from None
    surrogates = exactjson.lone_surrogates(data, instance)
    if surrogates:
        raise ErrorReply(
            INVALID_REQUEST,
            "the request body is not valid Unicode text: a lone surrogate (\\ud800-\\udfff "
            f"without its pair) at {surrogates[0] or '/'}",
        )
    if not fastcheck.proves(contract.request_check, instance):
        found = contract.request_violations(instance)
        if found:
            raise ErrorReply(
                INVALID_REQUEST,
                f"the request breaks {contract.ref}: {describe(found, 'request')}",
                violations_body(found),
            )
    # Validation needed exact numbers; handlers get floats unless they asked otherwise.
    argument = instance if exact_numbers else exactjson.parse(data)
    if contract.request_integers is not None:
        argument = contract.request_integers(argument, instance)
    return argument


def _violation(problem: exactjson.Problem) -> Violation:
    return Violation(instancePath=problem.pointer, keyword=problem.keyword, message=problem.message)


def checked_reply(contract: Contract, reply: Any, request_id: str) -> bytes:
    """Encode the handler's reply and check the bytes that will be sent against the schema."""
    return _checked(
        contract.response_check,
        contract.response_violations,
        reply,
        "reply",
        contract.ref,
        "",
        request_id,
    )


def checked_chunk(contract: Contract, chunk: Any, request_id: str, number: int) -> bytes:
    """Encode a chunk and check the bytes that will be sent against the chunk schema."""
    return _checked(
        contract.chunk_check,
        contract.chunk_violations,
        chunk,
        "chunk",
        contract.ref,
        f" {number}",
        request_id,
        log_suffix="; the stream ends with an error",
    )


def _checked(
    check: fastcheck.Check,
    violations_of: Callable[[Any], list[Violation]],
    value: Any,
    document: str,
    ref: str,
    number: str,
    request_id: str,
    *,
    log_suffix: str = "",
) -> bytes:
    """Encode ``value`` and check the exact bytes to be sent; raise ``invalid_reply`` if not.

    ``document`` ("reply" or "chunk") and ``number`` (" 3" for a chunk, "" for a reply) name
    what broke the contract in the log line and in the error sent. A value of JSON's own
    types that the fast path proves valid is encoded by orjson; anything else is encoded
    with exact numbers and its bytes parsed back and judged by the full validator.
    """
    value = as_json_value(value)
    if fastcheck.proves(check, value):
        body = fastcheck.dumps(value)
        if body is not None:
            return body
    try:
        body = exactjson.dumps(value)
    except (TypeError, ValueError) as error:
        # NaN, an int of more than 4300 digits, a lone surrogate: say where; else what.
        found = [_violation(problem) for problem in exactjson.value_problems(value)] or [
            Violation(instancePath="", keyword="type", message=f"not JSON: {error}")
        ]
    else:
        outside = exactjson.number_problems(body)
        found = (
            [_violation(problem) for problem in outside]
            if outside
            else violations_of(exactjson.parse_exact(body))
        )
    if not found:
        return body
    logger.error(
        "%s %s%s broke the contract (request %s): %s%s",
        ref,
        document,
        number,
        request_id,
        describe(found, document),
        log_suffix,
    )
    raise ErrorReply(
        INVALID_REPLY,
        f"{ref} {document}{number} broke the contract: {describe(found, document)}",
        violations_body(found),
        violations=found,
    )


def describe(violations: list[Violation], document: str) -> str:
    """``summary: expected string, got null at /summary; ...``: every violation, for a person
    to act on (an error header keeps MAX_ERROR_MESSAGE characters; the body keeps them all).
    """
    return "; ".join(explain(violation, document) for violation in violations)


def violations_body(violations: list[Violation]) -> bytes:
    return exactjson.dumps({"violations": violations})


def as_model(route: Route, argument: Any, request_id: str) -> Any:
    """The request as the handler's model; it passed the contract's schema already."""
    model = route.request_model
    try:
        return model.model_validate(argument)
    except ValueError as error:  # pydantic.ValidationError
        # The contract says the request is fine: the model is stricter than the contract.
        logger.error(
            "%s: request %s passed the contract's schema but model %s rejected it; make the "
            "model accept what %s accepts:\n%s",
            route.contract.ref,
            request_id,
            model.__name__,
            route.contract.request_schema_path,
            error,
        )
        raise ErrorReply(
            INTERNAL,
            f"handler {route.contract.ref}'s model {model.__name__} rejected a request "
            f"the contract accepts (request {request_id})",
        ) from None


def as_json_value(reply: Any) -> Any:
    """A pydantic model as its JSON value (field aliases as names); anything else as is."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(reply, pydantic.BaseModel):
        return reply.model_dump(mode="json", by_alias=True)
    return reply
