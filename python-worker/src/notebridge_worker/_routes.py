"""A registered handler: its contract and the shape checked once, at registration."""

import inspect
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from notebridge_worker.config import POOLS, Batch
from notebridge_worker.context import RequestContext
from notebridge_worker.contracts import JOB, STREAM, SYNC, Contract


@dataclass(frozen=True)
class Route:
    """A registered handler and the contract it serves."""

    contract: Contract
    function: Callable[..., Any]
    takes_context: bool
    """The handler takes a RequestContext (a list of them for a batch handler)."""
    is_async: bool
    pool: str | None
    """``thread`` or ``process`` for a ``def`` handler that chose; None: the worker's pool."""
    request_model: Any = None
    """The pydantic model the request becomes before the handler gets it, if it asked."""
    streams: bool = False
    """The handler is a generator (stream contract): it yields chunks rather than return."""
    batch: Batch | None = None
    """The handler takes a list of requests and returns a list of replies (batching.py)."""
    context_keyword: str | None = None
    """The parameter the context goes to by name (it is annotated RequestContext); None:
    the second positional parameter gets it, if ``takes_context``."""

    def arguments(self, argument: Any, context: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments of one call of the handler."""
        if not self.takes_context:
            return (argument,), {}
        if self.context_keyword is not None:
            return (argument,), {self.context_keyword: context}
        return (argument, context), {}

    def call(self, argument: Any, context: Any) -> Any:
        """Call the handler (a coroutine or generator for async and generator handlers)."""
        args, kwargs = self.arguments(argument, context)
        return self.function(*args, **kwargs)


def pool_kind(pool: str) -> str:
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {pool!r}")
    return pool


def build_route(
    contract: Contract, function: Callable[..., Any], pool: str | None, batch: Batch | None = None
) -> Route:
    """Check a handler's shape once, at registration, rather than on every request."""
    name = getattr(function, "__qualname__", repr(function))
    ref = contract.ref
    streams = inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function)
    if batch is not None and contract.mode == STREAM:
        raise TypeError(
            f"handler {name} asks for batches, but {ref} is a stream contract: a batch gets "
            "one reply per request, a stream many chunks; register it without batch="
        )
    if contract.mode in (SYNC, JOB) and streams:
        raise TypeError(
            f"handler {name} is a generator, but {ref} is a {contract.mode} contract: return "
            "the reply rather than yield it"
        )
    if contract.mode == STREAM and not streams:
        raise TypeError(
            f"handler {name} is not a generator, but {ref} is a stream contract: yield each "
            "chunk (`yield {...}` in a def or an async def)"
        )
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    if is_async and pool is not None:
        raise TypeError(
            f"handler {name} is async: it runs on the event loop, so pool={pool!r} does not "
            "apply (make it a plain def to run it in a pool)"
        )
    if streams and pool == "process":
        raise TypeError(
            f"handler {name} is a generator: it runs in the thread pool, one next() at a "
            "time, since a process cannot hand a generator back between chunks; pool="
            "'process' does not apply"
        )
    shape = _parameters(function, name, batch is not None)
    annotation = shape.request_annotation
    if batch is not None:
        # list[Model] for a batch: each request becomes a Model, one by one.
        annotation = _item_annotation(annotation)
    return Route(
        contract=contract,
        function=function,
        takes_context=shape.takes_context,
        is_async=is_async,
        pool=pool,
        request_model=_pydantic_model(annotation),
        streams=streams,
        batch=batch,
        context_keyword=shape.context_keyword,
    )


@dataclass(frozen=True)
class _Shape:
    request_annotation: Any
    takes_context: bool
    context_keyword: str | None


def _parameters(function: Callable[..., Any], name: str, batched: bool) -> _Shape:
    """Where a handler takes the request and its context.

    The request is the first positional parameter. The context goes to the parameter
    annotated ``RequestContext`` (``list[RequestContext]`` for a batch handler), by name, in
    any place after the request; without one, to the second positional parameter if there is
    one (or ``*args``).
    """
    parameters = list(inspect.signature(function).parameters.values())
    hints = _type_hints(function)
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    takes_varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    wanted = "list of requests" if batched else "request"
    kind = "batch handler" if batched else "handler"
    if not positional and not takes_varargs:
        raise TypeError(f"{kind} {name} must take the {wanted} as its first parameter")
    request = positional[0] if positional else None
    request_annotation = hints.get(request.name, request.annotation) if request else None
    annotated = [
        p
        for p in parameters
        if p is not request and _is_context(hints.get(p.name, p.annotation), batched)
    ]
    if len(annotated) > 1:
        raise TypeError(
            f"{kind} {name} has {len(annotated)} parameters annotated as the context; it gets one"
        )
    context = annotated[0] if annotated else None
    if context is not None and context.kind is inspect.Parameter.POSITIONAL_ONLY:
        if positional.index(context) != 1:
            raise TypeError(
                f"{kind} {name}: a positional-only context parameter must come right "
                f"after the {wanted}"
            )
        context_keyword = None
    else:
        context_keyword = None if context is None else context.name
    takes_context = context is not None or len(positional) >= 2 or takes_varargs
    if context is None and len(positional) >= 2:
        context = positional[1]
    required = [
        p.name
        for p in parameters
        if p is not request
        and p is not context
        and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if required:
        contexts = "the list of their RequestContexts" if batched else "a RequestContext"
        raise TypeError(
            f"{kind} {name} must take the {wanted} and, optionally, {contexts}; "
            f"nothing fills {', '.join(required)}"
        )
    return _Shape(request_annotation, takes_context, context_keyword)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _is_context(annotation: Any, batched: bool) -> bool:
    """``RequestContext``, or for a batch handler ``list[RequestContext]``."""
    if isinstance(annotation, str):
        # An annotation left unresolved (a name only a type checker imports).
        if batched:
            opened = annotation.find("[")
            annotation = annotation[opened + 1 : -1] if opened > 0 else ""
        return annotation.strip().rsplit(".", 1)[-1] == "RequestContext"
    if batched:
        annotation = _item_annotation(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        # RequestContext | None: a default lets the handler be called without one.
        return any(_is_context(member, False) for member in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, RequestContext)


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    """The function's annotations, with string annotations resolved where possible."""
    try:
        return typing.get_type_hints(function)
    except Exception:
        # An annotation naming something only a type checker imports: use them as written.
        return {}


def _item_annotation(annotation: Any) -> Any:
    """``Model`` for a batch handler's ``list[Model]`` (or ``Sequence[Model]``); else None."""
    if typing.get_origin(annotation) in (list, Sequence):
        arguments = typing.get_args(annotation)
        return arguments[0] if arguments else None
    return None


def _pydantic_model(annotation: Any) -> Any:
    """``annotation`` if it is a pydantic model class; pydantic is needed only if it is."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(annotation, type):
        return None
    return annotation if issubclass(annotation, pydantic.BaseModel) else None
