"""The skeleton: envelope errors for every failure the stack produces, request ids, health."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(("path", "allow"), [("/health", "GET, HEAD"), ("/api/v1/auth/login", "POST")])
def test_allow_names_head_exactly_where_head_is_served(client, path, allow):
    assert client.put(path).headers["allow"] == allow
    assert (client.head(path).status_code == 405) == ("HEAD" not in allow)


def test_a_trailing_slash_is_404_never_a_redirect(client):
    response = client.get("/health/", follow_redirects=False)
    assert_error(response, 404, "NOT_FOUND")
    assert "location" not in response.headers


def test_headers_over_32_kib_are_431_with_a_request_id(client):
    response = client.get("/health", headers={"X-Big": "a" * (16 * 1024), "X-Bigger": "b" * (16 * 1024)})
    assert_error(response, 431, "REQUEST_HEADERS_TOO_LARGE")
    assert response.headers["x-request-id"]
    assert client.get("/health", headers={"X-Big": "a" * (30 * 1024)}).status_code == 200


@pytest.mark.parametrize(
    "spelling",
    ["Application/JSON", "APPLICATION/JSON;CHARSET=UTF-8", "application/json ; charset=utf-8", " application/json "],
)
def test_any_spelling_of_json_is_parsed_and_validated(client, spelling):
    body = b'{"email": "ann@example.com", "password": "Granite-Path-42", "name": "Ann Lee"}'
    created = client.post("/api/v1/auth/register", content=body, headers={"Content-Type": spelling})
    assert created.status_code == 201, created.text
    refused = client.post("/api/v1/auth/login", content=b"{}", headers={"Content-Type": spelling})
    error = assert_error(refused, 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "body.email"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spelling=st.builds(
        lambda media, spaces, parameter: media + spaces + parameter,
        st.sampled_from(["application/json", "application/JSON", "Application/Json", "APPLICATION/JSON"])
        | st.text(alphabet="applicationjsoAPLICTINJSO/+*; ", max_size=30),
        st.text(alphabet=" \t", max_size=3),
        st.sampled_from(["", ";charset=utf-8", "; Charset=UTF-8", ' ;charset="utf-8"', ";q=1;x=y", ";;"]),
    )
)
def test_no_spelling_of_a_content_type_reaches_a_handler_unvalidated(client, spelling):
    response = client.post("/api/v1/auth/login", content=b"{}", headers={"Content-Type": spelling})
    assert response.status_code in (400, 415), (spelling, response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"


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


def test_unhandled_exception_is_an_enveloped_500_without_trace(client, monkeypatch, caplog):
    from services import health

    def explode():
        raise RuntimeError("kaboom-secret-internals")

    monkeypatch.setattr(health, "readiness", explode)
    response = client.get("/health/ready")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "kaboom" not in response.text
    assert error["message"] == "Internal server error"
    assert any(record.exc_info and "kaboom" in str(record.exc_info[1]) for record in caplog.records)


def test_error_inside_middleware_is_still_json(app, clean_db, monkeypatch):
    from web import requests as request_context

    def explode(*_args, **_kwargs):
        raise RuntimeError("middleware bug")

    monkeypatch.setattr(request_context, "client_ip", explode)
    # The outermost middleware re-raises after answering (for the server's log): let the client see the answer.
    with app.test_client(raise_server_exceptions=False) as client:
        response = client.get("/health")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"


def test_log_lines_are_json_with_request_fields(capsys):
    import logging

    from core.logs import configure_logging, request_id_var

    configure_logging("INFO")
    token = request_id_var.set("req-123")
    try:
        logging.getLogger("cairn.test").info("hello", extra={"method": "GET", "status": 200, "duration": 1.5})
    finally:
        request_id_var.reset(token)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "hello"
    assert line["requestId"] == "req-123"
    assert line["level"] == "INFO"
    assert {"timestamp", "userId", "method", "status", "duration"} <= set(line)


def test_importing_the_app_prints_nothing():
    """Every API worker imports it at start: a warning there is a stray, non-JSON line in its log."""
    imported = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=SPEC_DIR.parent, capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr == ""


def test_access_log_line_per_request(client, caplog):
    caplog.set_level("INFO", logger="cairn.access")
    client.get("/health", headers={"X-Request-ID": "trace-me"})
    lines = [r for r in caplog.records if r.name == "cairn.access" and r.requestId == "trace-me"]
    assert len(lines) == 1
    assert (lines[0].method, lines[0].path, lines[0].status) == ("GET", "/health", 200)
    assert lines[0].duration >= 0


def test_ready_is_503_when_the_database_is_down(client, monkeypatch):
    from services import health

    monkeypatch.setattr(health, "database_ok", lambda: False)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "down", "checks": {"database": "down", "redis": "ok"}}


def test_ready_is_degraded_when_only_redis_is_down(client, monkeypatch):
    from services import health

    monkeypatch.setattr(health, "redis_ok", lambda: False)
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {"database": "ok", "redis": "down"}}


def test_json_body_without_content_type_is_415(client):
    response = client.post("/api/v1/auth/login", content=b'{"email": "a@b.co", "password": "x"}')
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_text_body_on_json_operation_is_415(client):
    response = client.post("/api/v1/auth/login", content=b"hello", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"email": "a@b.co", "email": "c@d.co", "password": "x"}', "duplicate key"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100000 + b"]" * 100000, "nested"),
        (b'{"email": "a@b.co", "password": NaN}', "NaN"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_malformed_json_is_a_400_naming_the_problem(client, raw, fragment):
    response = client.post("/api/v1/auth/login", content=raw, headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert fragment in error["details"][0]["message"]


def test_every_body_problem_is_listed(client):
    response = client.post("/api/v1/auth/register", json={"email": "nope", "password": "short", "extra": 1})
    error = assert_error(response, 400, "VALIDATION_ERROR")
    fields = {detail["field"] for detail in error["details"]}
    assert {"body.email", "body.password", "body.name"} <= fields


def test_server_refuses_to_start_when_an_operation_does_not_resolve(settings, tmp_path, monkeypatch):
    import app as app_module

    spec = yaml.safe_load((SPEC_DIR / SPEC_FILE).read_text())
    spec["paths"]["/health"]["get"]["operationId"] = "no_such_function"
    (tmp_path / SPEC_FILE).write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(app_module, "SPEC_DIR", tmp_path)
    broken = app_module.create_app(settings)
    with pytest.raises(Exception, match="no_such_function"), broken.test_client():
        pass
