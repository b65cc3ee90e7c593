"""JSON text in and out of Python without losing a digit.

A JSON number is a decimal of any length. Python's ``json`` turns ``0.07`` into the nearest
binary float, so a validator working on floats says 0.07 is not a multiple of 0.01, while
the Go gateway, which keeps the digits, says it is. Everything this SDK validates is therefore
parsed with :class:`ExactNumber`, so both sides judge the same digits.

Both sides also hold every number to the protocol's numeric domain (docs/protocol.md,
"Numbers"): :func:`number_problems` finds the numbers of a JSON text outside it, and
:func:`value_problems` those of a Python value about to be sent, with the strings that are
not valid Unicode text.
"""

import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NamedTuple, NoReturn

MAX_NUMBER_DIGITS = 4300
"""Digits of a number's mantissa (integer and fraction digits, leading zeros included)."""
MAX_EXPONENT = 9999
"""The largest written exponent, either sign, of a number with an exponent."""
MIN_EXPONENT_OF_MAGNITUDE, MAX_EXPONENT_OF_MAGNITUDE = -307, 307
"""A non-zero number with a fraction or an exponent lies in [1e-307, 1e308): a normal float64."""
NUMBER_DOMAIN = "numberDomain"
"""The violation keyword of a number outside the domain, as the gateway's 422 names it."""
UNICODE = "unicode"
"""The violation keyword of a string that is not valid Unicode text (a lone surrogate)."""
_LIMIT = 10**MAX_NUMBER_DIGITS
_SHOWN = 40
"""Characters of a number's text quoted in a message; a longer one is cut in its middle."""


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


def equal(value: Any, wanted: Any) -> bool:
    """JSON equality of parsed values: 1 equals 1.0 and 1e0 (numbers compare as exact
    decimals), true does not equal 1, member order does not matter. A float, whose decimal
    text is gone, equals nothing: parse with parse_exact (protocol/vectors/json-equality.json).
    """
    kind, wanted_kind = type(value), type(wanted)
    if kind is bool or wanted_kind is bool:
        return kind is wanted_kind and value == wanted
    if value is None or wanted is None:
        return value is wanted
    if kind is str:
        return wanted_kind is str and value == wanted
    if kind is int or (isinstance(value, Decimal) and value.is_finite()):
        return (wanted_kind is int or isinstance(wanted, Decimal)) and value == wanted
    if kind is dict:
        return (
            wanted_kind is dict
            and value.keys() == wanted.keys()
            and all(equal(item, wanted[key]) for key, item in value.items())
        )
    if kind is list:
        return (
            wanted_kind is list
            and len(value) == len(wanted)
            and all(equal(item, other) for item, other in zip(value, wanted, strict=True))
        )
    return False


class Problem(NamedTuple):
    """A value that breaks a rule of the protocol, not of the schema: a violation's parts."""

    pointer: str
    """Where, as an RFC 6901 JSON pointer ("" for the whole document)."""
    keyword: str
    """NUMBER_DOMAIN or UNICODE."""
    message: str


# Every number outside the domain holds a run of 19 digits (a mantissa of more than 4300
# digits, or an integer past 64 bits) or an exponent of 3 digits or more; a text with
# neither is in the domain, whatever its numbers: with at most 18 digits before and 18 after
# the point and an exponent within ±99, a non-zero number lies within 1e-117..1e117.
# Mapping digits to "0", e and E to "e" and everything else to " ", with the signs deleted
# (in a number a sign never follows a digit, so no digit run grows), lets C find both shapes
# in two searches, ten times faster than a regular expression.
_SHAPES = bytes(48 if 48 <= byte <= 57 else 101 if byte in b"eE" else 32 for byte in range(256))
_SIGNS = b"+-"
_LONG_DIGITS, _LONG_EXPONENT = b"0" * 19, b"e000"


def may_leave_domain(data: bytes) -> bool:
    """False when every number of the JSON text ``data`` is certainly in the numeric domain.

    True means only "look closer" (it also holds for an integer past 64 bits, or for a string
    like "e-100"): :func:`number_problems` decides.
    """
    shapes = data.translate(_SHAPES, _SIGNS)
    # find(), not `in`: the operator takes the needle through the buffer protocol, at twice
    # the cost of both searches of a small request.
    return shapes.find(_LONG_DIGITS) != -1 or shapes.find(_LONG_EXPONENT) != -1


def number_problems(data: bytes) -> list[Problem]:
    """Every number of the JSON text ``data`` outside the numeric domain, in document order.

    [] also when ``data`` is not JSON (or not UTF-8): the parser that reads it explains that.
    Almost every text is cleared by one pass in C (:func:`may_leave_domain`).
    """
    if not may_leave_domain(data):
        return []
    try:
        # The hooks see each number's text before Python makes a value of it (an int of
        # 5000 digits would not even parse), and leave a marker where one is outside.
        document = json.loads(
            data.decode("utf-8"),
            parse_float=_outside_as_float,
            parse_int=_outside_as_int,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):
        return []
    return [
        Problem(pointer, NUMBER_DOMAIN, marker.message)
        for pointer, marker in _leaves(document)
        if type(marker) is _Outside
    ]


