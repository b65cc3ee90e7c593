"""Patterns run by RE2, the Go gateway's regexp engine, so that both sides match alike."""

import functools
from typing import Any

import re2


def re2_message(error: BaseException | None) -> str:
    """What RE2 said about a pattern it refused, as text."""
    detail = error.args[0] if error is not None and error.args else error
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


_RE2_OPTIONS = re2.Options()
# A pattern that does not compile is reported by load; RE2's own stderr line would be noise.
_RE2_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached); raises re2.error if RE2 refuses it."""
    return re2.compile(pattern, _RE2_OPTIONS)
