"""The HTTP service core on a real uvicorn server: health, errors, auth, limits, jobs,
events, artifacts, uploads, callbacks, metrics (issue 12)."""

from __future__ import annotations

import httpx
import pytest

from conftest import start_service


@pytest.fixture(scope="module")
def client(service_url: str):
    with httpx.Client(base_url=service_url, timeout=30) as c:
        yield c


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"}, body
    assert {"type", "message", "hint", "request_id"} <= set(body["error"])
    assert "Traceback" not in r.text
    return body["error"]


def test_health_needs_nothing(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["version"]
    assert r.headers["x-request-id"]


def test_unknown_route_is_a_json_404_with_the_request_id(client):
    r = client.get("/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 404
    err = _error(r)
    assert err["type"] == "NotFound"
    assert err["request_id"] == "abc-123" == r.headers["x-request-id"]


def test_ready_with_the_embedded_worker(client):
    r = client.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["workers"] >= 1
    assert all(c["ok"] for c in body["checks"].values())


def test_openapi_document_lists_the_routes(client):
    doc = client.get("/openapi.json").json()
    assert {"/health", "/ready", "/metrics"} <= set(doc["paths"])
    assert "ErrorResponse" in doc["components"]["schemas"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    svc = start_service(tmp_path_factory.mktemp("keyed"), keys=["k-one", "k-two"], worker=False)
    try:
        yield svc
    finally:
        svc.stop()


def test_keys_are_required_except_for_health(keyed):
    with httpx.Client(base_url=keyed.url, timeout=30) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/metrics")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert _error(r)["message"] == "missing API key"
        r = c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert _error(r)["message"] == "wrong API key"
        assert c.get("/openapi.json").status_code == 401
        ok = c.get("/metrics", headers={"Authorization": "Bearer k-two"})
        assert ok.status_code == 200
        assert "vidpipe_jobs" in ok.text


def test_ready_without_any_worker_is_503_naming_it(keyed):
    with httpx.Client(base_url=keyed.url, timeout=30) as c:
        r = c.get("/ready", headers={"Authorization": "Bearer k-one"})
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["workers"]["ok"] is False
    assert "no worker seen" in body["checks"]["workers"]["detail"]
    assert body["checks"]["catalog"]["ok"] and body["checks"]["queue"]["ok"]
