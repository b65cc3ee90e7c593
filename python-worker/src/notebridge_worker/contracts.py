"""Contracts: manifests, their compiled schemas, their digest and the violations they find.

A contract is one ``*.json`` manifest in a contracts directory (see contracts/summarize.v1.json)
pointing at a request and a response JSON Schema, and for a ``stream`` contract at a chunk
schema (see contracts/generate.v1.json). Loading checks everything that could
otherwise fail while serving: the manifest's fields, every schema against its meta-schema,
every ``pattern`` against RE2 (the Go gateway's regexp engine), every ``$ref``, and every
example. The dialect is the one docs/protocol.md fixes for both sides: draft 2020-12 unless
``$schema`` says otherwise, ``format`` annotates only, numbers are exact.
"""

import ast
import functools
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, Inexact, localcontext
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit
from urllib.request import url2pathname

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
from referencing import Registry, Resource, Specification
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import specification_with

from notebridge_worker import exactjson, fastpath, integers, portable
from notebridge_worker.canonical import canonical_schema
from notebridge_worker.protocol import contract_ref

MANIFEST_FIELDS = frozenset(
    {
        "name",
        "version",
        "description",
        "mode",
        "timeout_seconds",
        "deprecated",
        "request_schema",
        "response_schema",
        "examples",
        # Stream mode only.
        "chunk_schema",
        "merge",
        "idle_timeout_seconds",
        # Job mode only.
        "max_attempts",
        "ack_wait_seconds",
    }
)
EXAMPLE_FIELDS = frozenset({"name", "request", "response"})
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
"""A contract name is one NATS subject token and one URL path segment."""
SYNC = "sync"
"""One request, one reply."""
STREAM = "stream"
"""One request, a sequence of chunks (the handler is a generator)."""
JOB = "job"
"""One request that becomes a durable job, pulled from JetStream (notebridge_worker.jobs)."""
SUPPORTED_MODES = frozenset({SYNC, STREAM, JOB})
MAX_TIMEOUT_SECONDS = 3600
"""Past an hour, a request is a job, not a sync call or a stream."""
MAX_JOB_TIMEOUT_SECONDS = 86400
"""The bound of one attempt of a job."""
DEFAULT_IDLE_TIMEOUT_SECONDS = 10.0
"""How long a stream may be silent when its manifest does not say."""
MAX_ATTEMPTS_BOUND = 100
MAX_ACK_WAIT_SECONDS = 3600
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_ACK_WAIT_SECONDS = 30.0
DEFAULT_DIALECT = Draft202012Validator
_DIALECTS: dict[str, type[Validator]] = {
    "2020-12": Draft202012Validator,
    "2019-09": Draft201909Validator,
    "draft-07": Draft7Validator,
    "draft-06": Draft6Validator,
    "draft-04": Draft4Validator,
}
"""The validator class of each dialect both sides implement (notebridge_worker.portable)."""


class ContractError(Exception):
    """A contract, one of its schemas or one of its examples cannot be enforced.

    The message names the file and, inside a schema, the JSON pointer of each problem,
    one problem per line.
    """


class Violation(TypedDict):
    """One way a JSON value breaks a schema, in the shape the gateway's 422 answers use."""

    instancePath: str
    keyword: str
    message: str


@dataclass(frozen=True)
class Example:
    """A request a contract documents, and the response a deterministic handler gives."""

    name: str
    request: Any
    response: Any | None = None


