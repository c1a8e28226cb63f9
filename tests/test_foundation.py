"""The skeleton: envelope errors for every failure the stack produces, request ids, health."""

from __future__ import annotations

import json

import pytest
import yaml
from openapi_spec_validator import validate

from app import SPEC_DIR, SPEC_FILE


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code
    assert set(body["error"]) <= {"code", "message", "details"}
    return body["error"]


def test_spec_is_valid_openapi():
    validate(yaml.safe_load((SPEC_DIR / SPEC_FILE).read_text()))


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "1.0.0"}
    assert client.get("/health/live").status_code == 200


def test_ready_reports_database_and_broker(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_unknown_path_is_json_404(client):
    assert_error(client.get("/no/such/path"), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_full_allow(client):
    response = client.delete("/health")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


def test_unknown_query_parameter_is_named(client):
    error = assert_error(client.get("/health?verbose=1"), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "query.verbose", "message": "unknown parameter"}]


def test_body_over_one_mebibyte_is_413(client):
    assert_error(client.post("/health", content=b"x" * (1024 * 1024 + 1)), 413, "PAYLOAD_TOO_LARGE")


def test_chunked_body_over_limit_is_413(client):
    chunks = (b"x" * 65536 for _ in range(20))
    assert_error(client.post("/health", content=chunks), 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("given", ["abc-123_X.y", "a" * 128])
def test_well_formed_request_id_is_echoed(client, given):
    assert client.get("/health", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "has space", "a" * 129, "<script>"])
def test_malformed_request_id_is_replaced(client, given):
    echoed = client.get("/health", headers={"X-Request-ID": given}).headers["x-request-id"]
    assert echoed != given
    assert len(echoed) == 32


def test_every_error_response_has_a_request_id(client):
    assert client.get("/nope").headers["x-request-id"]


def test_docs_and_spec_are_served(client):
    assert client.get("/api/v1/ui/").status_code == 200
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert json.loads(spec.text)["openapi"].startswith("3.")
    assert client.get("/api/v1/openapi.yaml").status_code == 200
