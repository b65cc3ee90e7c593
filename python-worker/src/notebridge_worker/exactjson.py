"""JSON text in and out of Python without losing a digit.

A JSON number is a decimal of any length. Python's ``json`` turns ``0.07`` into the nearest
binary float, so a validator working on floats says 0.07 is not a multiple of 0.01, while
the Go gateway, which keeps the digits, says it is. Everything this SDK validates is therefore
parsed with :class:`ExactNumber`, so both sides judge the same digits.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NoReturn


class ExactNumber(Decimal):
    """A JSON number with a fraction or an exponent, kept exactly as written."""

    __slots__ = ()

    def __repr__(self) -> str:
        # Validation messages show a number as the client wrote it ("1.5 is not of type
        # 'integer'"), not as "ExactNumber('1.5')".
        return str(self)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def parse_exact(text: bytes | str) -> Any:
    """Parse a JSON document; numbers with a fraction or exponent become ExactNumber.

    Raises ValueError (json.JSONDecodeError, UnicodeDecodeError) if ``text`` is not one
    UTF-8 JSON document. NaN and Infinity are rejected: they are not JSON.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text, parse_float=ExactNumber, parse_constant=_reject_constant)


def parse(text: bytes | str) -> Any:
    """Parse a JSON document into plain Python values (numbers with a fraction are floats)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text, parse_constant=_reject_constant)


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON; Decimal values are written digit for digit.

    Raises TypeError for values JSON cannot hold and ValueError for NaN and infinities.
    """
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except TypeError:
        # The stdlib encoder knows no Decimal (and its C encoder ignores float subclasses'
        # repr), so documents holding one take this slower path.
        return "".join(_exact_chunks(value)).encode()


def _exact_chunks(value: Any) -> Iterator[str]:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        yield str(value)
    elif isinstance(value, dict):
        yield "{"
        for position, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            yield ("," if position else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from _exact_chunks(item)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for position, item in enumerate(value):
            if position:
                yield ","
            yield from _exact_chunks(item)
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False, allow_nan=False)
