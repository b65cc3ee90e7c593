"""Integers where the schema says integer: each contract schema's conversion plan.

JSON Schema counts ``2.0`` and ``1e2`` as integers, so a request ``{"max_sentences": 2.0}``
passes a schema that says ``"type": "integer"``; a handler written for that schema expects
an ``int`` (``sentences[:count]``) and must get one. A schema is compiled once, here, into a
function that walks only the parts of a request where the schema says integer and turns each
integral number written with a fraction or an exponent into the exact ``int``.

Where a position says integer:

- its ``type`` is ``integer`` (or a list of types with ``integer`` and without ``number``);
- or one of the schemas that apply there with it says so: ``allOf`` items, ``$ref`` targets;
- or, for ``anyOf`` and ``oneOf``, every branch that admits a number says integer:
  ``{"anyOf": [{"type": "integer"}, {"type": "null"}]}`` (an optional integer) converts,
  ``{"anyOf": [{"type": "integer"}, {"type": "number"}]}`` does not. Inside an object or an
  array, an ``anyOf``/``oneOf`` is followed into the one branch that admits objects (arrays):
  a valid value must match it. With several such branches, the value is left as parsed
  rather than guessed at.

The plan follows ``properties``, ``patternProperties``, ``additionalProperties``,
``prefixItems``, ``items``, ``$ref``, ``allOf``, ``anyOf`` and ``oneOf``; numbers under
``not``, ``if``/``then``/``else``, ``dependentSchemas``, ``contains``, ``unevaluated*`` and
``$dynamicRef`` are left as parsed. Only draft 2020-12 schemas have a plan, as only they have
a fast path.

The plan runs on a request already valid against the schema, so it never has to decide what
is valid. A request proven valid by the fast path as orjson read it needs no plan: the fast
path never proves ``integer`` for a float, so such a request has ints wherever the schema
says integer (tests/test_properties.py checks this too).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from referencing.jsonschema import DRAFT202012

from notebridge_worker.re2patterns import compile_re2

if TYPE_CHECKING:
    from referencing._core import Resolver

Convert = Callable[[Any, Any], Any]
"""``convert(value, exact)``: ``value`` (the handler's argument) with integers converted.

``exact`` is the same document parsed with exact numbers (notebridge_worker.exactjson); it is
``value`` itself when the handler takes exact numbers. Containers are changed in place.
"""

_NUMBER, _INTEGER = "number", "integer"
_OTHERS = frozenset({"null", "boolean", "string", "object", "array"})
_ANY = frozenset({*_OTHERS, _NUMBER})
"""A set of JSON types a schema admits; "number" means any number, "integer" only integers."""


def compile_plan(schema: Any, resolver: Resolver) -> Convert | None:
    """The conversion of ``schema`` (draft 2020-12), or None when no position says integer.

    ``$ref`` resolves with ``resolver``.
    """
    nodes = _Graph()
    root = nodes.node(schema, resolver)
    nodes.settle()
    if not root.live:
        return None
    return nodes.emit(root)


def _and(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    """What a value valid against both admits: a number only if both do, an integer if either
    asks for one."""
    kinds = a & b & _OTHERS
    if _NUMBER in a and _NUMBER in b:
        return kinds | {_NUMBER}
    if (_NUMBER in a or _INTEGER in a) and (_NUMBER in b or _INTEGER in b):
        return kinds | {_INTEGER}
    return kinds


def _or(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    kinds = a | b
    return kinds - {_INTEGER} if _NUMBER in kinds else kinds


def _own_kinds(schema: dict[str, Any]) -> frozenset[str]:
    names = schema.get("type")
    if names is None:
        return _ANY
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list):
        return _ANY
    return _or(frozenset(name for name in names if isinstance(name, str)), frozenset())


class _Node:
    """One subschema: its own type, what applies to an object's members and an array's
    items, and the schemas that apply with it (``allOf``, ``$ref``) or instead (``anyOf``)."""

    def __init__(self) -> None:
        self.own: frozenset[str] = _ANY
        self.properties: dict[str, _Node] = {}
        self.patterns: list[tuple[str, _Node]] = []
        self.additional: _Node | None = None
        self.prefix: list[_Node] = []
        self.items: _Node | None = None
        self.conjuncts: list[_Node] = []
        self.choices: list[list[_Node]] = []
        self.kinds: frozenset[str] = _ANY
        self.live = False
        """The node, or something it applies, says integer somewhere: it has work to do."""

    @property
    def integral(self) -> bool:
        return _INTEGER in self.kinds

    def edges(self) -> list[_Node]:
        found = [*self.properties.values(), *(node for _, node in self.patterns)]
        found += [node for node in (self.additional, self.items) if node is not None]
        found += self.prefix + self.conjuncts
        found += [node for choice in self.choices for node in choice]
        return found

    def chosen(self, kind: str) -> list[_Node]:
        """What applies with this node to a value of ``kind`` (object or array)."""
        found = list(self.conjuncts)
        for choice in self.choices:
            admitting = [node for node in choice if kind in node.kinds]
            if len(admitting) == 1:
                found.append(admitting[0])
        return found


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[int, _Node] = {}
        self.emitted: dict[int, list[Convert]] = {}

    def node(self, schema: Any, resolver: Resolver) -> _Node:
        found = self.nodes.get(id(schema))
        if found is not None:
            return found
        node = self.nodes[id(schema)] = _Node()
        if schema is False:
            node.own = frozenset()
        if not isinstance(schema, dict):
            return node
        if isinstance(schema.get("$id"), str):
            # A nested $id moves the base URI its $refs resolve against.
            resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
        node.own = _own_kinds(schema)
        properties = schema.get("properties")
        if isinstance(properties, dict):
            node.properties = {name: self.node(sub, resolver) for name, sub in properties.items()}
        patterns = schema.get("patternProperties")
        if isinstance(patterns, dict):
            node.patterns = [
                (pattern, self.node(sub, resolver)) for pattern, sub in patterns.items()
            ]
        if "additionalProperties" in schema:
            node.additional = self.node(schema["additionalProperties"], resolver)
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            node.prefix = [self.node(sub, resolver) for sub in prefix]
        if "items" in schema:
            node.items = self.node(schema["items"], resolver)
        all_of = schema.get("allOf")
        if isinstance(all_of, list):
            node.conjuncts = [self.node(sub, resolver) for sub in all_of]
        ref = schema.get("$ref")
        if isinstance(ref, str):
            resolved = resolver.lookup(ref)
            node.conjuncts.append(self.node(resolved.contents, resolved.resolver))
        for keyword in ("anyOf", "oneOf"):
            branches = schema.get(keyword)
            if isinstance(branches, list) and branches:
                node.choices.append([self.node(sub, resolver) for sub in branches])
        return node

    def settle(self) -> None:
        """Compute what each node admits, then which nodes have work to do.

        Admitted kinds are over-estimated where schemas refer to themselves (a cycle admits
        anything), which can only leave a number unconverted, never convert one wrongly.
        """
        pending: set[int] = set()
        done: dict[int, frozenset[str]] = {}

        def kinds(node: _Node) -> frozenset[str]:
            if id(node) in done:
                return done[id(node)]
            if id(node) in pending:
                return _ANY
            pending.add(id(node))
            found = node.own
            for conjunct in node.conjuncts:
                found = _and(found, kinds(conjunct))
            for choice in node.choices:
                either: frozenset[str] = frozenset()
                for branch in choice:
                    either = _or(either, kinds(branch))
                found = _and(found, either)
            pending.discard(id(node))
            done[id(node)] = found
            return found

        nodes = list(self.nodes.values())
        for node in nodes:
            node.kinds = kinds(node)
        for node in nodes:
            node.live = node.integral
        changed = True
        while changed:
            changed = False
            for node in nodes:
                if not node.live and any(edge.live for edge in node.edges()):
                    node.live = changed = True

    def emit(self, node: _Node) -> Convert:
        cell = self.emitted.get(id(node))
        if cell is not None:
            return lambda value, exact: cell[0](value, exact)
        cell = self.emitted[id(node)] = [_identity]
        cell[0] = self._convert(node)
        return cell[0]

    def _convert(self, node: _Node) -> Convert:
        live = [(name, self.emit(child)) for name, child in node.properties.items() if child.live]
        declared = frozenset(node.properties)
        searches = [
            (compile_re2(pattern).search, self.emit(child) if child.live else None)
            for pattern, child in node.patterns
        ]
        additional = (
            self.emit(node.additional)
            if node.additional is not None and node.additional.live
            else None
        )
        by_name = bool(additional or any(convert for _, convert in searches))
        object_also = [self.emit(other) for other in node.chosen("object") if other.live]
        prefix = [self.emit(child) if child.live else None for child in node.prefix]
        items = self.emit(node.items) if node.items is not None and node.items.live else None
        skip = len(prefix)
        array_also = [self.emit(other) for other in node.chosen("array") if other.live]
        integral = node.integral

        def convert_object(value: dict[str, Any], exact: dict[str, Any]) -> None:
            for name, convert_member in live:
                if name in value:
                    value[name] = convert_member(value[name], exact[name])
            if by_name:
                for name in value:
                    matched = False
                    for search, convert_member in searches:
                        if _found(search, name):
                            matched = True
                            if convert_member is not None:
                                value[name] = convert_member(value[name], exact[name])
                    if not matched and additional is not None and name not in declared:
                        value[name] = additional(value[name], exact[name])
            for convert_also in object_also:
                convert_also(value, exact)

        def convert_array(value: list[Any], exact: list[Any]) -> None:
            for index, convert_item in enumerate(prefix[: len(value)]):
                if convert_item is not None:
                    value[index] = convert_item(value[index], exact[index])
            if items is not None:
                for index in range(skip, len(value)):
                    value[index] = items(value[index], exact[index])
            for convert_also in array_also:
                convert_also(value, exact)

        def convert(value: Any, exact: Any) -> Any:
            kind = type(value)
            if kind is dict:
                convert_object(value, exact)
            elif kind is list:
                convert_array(value, exact)
            elif integral and isinstance(exact, Decimal) and exact == exact.to_integral_value():
                # Exact, and bounded: a number written with a fraction or an exponent is
                # below 1e308 in the protocol's numeric domain.
                return int(exact)
            return value

        return convert


def _found(search: Callable[[str], Any], name: str) -> bool:
    try:
        return search(name) is not None
    except UnicodeEncodeError:  # not valid Unicode text: matches no pattern
        return False


def _identity(value: Any, exact: Any) -> Any:
    return value
