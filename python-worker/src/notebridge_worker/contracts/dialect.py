"""The dialect both sides enforce (docs/protocol.md): jsonschema's validators with RE2
patterns, exact numbers, and the keywords whose stock behaviour differs from the Go side's."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from decimal import Decimal, Inexact, localcontext
from typing import Any

import re2
from jsonschema import (
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
    FormatChecker,
    ValidationError,
)
from jsonschema._utils import (
    find_evaluated_item_indexes_by_schema,
    find_evaluated_property_keys_by_schema,
)
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for

from notebridge_worker import exactjson, portable
from notebridge_worker.re2patterns import compile_re2

DEFAULT_DIALECT = Draft202012Validator


DIALECTS: dict[str, type[Validator]] = {
    "2020-12": Draft202012Validator,
    "2019-09": Draft201909Validator,
    "draft-07": Draft7Validator,
    "draft-06": Draft6Validator,
    "draft-04": Draft4Validator,
}
"""The validator class of each dialect both sides implement (notebridge_worker.portable)."""


_MAX_SHOWN = 60
"""Characters of a value quoted in a message; a long text is cut with an ellipsis."""


def shown(value: Any) -> str:
    """``value`` as JSON text, cut to a readable length."""
    try:
        text = exactjson.dumps(value).decode()
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


_RE2_FORMATS = FormatChecker(formats=())


@_RE2_FORMATS.checks("regex", raises=re2.error)
def _is_re2(value: object) -> bool:
    if isinstance(value, str):
        compile_re2(value)
        problem = portable.unknown_class_problem(value)
        if problem:
            raise re2.error(problem)
    return True


@functools.cache
def meta_validator(dialect: type[Validator]) -> Validator:
    meta_dialect = validator_for(dialect.META_SCHEMA, default=dialect)
    return meta_dialect(dialect.META_SCHEMA, format_checker=_RE2_FORMATS)


def _matches(pattern: str, text: str) -> bool:
    """Whether RE2 finds ``pattern`` in ``text``. A text that is not valid Unicode (a lone
    surrogate, which RE2 cannot take) matches no pattern; the worker refuses such requests."""
    try:
        return compile_re2(pattern).search(text) is not None
    except UnicodeEncodeError:
        return False


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in declared and not any(_matches(pattern, key) for pattern in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif additional is False and extras:
        listed = ", ".join(shown(extra) for extra in sorted(extras))
        noun = "property" if len(extras) == 1 else "properties"
        yield ValidationError(f"unexpected {noun} {listed}")


def _multiple_of(validator: Validator, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "number") and not is_multiple(instance, divisor):
        yield ValidationError(f"{instance!r} is not a multiple of {divisor!r}")


def is_multiple(number: Any, divisor: Any) -> bool:
    """Exact decimal divisibility, as Go's big.Rat computes it."""
    dividend, divisor = _as_decimal(number), _as_decimal(divisor)
    with localcontext() as context:
        # Enough digits for any integer quotient: dividing by a divisor with d digits adds at
        # most ~2.33 d digits to the dividend's (divisors of powers of ten are 2^a 5^b).
        context.prec = len(dividend.as_tuple().digits) + 3 * len(divisor.as_tuple().digits) + 2
        context.Emax, context.Emin = 999_999_999_999_999_999, -999_999_999_999_999_999
        context.traps[Inexact] = False
        quotient = dividend / divisor
        return not context.flags[Inexact] and quotient == quotient.to_integral_value()


def _as_decimal(number: Any) -> Decimal:
    if isinstance(number, float):
        # The shortest text that reads back as this float, i.e. what JSON would have carried.
        return Decimal(repr(number))
    return Decimal(number)


def _is_integral_decimal(instance: Any) -> bool:
    return (
        isinstance(instance, Decimal)
        and instance.is_finite()
        and instance == instance.to_integral_value()
    )


