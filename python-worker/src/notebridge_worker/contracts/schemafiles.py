"""A contract's schema files: read, checked against their meta-schemas, their $refs
resolved among them, compiled, and digested (docs/protocol.md, "Contract digest")."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jsonschema.protocols import Validator
from referencing import Registry, Resource, Specification
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import specification_with

from notebridge_worker import exactjson, integers, portable
from notebridge_worker.canonical import canonical_schema
from notebridge_worker.contracts import fastcheck
from notebridge_worker.contracts.dialect import (
    DEFAULT_DIALECT,
    DIALECTS,
    enforcing,
    meta_validator,
)
from notebridge_worker.contracts.model import ContractError
from notebridge_worker.contracts.violations import escape_token, json_pointer
from notebridge_worker.re2patterns import re2_message


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
        (role, join(Path.cwd(), os.fspath(schema)))
        for role, schema in given.items()
        if schema is not None
    ]
    schemas = SchemaFiles.read([schema_path for _, schema_path in roles])
    if schemas.read_problems:
        raise ContractError("\n".join(schemas.read_problems))
    return schemas.digest(roles)


class SchemaFiles:
    """The schema files a contract reaches from its two root schemas through ``$ref``."""

    def __init__(self) -> None:
        self.documents: dict[Path, Any] = {}
        self.hashes: dict[Path, str] = {}
        self.read_problems: list[str] = []

    @classmethod
    def read(cls, roots: list[Path]) -> SchemaFiles:
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
                files.read_problems.append(f"{display(path)}: {error.strerror}{via}")
                continue
            try:
                document = exactjson.parse_exact(raw)
                files.hashes[path] = hashlib.sha256(canonical_schema(raw)).hexdigest()
            except ValueError as error:
                files.read_problems.append(f"{display(path)}: not JSON: {error}")
                continue
            files.documents[path] = document
            for pointer, ref in _refs(document):
                file_part = ref.split("#", 1)[0]
                # Absolute URIs are not files of the contract; the Go side skips them too.
                if file_part and ":" not in file_part:
                    queue.append((join(path.parent, file_part), f"{display(path)}#{pointer}"))
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
                    problems.append(f"{display(path)}#{pointer}: cannot resolve {ref!r}: {error}")
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
            listed = ", ".join(sorted(display(path) for path in others))
            verb = "uses" if len(others) == 1 else "use"
            raise ContractError(
                f"{display(root)}: {listed} {verb} another $schema than this file: "
                "a contract's schema files share one dialect"
            )
        # The root is entered through a $ref so that its relative $refs resolve against its
        # file, exactly as they do for every file it reaches.
        return enforcing(dialect)({"$ref": root.as_uri()}, registry=self.registry)

    def fast_check(self, root: Path) -> fastcheck.Check:
        """The fast path's check for the schema in ``root`` (draft 2020-12 only)."""
        dialect = self.dialects[root]
        if dialect is not DEFAULT_DIALECT:
            # Older drafts read items, $ref and dependencies differently; they keep the
            # full validator alone.
            return fastcheck.never
        return fastcheck.compile_check(
            {"$ref": root.as_uri()}, self.registry.resolver(), enforcing(dialect).VALIDATORS
        )

    def integer_plan(self, root: Path) -> integers.Convert | None:
        """The conversion to int where the schema in ``root`` says integer (2020-12 only)."""
        if self.dialects[root] is not DEFAULT_DIALECT:
            return None
        return integers.compile_plan({"$ref": root.as_uri()}, self.registry.resolver())


def join(directory: Path, relative: str) -> Path:
    # Lexical, like Go's filepath.Join: "a/../b.json" is b.json even if a is a symlink.
    return Path(os.path.abspath(os.path.join(directory, relative)))


def _refs(document: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Yield (JSON pointer, value) for every ``$ref`` in a schema document."""
    if isinstance(document, dict):
        ref = document.get("$ref")
        if isinstance(ref, str):
            yield f"{pointer}/$ref", ref
        for key, value in document.items():
            yield from _refs(value, f"{pointer}/{escape_token(key)}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _refs(value, f"{pointer}/{index}")


def _dialect(document: Any) -> type[Validator]:
    """The validator class of a schema document's ``$schema``, draft 2020-12 if it has none.

    Only the dialects both sides implement alike are known (notebridge_worker.portable).
    """
    dialect = DIALECTS.get(portable.dialect(document))
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
    where = display(path)
    found = portable.problems(document)
    problems = [f"{where}#{pointer}: {message}" for pointer, message in found]
    reported = {pointer for pointer, _ in found}
    try:
        dialect = _dialect(document)
    except ContractError:
        return problems  # portable.problems said which $schema to use
    for error in meta_validator(dialect).iter_errors(document):
        pointer = json_pointer(error.absolute_path)
        if pointer in reported:
            continue  # already said, with what to write instead
        if error.validator == "format" and error.validator_value == "regex":
            if "propertyNames" in error.absolute_schema_path:
                # A patternProperties key: the meta-schema reports the object, not the key.
                pointer += "/" + escape_token(str(error.instance))
            problems.append(f"{where}#{pointer}: not RE2: {re2_message(error.cause)}")
        else:
            problems.append(f"{where}#{pointer}: invalid schema: {error.message}")
    return problems


def display(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else absolute."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()
