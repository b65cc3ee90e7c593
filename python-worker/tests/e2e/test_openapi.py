"""GET /openapi.json of the real gateway binary, checked by a real OpenAPI 3.1 validator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from .conftest import REPO, TEST_CONTRACTS, Gateway, start_gateway, stop


def fetch(gw: Gateway) -> dict[str, Any]:
    r = httpx.get(f"{gw.url}/openapi.json", timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    return r.json()


def test_document_is_valid_openapi_31(gateway: Gateway) -> None:
    doc = fetch(gateway)
    assert doc["openapi"] == "3.1.0"
    validate(doc, cls=OpenAPIV31SpecValidator)

    paths = ["/healthz", "/readyz", "/api", "/openapi.json", "/docs", "/api/echo", "/api/echo/v1"]
    for path in paths:
        assert path in doc["paths"], path
    post = doc["paths"]["/api/echo/v1"]["post"]
    body = post["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/echo.request"}
    assert {e["summary"] for e in body["examples"].values()} == {"hello", "number kept exact"}
    assert post["responses"]["422"] == {"$ref": "#/components/responses/InvalidRequest"}
    assert doc["paths"]["/api/echo/v2"]["post"]["deprecated"] is True
    invalid = doc["components"]["responses"]["InvalidRequest"]
    problem = invalid["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_document_with_schemas_shared_across_files(tmp_path: Path) -> None:
    """The example contracts $ref ../common.json#/$defs/text: each $defs entry is a component of
    its own, which code generators turn into a type (a $ref into another component's $defs
    leaves them without one)."""
    gw = start_gateway(tmp_path, "--contracts-dir", f"{REPO / 'contracts'},{TEST_CONTRACTS}")
    try:
        doc = fetch(gw)
    finally:
        stop(gw.proc)
    validate(doc, cls=OpenAPIV31SpecValidator)
    schemas = doc["components"]["schemas"]
    text = schemas["schemas.sentiment.request.v1"]["properties"]["text"]
    assert text["$ref"] == "#/components/schemas/schemas.common.text"
    assert schemas["schemas.common.text"]["type"] == "string"
    refs = re.findall(r'"\$ref":\s*"([^"]+)"', json.dumps(doc))
    assert refs, "the document has no $ref"
    into = [ref for ref in refs if "/$defs/" in ref or ref.count("/") > 3]
    assert into == [], f"$refs that point inside a component: {into}"
    assert all("$defs" not in schema for schema in schemas.values() if isinstance(schema, dict))
    assert "/api/summarize/v1" in doc["paths"]


def test_validator_is_not_vacuous(gateway: Gateway) -> None:
    doc = fetch(gateway)
    del doc["info"]
    with pytest.raises(OpenAPIValidationError):
        validate(doc, cls=OpenAPIV31SpecValidator)