@dataclass(frozen=True)
class Merge:
    """How a stream contract's chunks become one JSON reply; exactly one field is set.

    ``concat`` names a string member of every chunk: the reply is ``{concat: the members
    joined}``. ``collect`` names the reply's one member, the list of every chunk. The
    gateway merges this way for clients that ask for ``application/json``.
    """

    concat: str | None = None
    collect: str | None = None

    def apply(self, chunks: list[Any]) -> dict[str, Any]:
        """The reply the gateway builds from ``chunks`` (JSON values).

        Raises ValueError if a chunk lacks what ``concat`` needs.
        """
        if self.concat:
            parts = []
            for number, chunk in enumerate(chunks, start=1):
                part = chunk.get(self.concat) if isinstance(chunk, dict) else None
                if not isinstance(part, str):
                    raise ValueError(
                        f"cannot merge stream chunks: chunk {number} has no string {self.concat!r}"
                    )
                parts.append(part)
            return {self.concat: "".join(parts)}
        if self.collect:
            return {self.collect: list(chunks)}
        raise ValueError("cannot merge stream chunks: the merge names no strategy")


@dataclass(frozen=True)
class Contract:
    """One major version of a named contract, with its schemas compiled."""

    name: str
    version: int
    description: str
    mode: str
    timeout_seconds: float
    deprecated: bool
    examples: tuple[Example, ...]
    digest: str
    """``sha256:<hex>`` over the schema files (docs/protocol.md, "Contract digest")."""
    manifest_path: Path
    request_schema_path: Path
    response_schema_path: Path | None
    """None only for a stream contract without ``merge``: it has no single reply."""
    request_validator: Validator = field(repr=False, compare=False)
    response_validator: Validator | None = field(repr=False, compare=False)
    chunk_schema_path: Path | None = None
    """The schema of every chunk of a stream contract; None for other modes."""
    chunk_validator: Validator | None = field(default=None, repr=False, compare=False)
    merge: Merge | None = None
    """How the chunks of a stream contract merge into one reply, if they can."""
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    """How long a stream may go without a message before the gateway presumes it dead."""
    request_check: fastpath.Check = field(default=fastpath.never, repr=False, compare=False)
    """Proves a request valid without the validator (notebridge_worker.fastpath)."""
    response_check: fastpath.Check = field(default=fastpath.never, repr=False, compare=False)
    chunk_check: fastpath.Check = field(default=fastpath.never, repr=False, compare=False)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """How many times a job of this contract is delivered to a worker at most (job mode)."""
    ack_wait_seconds: float = DEFAULT_ACK_WAIT_SECONDS
    """How long a worker may hold a job without a heartbeat before it is delivered again."""
    request_integers: integers.Convert | None = field(default=None, repr=False, compare=False)
    """Turns 2.0 into 2 where the request schema says integer (notebridge_worker.integers);
    None when it says integer nowhere."""

    @property
    def ref(self) -> str:
        """The protocol's name of this contract version, e.g. ``summarize/v1``."""
        return contract_ref(self.name, self.version)

    def request_violations(self, instance: Any) -> list[Violation]:
        """Return every way ``instance`` breaks the request schema, [] if it is valid."""
        return violations(self.request_validator, instance)

    def response_violations(self, instance: Any) -> list[Violation]:
        """Return every way ``instance`` breaks the response schema, [] if it is valid."""
        if self.response_validator is None:
            raise ValueError(f"{self.ref} has no response schema")
        return violations(self.response_validator, instance)

    def chunk_violations(self, instance: Any) -> list[Violation]:
        """Return every way ``instance`` breaks the chunk schema, [] if it is valid."""
        if self.chunk_validator is None:
            raise ValueError(f"{self.ref} is not a stream contract: it has no chunk schema")
        return violations(self.chunk_validator, instance)


def load_contracts(contracts_dir: str | os.PathLike[str]) -> dict[str, Contract]:
    """Load every ``*.json`` manifest in ``contracts_dir``, keyed by ``<name>/v<N>``.

    Raises ContractError listing the problems of every manifest that cannot be enforced.
    """
    directory = Path(contracts_dir)
    if not directory.is_dir():
        raise ContractError(f"no contracts folder at {directory.resolve()}")
    manifests = sorted(directory.glob("*.json"))
    if not manifests:
        raise ContractError(f"{directory.resolve()}: no *.json contract manifests")
    contracts: dict[str, Contract] = {}
    problems: list[str] = []
    for manifest in manifests:
        try:
            contract = load_contract(manifest)
        except ContractError as error:
            problems.append(str(error))
            continue
        if contract.ref in contracts:
            other = contracts[contract.ref].manifest_path
            problems.append(f"{_display(manifest)}: {contract.ref} is also defined by {other}")
            continue
        contracts[contract.ref] = contract
    if problems:
        raise ContractError("\n".join(problems))
    return contracts