def value_problems(value: Any) -> list[Problem]:
    """Every number outside the domain, and every string that is not valid Unicode text, in a
    Python value (a reply about to be sent): NaN and infinities, integers of more than 4300
    digits, floats that are subnormal, strings and keys holding a lone surrogate.
    """
    found = []
    for pointer, item in _leaves(value, keys=True):
        if isinstance(item, str):
            if not _is_unicode(item):
                found.append(
                    Problem(
                        pointer,
                        UNICODE,
                        f"{item!r} is not valid Unicode text: it holds a lone surrogate",
                    )
                )
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not -_LIMIT < item < _LIMIT:
                found.append(
                    Problem(
                        pointer,
                        NUMBER_DOMAIN,
                        f"an integer of more than {MAX_NUMBER_DIGITS} digits (about "
                        f"{int(item.bit_length() * 0.30103)}) is outside the numeric domain; "
                        "send it as a string",
                    )
                )
        elif isinstance(item, float | Decimal):
            text = repr(item) if isinstance(item, float) else str(item)
            finite = item.is_finite() if isinstance(item, Decimal) else math.isfinite(item)
            if not finite:
                found.append(Problem(pointer, NUMBER_DOMAIN, f"{text} is not a JSON number"))
                continue
            # A Decimal may be written as an integer ("100"), which the float rules spare.
            outside = (
                _outside_as_float(text)
                if _FRACTION_OR_EXPONENT & set(text)
                else _outside_as_int(text)
            )
            if outside is not None:
                found.append(Problem(pointer, NUMBER_DOMAIN, outside.message))
    return found


def lone_surrogates(data: bytes, document: Any) -> list[str]:
    """The JSON pointers of the strings (or keys) of ``document``, parsed from ``data``, that
    hold a lone surrogate (``"\\ud800"``, which JSON's grammar allows and Unicode does not).

    The text is searched first, so that a document without a surrogate escape costs nothing.
    """
    if b"\\u" not in data or not _SURROGATE_ESCAPE.search(data):
        return []
    found = (
        pointer
        for pointer, item in _leaves(document, keys=True)
        if isinstance(item, str) and not _is_unicode(item)
    )
    return list(dict.fromkeys(found))  # a key and its value share a pointer


_FRACTION_OR_EXPONENT = frozenset(".eE")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Outside:
    """Where a number outside the domain was: the parse hooks leave one in its place."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _outside_as_int(text: str) -> "_Outside | None":
    digits = len(text) - text.startswith("-")
    if digits > MAX_NUMBER_DIGITS:
        return _Outside(_too_many_digits(text, digits))
    return None


def _outside_as_float(text: str) -> "_Outside | None":
    """Why the number written ``text`` (with a fraction or an exponent) is outside, or None."""
    mantissa, _, exponent = text.lower().partition("e")
    digits = len(mantissa) - mantissa.startswith("-") - ("." in mantissa)
    if digits > MAX_NUMBER_DIGITS:
        return _Outside(_too_many_digits(text, digits))
    if exponent:
        # Its digits may be many: compare their count before making an int of them.
        significant = exponent.lstrip("+-").lstrip("0")
        if len(significant) > len(str(MAX_EXPONENT)) or int(significant or "0") > MAX_EXPONENT:
            return _Outside(
                f"{_cut(text)} is outside the numeric domain: its exponent must be within "
                f"-{MAX_EXPONENT}..{MAX_EXPONENT}"
            )
    value = Decimal(text)
    if value and not MIN_EXPONENT_OF_MAGNITUDE <= value.adjusted() <= MAX_EXPONENT_OF_MAGNITUDE:
        size = "large" if value.adjusted() > 0 else "small"
        return _Outside(
            f"{_cut(text)} is outside the numeric domain: too {size} for a float64; a number "
            "with a fraction or an exponent must be 0 or between 1e-307 and 1e308 in magnitude"
        )
    return None


def _too_many_digits(text: str, digits: int) -> str:
    return (
        f"{_cut(text)} is outside the numeric domain: it has {digits} digits, and a number "
        f"may have at most {MAX_NUMBER_DIGITS}; send it as a string"
    )


def _cut(text: str) -> str:
    if len(text) <= _SHOWN:
        return text
    return f"{text[: _SHOWN // 2]}…{text[-_SHOWN // 4 :]}"


def _leaves(value: Any, *, keys: bool = False) -> Iterator[tuple[str, Any]]:
    """(JSON pointer, value) for every scalar of ``value``, and every key if ``keys``.

    A stack rather than recursion: a document as deep as the parser allows must not end it.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        pointer, item = stack.pop()
        if isinstance(item, dict):
            for key, member in reversed(item.items()):
                inner = (
                    f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
                    if isinstance(key, str)
                    else f"{pointer}/{key}"
                )
                if keys and isinstance(key, str):
                    yield inner, key
                stack.append((inner, member))
        elif isinstance(item, list | tuple):
            stack.extend(
                (f"{pointer}/{index}", member) for index, member in reversed(list(enumerate(item)))
            )
        else:
            yield pointer, item
