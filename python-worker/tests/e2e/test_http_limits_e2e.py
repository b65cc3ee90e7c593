"""End to end: the gateway binary's HTTP limits, seen by Python's standard HTTP clients."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from .conftest import JSON, Gateway, start_gateway, stop


def urllib_post(url: str, body: bytes, headers: dict[str, str]) -> urllib.error.HTTPError:
    """POST with urllib, which writes the whole body before it reads the answer."""
    req = urllib.request.Request(url, data=body, headers={**JSON, **headers}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=15)
    return err.value


def problem(err: urllib.error.HTTPError, status: int, kind: str) -> dict:
    assert err.code == status
    assert err.headers["Content-Type"] == "application/problem+json"
    body = json.loads(err.read())
    assert body["type"] == f"urn:notebridge:problem:{kind}"
    assert body["request_id"] == err.headers["X-Request-Id"]
    return body


def test_urllib_reads_the_413_of_a_2_mib_body(gateway: Gateway):
    # Without lingering, urllib's write or read hits a reset more often than
    # not (6 times in 10 here) and it never sees the 413: ten tries.
    for i in range(10):
        err = urllib_post(
            f"{gateway.url}/api/echo/v1", b" " * (2 << 20), {"X-Request-Id": f"big-py-{i}"}
        )
        body = problem(err, 413, "body-too-large")
        assert body["request_id"] == f"big-py-{i}"
        assert "1048576 bytes" in body["detail"]


def test_header_limit_flag(tmp_path):
    gw = start_gateway(tmp_path, "--header-limit", "2048")
    try:
        body = b'{"text": "a"}'
        fits = urllib_post(f"{gw.url}/api/echo/v9", body, {"X-Pad": "a" * 1500})
        problem(fits, 404, "not-found")
        over = urllib_post(f"{gw.url}/api/echo/v1", body, {"X-Pad": "a" * 3000})
        assert "2048 bytes" in problem(over, 431, "headers-too-large")["detail"]
    finally:
        stop(gw.proc)


def test_unknown_method_is_a_problem(gateway: Gateway):
    conn = http.client.HTTPConnection(urlsplit(gateway.url).netloc, timeout=15)
    try:
        conn.request("QUERY", "/api/echo/v1", body=b"{}", headers=JSON)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 405
        assert resp.getheader("Allow") == "GET, POST"
        assert body["type"] == "urn:notebridge:problem:method-not-allowed"
        assert body["request_id"] == resp.getheader("X-Request-Id")
    finally:
        conn.close()