def load_contract(manifest_path: str | os.PathLike[str]) -> Contract:
    """Load one contract manifest, compile its schemas and check its examples.

    Raises ContractError with one line per problem found.
    """
    path = Path(manifest_path)
    where = _display(path)
    try:
        manifest = exactjson.parse_exact(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ContractError(f"{where}: {error}") from None
    problems = [f"{where}: {problem}" for problem in _manifest_problems(manifest)]
    if problems:
        raise ContractError("\n".join(problems))

    # The digest's roles, in its order (docs/protocol.md): absent schemas have no line.
    roles = {
        role: _join(path.parent, manifest[f"{role}_schema"])
        for role in ("request", "response", "chunk")
        if manifest.get(f"{role}_schema")
    }
    schemas = _SchemaFiles.read(list(roles.values()))
    problems = schemas.problems()
    if problems:
        raise ContractError("\n".join(problems))
    validators = {role: schemas.validator(schema_path) for role, schema_path in roles.items()}
    request_validator = validators["request"]
    response_validator = validators.get("response")
    fast_checks = {role: schemas.fast_check(path) for role, path in roles.items()}

    examples = tuple(
        Example(item["name"], item["request"], item.get("response"))
        for item in manifest["examples"]
    )
    for index, example in enumerate(examples):
        checks = [("request", example.request, request_validator)]
        # A stream example's response is the merged reply; without merge there is no schema
        # for it, and, as in Go, nothing to check it against.
        if example.response is not None and response_validator is not None:
            checks.append(("response", example.response, response_validator))
        for part, instance, validator in checks:
            problems.extend(
                f"{where}#/examples/{index}/{part} ({example.name!r}): {explain(violation, part)}"
                for violation in violations(validator, instance)
            )
    if problems:
        raise ContractError("\n".join(problems))

    merge = manifest.get("merge")
    idle_timeout = manifest.get("idle_timeout_seconds") or DEFAULT_IDLE_TIMEOUT_SECONDS
    return Contract(
        name=manifest["name"],
        version=manifest["version"],
        description=manifest.get("description", ""),
        mode=manifest["mode"],
        timeout_seconds=float(manifest["timeout_seconds"]),
        deprecated=manifest.get("deprecated", False),
        examples=examples,
        digest=schemas.digest(list(roles.items())),
        manifest_path=path,
        request_schema_path=roles["request"],
        response_schema_path=roles.get("response"),
        request_validator=request_validator,
        response_validator=response_validator,
        chunk_schema_path=roles.get("chunk"),
        chunk_validator=validators.get("chunk"),
        request_check=fast_checks["request"],
        response_check=fast_checks.get("response", fastpath.never),
        chunk_check=fast_checks.get("chunk", fastpath.never),
        merge=(
            Merge(concat=merge.get("concat") or None, collect=merge.get("collect") or None)
            if merge is not None
            else None
        ),
        idle_timeout_seconds=(
            float(idle_timeout) if manifest["mode"] == STREAM else DEFAULT_IDLE_TIMEOUT_SECONDS
        ),
        max_attempts=manifest.get("max_attempts") or DEFAULT_MAX_ATTEMPTS,
        ack_wait_seconds=float(manifest.get("ack_wait_seconds") or DEFAULT_ACK_WAIT_SECONDS),
        request_integers=schemas.integer_plan(roles["request"]),
    )


def contract_digest(
    request_schema: str | os.PathLike[str],
    response_schema: str | os.PathLike[str] | None = None,
    chunk_schema: str | os.PathLike[str] | None = None,
) -> str:
    """Return the digest of a contract's schemas, as docs/protocol.md defines it.

    ``response_schema`` is None only for a stream contract without merge; ``chunk_schema`` is
    a stream contract's.
    """
    given = {"request": request_schema, "response": response_schema, "chunk": chunk_schema}
    roles = [
        (role, _join(Path.cwd(), os.fspath(schema)))
        for role, schema in given.items()
        if schema is not None
    ]
    schemas = _SchemaFiles.read([schema_path for _, schema_path in roles])
    if schemas.read_problems:
        raise ContractError("\n".join(schemas.read_problems))
    return schemas.digest(roles)


def violations(validator: Validator, instance: Any) -> list[Violation]:
    """Return every way ``instance`` breaks the validator's schema, sorted by instancePath.

    Like the Go gateway, each violation is a leaf: an ``anyOf`` that fails reports what is
    wrong in each branch rather than one "is not valid under any" line.
    """
    found = [
        Violation(
            instancePath=_pointer(error.absolute_path),
            # A false schema fails without a keyword.
            keyword=str(error.validator) if error.validator is not None else "false",
            message=_message(error),
        )
        for error in _leaves(validator.iter_errors(instance))
    ]
    found.sort(key=lambda violation: (violation["instancePath"], violation["keyword"]))
    return found


def explain(violation: Violation, document: str = "request") -> str:
    """One violation as a person reads it: ``summary: expected string, got null at /summary``.

    The line starts with the field at fault (``sentences[2]`` for an array item), or with
    ``document`` ("request", "reply") when the whole document is at fault.
    """
    pointer = violation["instancePath"]
    if not pointer:
        return f"{document}: {violation['message']}"
    tokens = [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]
    label = tokens[-1]
    if label.isdigit() and len(tokens) > 1:
        label = f"{tokens[-2]}[{label}]"
    return f"{label}: {violation['message']} at {pointer}"


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


_JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_COUNTS = {
    "minLength": ("at least", "character", "characters"),
    "maxLength": ("at most", "character", "characters"),
    "minItems": ("at least", "item", "items"),
    "maxItems": ("at most", "item", "items"),
    "minProperties": ("at least", "property", "properties"),
    "maxProperties": ("at most", "property", "properties"),
}
_MAX_SHOWN = 60
"""Characters of a value quoted in a message; a long text is cut with an ellipsis."""


def _message(error: ValidationError) -> str:
    """What is wrong, in JSON's words: ``expected string, got null``.

    jsonschema's own messages show Python values (``None is not of type 'string'``); a
    researcher reading the worker's log, or a client reading the gateway's answer, thinks in
    JSON. Keywords without a rewording keep jsonschema's message.
    """
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    got = _shown(instance)
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {wanted}, got {_json_type(instance)}"
    if keyword == "required":
        # jsonschema reports one error per missing property, named only in its message.
        missing = error.message.removesuffix(" is a required property")
        return f"missing required property {_shown(_literal(missing))}"
    if keyword == "enum":
        return f"expected one of {', '.join(_shown(value) for value in expected)}; got {got}"
    if keyword == "const":
        return f"expected {_shown(expected)}, got {got}"
    if keyword in _BOUNDS:
        return f"expected a number {_BOUNDS[keyword]} {_shown(expected)}, got {got}"
    if keyword in _COUNTS:
        bound, one, many = _COUNTS[keyword]
        # maxLength counts code points, as len() does.
        return f"expected {bound} {expected} {one if expected == 1 else many}, got {len(instance)}"
    if keyword == "pattern":
        return f"expected a string matching {_shown(expected)}, got {got}"
    if keyword == "multipleOf":
        return f"expected a multiple of {_shown(expected)}, got {got}"
    if keyword == "uniqueItems":
        return "expected unique items, got duplicates"
    if keyword is None:
        return f"no value is allowed here, got {got}"
    return error.message


def _json_type(value: Any) -> str:
    for name in _JSON_TYPES:
        if DEFAULT_DIALECT.TYPE_CHECKER.is_type(value, name) or (
            name == "number" and isinstance(value, Decimal)
        ):
            return name
    return type(value).__name__


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _shown(value: Any) -> str:
    """``value`` as JSON text, cut to a readable length."""
    try:
        text = exactjson.dumps(value).decode()
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _manifest_problems(manifest: Any) -> list[str]:
    """Check a manifest's fields the way the Go gateway does, so both load the same set."""
    if not isinstance(manifest, dict):
        return ["a contract manifest is a JSON object"]
    problems = [f"/{key}: unknown field" for key in sorted(set(manifest) - MANIFEST_FIELDS)]
    name = manifest.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        problems.append(f"/name: {name!r} must match {NAME_PATTERN.pattern}")
    version = manifest.get("version")
    if not _is_int(version) or version < 1:
        problems.append(f"/version: {version!r} must be an integer >= 1")
    if not isinstance(manifest.get("description", ""), str):
        problems.append("/description: must be a string")
    mode = manifest.get("mode")
    timeout = manifest.get("timeout_seconds")
    problems.extend(_mode_problems(manifest, mode, timeout if _is_number(timeout) else 0))
    limit = MAX_JOB_TIMEOUT_SECONDS if mode == JOB else MAX_TIMEOUT_SECONDS
    if not _is_number(timeout) or not 0 < timeout <= limit:
        problems.append(f"/timeout_seconds: {timeout!r} must be > 0 and <= {limit}")
    if not isinstance(manifest.get("deprecated", False), bool):
        problems.append("/deprecated: must be true or false")
    # A stream without merge has no single reply to describe.
    needs_response = mode != STREAM or manifest.get("merge") is not None
    for key in ("request_schema", "response_schema"):
        value = manifest.get(key)
        given = isinstance(value, str) and value
        if (value is not None and not isinstance(value, str)) or (
            not given and (key == "request_schema" or needs_response)
        ):
            problems.append(f"/{key}: must be a path relative to the manifest")
    examples = manifest.get("examples")
    if not isinstance(examples, list) or not examples:
        problems.append("/examples: a contract needs at least one example")
        return problems
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            problems.append(f"/examples/{index}: must be an object")
            continue
        problems.extend(
            f"/examples/{index}/{key}: unknown field"
            for key in sorted(set(example) - EXAMPLE_FIELDS)
        )
        if not isinstance(example.get("name"), str):
            problems.append(f"/examples/{index}/name: must be a string")
        if "request" not in example:
            problems.append(f"/examples/{index}: missing request")
    return problems


def _mode_problems(manifest: dict[str, Any], mode: Any, timeout: Any) -> list[str]:
    """The rules of each mode and of its own fields, as the Go gateway's manifest.problems.

    Like Go, an absent field, ``null``, ``""`` and ``0`` are all "not given".
    """
    problems = []
    chunk_schema, merge = manifest.get("chunk_schema"), manifest.get("merge")
    idle_timeout = manifest.get("idle_timeout_seconds")
    max_attempts, ack_wait = manifest.get("max_attempts"), manifest.get("ack_wait_seconds")
    if chunk_schema is not None and not isinstance(chunk_schema, str):
        problems.append("/chunk_schema: must be a path relative to the manifest")
    if idle_timeout is not None and not _is_number(idle_timeout):
        problems.append("/idle_timeout_seconds: must be a number")
        idle_timeout = None
    if merge is not None and not (
        isinstance(merge, dict)
        and all(isinstance(merge.get(key), str | None) for key in ("concat", "collect"))
    ):
        problems.append('/merge: must be an object: {"concat": field} or {"collect": field}')
        merge = None
    if max_attempts is not None and not _is_int(max_attempts):
        problems.append("/max_attempts: must be an integer")
        max_attempts = None
    if ack_wait is not None and not _is_number(ack_wait):
        problems.append("/ack_wait_seconds: must be a number")
        ack_wait = None

    stream_only = bool(chunk_schema) or merge is not None or bool(idle_timeout)
    job_only = max_attempts is not None or ack_wait is not None
    if stream_only and mode in (SYNC, JOB):
        problems.append(
            f"/mode: chunk_schema, merge and idle_timeout_seconds are for mode {STREAM!r} only"
        )
    if job_only and mode in (SYNC, STREAM):
        problems.append(f"/mode: max_attempts and ack_wait_seconds are for mode {JOB!r} only")
    if mode == JOB:
        if max_attempts is not None and not 1 <= max_attempts <= MAX_ATTEMPTS_BOUND:
            problems.append(f"/max_attempts: {max_attempts} must be >= 1 and <= 100")
        if ack_wait is not None and not 0 < ack_wait <= MAX_ACK_WAIT_SECONDS:
            problems.append(
                f"/ack_wait_seconds: {ack_wait} must be > 0 and <= {MAX_ACK_WAIT_SECONDS}"
            )
    elif mode == STREAM:
        if not chunk_schema:
            problems.append("/chunk_schema: missing: a stream contract needs a chunk schema")
        if idle_timeout is not None and (idle_timeout < 0 or idle_timeout > timeout):
            problems.append(
                f"/idle_timeout_seconds: {idle_timeout} must be > 0 and <= timeout_seconds"
            )
        if merge is not None and bool(merge.get("concat")) == bool(merge.get("collect")):
            problems.append("/merge: set exactly one of concat and collect")
    elif mode != SYNC:
        supported = ", ".join(sorted(SUPPORTED_MODES))
        problems.append(f"/mode: {mode!r} is not supported; use {supported}")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


class _SchemaFiles:
    """The schema files a contract reaches from its two root schemas through ``$ref``."""

    def __init__(self) -> None:
        self.documents: dict[Path, Any] = {}
        self.hashes: dict[Path, str] = {}
        self.read_problems: list[str] = []

    @classmethod
    def read(cls, roots: list[Path]) -> "_SchemaFiles":
        """Read the roots and every file their ``$ref``s reach (docs/protocol.md, step 1)."""
        files = cls()
        queue: list[tuple[Path, str | None]] = [(root, None) for root in roots]
        seen: set[Path] = set()
        while queue:
            path, referrer = queue.pop(0)
            if path in seen:
                continue
            seen.add(path)
            try:
                raw = path.read_bytes()
            except OSError as error:
                via = f" (reached from {referrer})" if referrer else ""
                files.read_problems.append(f"{_display(path)}: {error.strerror}{via}")
                continue
            try:
                document = exactjson.parse_exact(raw)
                files.hashes[path] = hashlib.sha256(canonical_schema(raw)).hexdigest()
            except ValueError as error:
                files.read_problems.append(f"{_display(path)}: not JSON: {error}")
                continue
            files.documents[path] = document
            for pointer, ref in _refs(document):
                file_part = ref.split("#", 1)[0]
                # Absolute URIs are not files of the contract; the Go side skips them too.
                if file_part and ":" not in file_part:
                    queue.append((_join(path.parent, file_part), f"{_display(path)}#{pointer}"))
        return files

    def digest(self, roles: list[tuple[str, Path]]) -> str:
        """The contract digest (docs/protocol.md, steps 2 to 4).

        ``roles`` are the schemas the manifest names, in the order request, response, chunk,
        each with the role it names it for.
        """
        text = "".join(f"{role} {self.hashes[schema_path]}\n" for role, schema_path in roles)
        text += "".join(f"{hex_digest}\n" for hex_digest in sorted(set(self.hashes.values())))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def problems(self) -> list[str]:
        """Every reason these schemas cannot be enforced, one line each.

        The constructs the gateway and the worker would not load alike (portable.py) come
        first, then meta-schema violations, then files that could not be read.
        """
        problems = []
        for path, document in self.documents.items():
            problems.extend(_schema_problems(path, document))
        problems.extend(self.read_problems)
        if problems:
            return problems
        for path, document in self.documents.items():
            resolver = self.registry.resolver(base_uri=path.as_uri())
            for pointer, ref in portable.refs(document):
                try:
                    resolver.lookup(ref)
                except Unresolvable as error:
                    problems.append(f"{_display(path)}#{pointer}: cannot resolve {ref!r}: {error}")
        return problems

    @functools.cached_property
    def dialects(self) -> dict[Path, type[Validator]]:
        """The validator class each file's ``$schema`` names."""
        return {path: _dialect(document) for path, document in self.documents.items()}

    @functools.cached_property
    def registry(self) -> Registry:
        """A registry holding every file read, by file URI; it loads others from disk."""
        resources = [
            (path.as_uri(), _resource(document, self.dialects[path]))
            for path, document in self.documents.items()
        ]
        return Registry(retrieve=_retrieve).with_resources(resources).crawl()

    def validator(self, root: Path) -> Validator:
        """A validator for the schema in ``root``, resolving its ``$ref``s from files."""
        dialect = self.dialects[root]
        others = {path for path, other in self.dialects.items() if other is not dialect}
        if others:
            # The validator cannot switch dialect on a $ref without losing the RE2 and
            # exact-number rules, so one contract's schemas share one dialect (the gateway
            # refuses the same, in the same words).
            listed = ", ".join(sorted(_display(path) for path in others))
            verb = "uses" if len(others) == 1 else "use"
            raise ContractError(
                f"{_display(root)}: {listed} {verb} another $schema than this file: "
                "a contract's schema files share one dialect"
            )
        # The root is entered through a $ref so that its relative $refs resolve against its
        # file, exactly as they do for every file it reaches.
        return _enforcing(dialect)({"$ref": root.as_uri()}, registry=self.registry)

    def fast_check(self, root: Path) -> fastpath.Check:
        """The fast path's check for the schema in ``root`` (draft 2020-12 only)."""
        dialect = self.dialects[root]
        if dialect is not DEFAULT_DIALECT:
            # Older drafts read items, $ref and dependencies differently; they keep the
            # full validator alone.
            return fastpath.never
        return fastpath.compile_check(
            {"$ref": root.as_uri()}, self.registry.resolver(), _enforcing(dialect).VALIDATORS
        )

    def integer_plan(self, root: Path) -> integers.Convert | None:
        """The conversion to int where the schema in ``root`` says integer (2020-12 only)."""
        if self.dialects[root] is not DEFAULT_DIALECT:
            return None
        return integers.compile_plan({"$ref": root.as_uri()}, self.registry.resolver())


def _join(directory: Path, relative: str) -> Path:
    # Lexical, like Go's filepath.Join: "a/../b.json" is b.json even if a is a symlink.
    return Path(os.path.abspath(os.path.join(directory, relative)))


def _refs(document: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Yield (JSON pointer, value) for every ``$ref`` in a schema document."""
    if isinstance(document, dict):
        ref = document.get("$ref")
        if isinstance(ref, str):
            yield f"{pointer}/$ref", ref
        for key, value in document.items():
            yield from _refs(value, f"{pointer}/{_escape(key)}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _refs(value, f"{pointer}/{index}")


def _dialect(document: Any) -> type[Validator]:
    """The validator class of a schema document's ``$schema``, draft 2020-12 if it has none.

    Only the dialects both sides implement alike are known (notebridge_worker.portable).
    """
    dialect = _DIALECTS.get(portable.dialect(document))
    if dialect is None:
        raise ContractError(f"unknown $schema {document['$schema']!r}")
    return dialect


def _resource(document: Any, dialect: type[Validator]) -> Resource:
    specification: Specification = specification_with(dialect.META_SCHEMA["$schema"])
    if isinstance(document, dict) and "$schema" in document:
        # jsonschema picks a stock validator class for any subschema carrying $schema, which
        # would drop the RE2 and exact-number rules below; the dialect is known already.
        document = {key: value for key, value in document.items() if key != "$schema"}
    return specification.create_resource(document)


def _retrieve(uri: str) -> Resource:
    """Load a schema that no file of the contract reached by relative path (e.g. via $id)."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise NoSuchResource(ref=uri)
    path = Path(url2pathname(parts.path))
    try:
        document = exactjson.parse_exact(path.read_bytes())
    except (OSError, ValueError) as error:
        raise NoSuchResource(ref=uri) from error
    return _resource(document, _dialect(document))


def _schema_problems(path: Path, document: Any) -> list[str]:
    """Check one schema document: what the two sides would not load alike, then its meta-schema,
    with patterns checked as RE2."""
    where = _display(path)
    found = portable.problems(document)
    problems = [f"{where}#{pointer}: {message}" for pointer, message in found]
    reported = {pointer for pointer, _ in found}
    try:
        dialect = _dialect(document)
    except ContractError:
        return problems  # portable.problems said which $schema to use
    for error in _meta_validator(dialect).iter_errors(document):
        pointer = _pointer(error.absolute_path)
        if pointer in reported:
            continue  # already said, with what to write instead
        if error.validator == "format" and error.validator_value == "regex":
            if "propertyNames" in error.absolute_schema_path:
                # A patternProperties key: the meta-schema reports the object, not the key.
                pointer += "/" + _escape(str(error.instance))
            problems.append(f"{where}#{pointer}: not RE2: {_re2_message(error.cause)}")
        else:
            problems.append(f"{where}#{pointer}: invalid schema: {error.message}")
    return problems


def _re2_message(error: BaseException | None) -> str:
    detail = error.args[0] if error is not None and error.args else error
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


_RE2_OPTIONS = re2.Options()
# A pattern that does not compile is reported by load; RE2's own stderr line would be noise.
_RE2_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=4096)
def _compile_re2(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


_RE2_FORMATS = FormatChecker(formats=())


@_RE2_FORMATS.checks("regex", raises=re2.error)
def _is_re2(value: object) -> bool:
    if isinstance(value, str):
        _compile_re2(value)
        problem = portable.unknown_class_problem(value)
        if problem:
            raise re2.error(problem)
    return True


@functools.cache
def _meta_validator(dialect: type[Validator]) -> Validator:
    meta_dialect = validator_for(dialect.META_SCHEMA, default=dialect)
    return meta_dialect(dialect.META_SCHEMA, format_checker=_RE2_FORMATS)


def _matches(pattern: str, text: str) -> bool:
    """Whether RE2 finds ``pattern`` in ``text``. A text that is not valid Unicode (a lone
    surrogate, which RE2 cannot take) matches no pattern; the worker refuses such requests."""
    try:
        return _compile_re2(pattern).search(text) is not None
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
        listed = ", ".join(_shown(extra) for extra in sorted(extras))
        noun = "property" if len(extras) == 1 else "properties"
        yield ValidationError(f"unexpected {noun} {listed}")


def _multiple_of(validator: Validator, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "number") and not _is_multiple(instance, divisor):
        yield ValidationError(f"{instance!r} is not a multiple of {divisor!r}")


def _is_multiple(number: Any, divisor: Any) -> bool:
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
def _enforcing(dialect: type[Validator]) -> type[Validator]:
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
                        f"missing property {_shown(other)}, required when {_shown(name)} is present"
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


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(path: Iterable[Any]) -> str:
    """An RFC 6901 JSON pointer, "" for the whole document."""
    return "".join(f"/{_escape(str(part))}" for part in path)


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else absolute."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


__all__ = [
    "Contract",
    "ContractError",
    "Example",
    "Merge",
    "Violation",
    "contract_digest",
    "explain",
    "load_contract",
    "load_contracts",
    "violations",
]