@functools.cache
def enforcing(dialect: type[Validator]) -> type[Validator]:
    """``dialect`` with the rules docs/protocol.md shares with Go: RE2, exact numbers."""
    stock_types = dialect.TYPE_CHECKER

    def is_integer(checker: Any, instance: Any) -> bool:
        # "1.0 is an integer", also when it arrives as an exact decimal.
        return stock_types.is_type(instance, "integer") or _is_integral_decimal(instance)

    replacements = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "multipleOf": _multiple_of,
        # Where jsonschema reports one error for what Go reports item by item, or at another
        # place, these report what the gateway reports (testdata/schema-suite.json).
        "propertyNames": _property_names,
        "dependentRequired": _dependent_required,
        "unevaluatedProperties": _unevaluated_properties,
        "unevaluatedItems": _unevaluated_items,
        "contains": _contains
        if dialect in (Draft201909Validator, DEFAULT_DIALECT)
        else _contains_one,
    }
    if "prefixItems" in dialect.VALIDATORS:
        replacements["items"] = _items_after_prefix
    enforcing = extend(
        dialect,
        validators={k: v for k, v in replacements.items() if k in dialect.VALIDATORS},
        type_checker=stock_types.redefine("integer", is_integer),
    )
    descend = enforcing.descend
    iter_errors = enforcing.iter_errors

    def descend_as_go_does(
        self: Any,
        instance: Any,
        schema: Any,
        path: Any = None,
        schema_path: Any = None,
        resolver: Any = None,
    ) -> Iterator[Any]:
        # jsonschema reports a false subschema at its parent's path ("" for
        # {"properties": {"f": false}}); Go, and a person, expect it at "/f".
        if schema is not False:
            yield from descend(
                self, instance, _type_alone(self, instance, schema), path, schema_path, resolver
            )
            return
        error = ValidationError(
            f"False schema does not allow {instance!r}",
            validator=None,
            validator_value=None,
            instance=instance,
            schema=schema,
        )
        if path is not None:
            error.path.appendleft(path)
        if schema_path is not None:
            error.schema_path.appendleft(schema_path)
        yield error

    def iter_errors_as_go_does(self: Any, instance: Any, _schema: Any = None) -> Any:
        if _schema is None:
            judged = _type_alone(self, instance, self.schema)
            if judged is not self.schema:
                self = self.evolve(schema=judged)
        yield from iter_errors(self, instance, _schema)

    enforcing.descend = descend_as_go_does
    enforcing.iter_errors = iter_errors_as_go_does
    return enforcing


def _type_alone(validator: Validator, instance: Any, schema: Any) -> Any:
    """``{"type": ...}`` of ``schema`` if ``instance`` has none of its types, else ``schema``.

    Like jsonschema/v5, a value of the wrong type is judged by its type alone: its enum, const
    and applicators are not reported too, so that both sides list the same violations.
    """
    if not isinstance(schema, dict) or "type" not in schema:
        return schema
    wanted = schema["type"]
    names = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(names, list) or any(
        isinstance(name, str) and validator.is_type(instance, name) for name in names
    ):
        return schema
    return {"type": wanted}


def _property_names(
    validator: Validator, property_names: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    """A property name that breaks ``propertyNames`` is reported at the property, as in Go."""
    if not validator.is_type(instance, "object"):
        return
    for name in instance:
        yield from validator.descend(name, property_names, path=name)


def _dependent_required(
    validator: Validator, dependent_required: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for name, others in dependent_required.items():
        if name in instance:
            for other in others:
                if other not in instance:
                    yield ValidationError(
                        f"missing property {shown(other)}, required when {shown(name)} is present"
                    )


def _unevaluated_properties(
    validator: Validator, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    """Each property no other keyword evaluated, checked at its path, as in Go."""
    if not validator.is_type(instance, "object"):
        return
    evaluated = find_evaluated_property_keys_by_schema(validator, instance, schema)
    for name, value in instance.items():
        if name not in evaluated:
            yield from validator.descend(value, unevaluated, path=name, schema_path=name)


def _unevaluated_items(
    validator: Validator, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    """Each item no other keyword evaluated, checked at its path, as in Go."""
    if not validator.is_type(instance, "array"):
        return
    evaluated = find_evaluated_item_indexes_by_schema(validator, instance, schema)
    for index, item in enumerate(instance):
        if index not in evaluated:
            yield from validator.descend(item, unevaluated, path=index)


def _contains(validator: Validator, contains: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``contains`` with ``minContains`` and ``maxContains``, reported as jsonschema/v5 does.

    Too few matches: what is wrong with each item that does not match, or, when every item
    matches, the count. Too many: the count.
    """
    yield from _contains_counted(
        validator, contains, instance, schema.get("minContains", 1), schema.get("maxContains")
    )


def _contains_one(validator: Validator, contains: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``contains`` before draft 2019-09, which had no ``minContains`` or ``maxContains``."""
    yield from _contains_counted(validator, contains, instance, 1, None)


def _contains_counted(
    validator: Validator, contains: Any, instance: Any, least: Any, most: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "array"):
        return
    matched, mismatches = 0, []
    for index, item in enumerate(instance):
        errors = list(validator.descend(item, contains, path=index))
        if errors:
            mismatches.extend(errors)
        else:
            matched += 1
    if matched < least:
        if mismatches:
            yield from mismatches
        else:
            yield ValidationError(
                f"expected at least {least} items matching contains, got {matched}",
                validator="minContains",
                validator_value=least,
            )
    if most is not None and matched > most:
        yield ValidationError(
            f"expected at most {most} items matching contains, got {matched}",
            validator="maxContains",
            validator_value=most,
        )


def _items_after_prefix(
    validator: Validator, items: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    """Draft 2020-12 ``items``, where ``false`` fails at each extra item, as in Go."""
    if not validator.is_type(instance, "array"):
        return
    for index in range(len(schema.get("prefixItems", [])), len(instance)):
        yield from validator.descend(instance[index], items, path=index)
