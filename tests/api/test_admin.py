"""Admin operations: the audit trail for everyone, and the state of the background work."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from unittest.mock import ANY

import pytest
from celery import current_app as celery

from models import AuditLog, OutboxMessage
from models.db import utcnow

QUEUE_NAMES = ["emails", "audit", "maintenance"]


def assert_forbidden(response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "FORBIDDEN"


@pytest.fixture
def admin_headers(accounts) -> dict[str, str]:
    return accounts.headers_for(accounts.create(role="admin"))


def audit_row(action: str, actor=None, target_user=None, minutes_ago: int = 0) -> AuditLog:
    outbox_id = uuid.uuid4()
    return AuditLog.create(
        id=outbox_id,
        outbox_id=outbox_id,
        action=action,
        actor=actor,
        target_type="user" if target_user else None,
        target_id=str(target_user.id) if target_user else None,
        ip="203.0.113.7",
        user_agent="pytest",
        request_id="req-1",
        details=json.dumps({"reason": "wrong_password"}),
        created_at=utcnow() - timedelta(minutes=minutes_ago),
    )


@pytest.mark.parametrize("path", ["/api/v1/admin/audit-logs", "/api/v1/admin/queues"])
def test_admin_operations_refuse_other_users(client, accounts, path):
    assert client.get(path).status_code == 401
    assert_forbidden(client.get(path, headers=accounts.headers_for(accounts.create())))


def test_audit_logs_newest_first_with_every_field(client, accounts, admin_headers):
    ann = accounts.create()
    audit_row("user.registered", actor=ann, target_user=ann, minutes_ago=5)
    audit_row("auth.login_failed", target_user=ann)
    body = client.get("/api/v1/admin/audit-logs", headers=admin_headers).json()
    assert [event["action"] for event in body["data"]] == ["auth.login_failed", "user.registered"]
    assert body["meta"] == {"total": 2, "page": 1, "limit": 20, "totalPages": 1, "nextCursor": None}
    failed = body["data"][0]
    assert failed["actorId"] is None
    assert (failed["targetType"], failed["targetId"]) == ("user", str(ann.id))
    assert (failed["ip"], failed["userAgent"], failed["requestId"]) == ("203.0.113.7", "pytest", "req-1")
    assert failed["details"] == {"reason": "wrong_password"}


def test_audit_logs_filtered_by_action_and_user(client, accounts, admin_headers):
    ann, bob = accounts.create(), accounts.create()
    audit_row("auth.login_succeeded", actor=ann, target_user=ann)
    audit_row("auth.login_failed", target_user=ann)  # no actor: ann is the target
    audit_row("auth.login_failed", target_user=bob)
    audit_row("project.deleted", actor=bob)

    def actions(query: str) -> list[str]:
        response = client.get(f"/api/v1/admin/audit-logs?{query}", headers=admin_headers)
        assert response.status_code == 200, response.text
        return sorted(event["action"] for event in response.json()["data"])

    assert actions(f"userId={ann.id}") == ["auth.login_failed", "auth.login_succeeded"]
    assert actions("action=auth.login_failed") == ["auth.login_failed", "auth.login_failed"]
    assert actions(f"action=auth.login_failed&userId={bob.id}") == ["auth.login_failed"]
    assert actions(f"userId={uuid.uuid4()}") == []


def test_audit_logs_are_paginated(client, accounts, admin_headers):
    for minutes in range(5):
        audit_row("auth.logout", minutes_ago=minutes)
    pages = [
        client.get(f"/api/v1/admin/audit-logs?limit=2&page={page}", headers=admin_headers).json() for page in (1, 2, 3)
    ]
    assert [len(page["data"]) for page in pages] == [2, 2, 1]
    assert pages[0]["meta"] == {"total": 5, "page": 1, "limit": 2, "totalPages": 3, "nextCursor": ANY}
    assert len({event["id"] for page in pages for event in page["data"]}) == 5


@pytest.mark.parametrize("query", ["action=auth.hacked", "userId=not-a-uuid", "limit=101", "page=0"])
def test_audit_log_filters_are_validated(client, admin_headers, query):
    response = client.get(f"/api/v1/admin/audit-logs?{query}", headers=admin_headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_queue_status_with_no_worker(client, admin_headers):
    now = utcnow()
    for state in ("pending", "pending", "dispatched", "failed", "done"):
        OutboxMessage.create(
            task="tasks.emails.send_email",
            queue="emails",
            payload="{}",
            state=state,
            attempts=5 if state == "failed" else 0,
            last_error="SMTPServerDisconnected('Connection unexpectedly closed')" if state == "failed" else None,
            created_at=now - timedelta(seconds=30),
            finished_at=now if state in ("failed", "done") else None,
        )
    started = time.perf_counter()
    response = client.get("/api/v1/admin/queues", headers=admin_headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert elapsed < 1.5, "must answer quickly even when no worker answers the inspection"
    assert body["brokerReachable"] is True
    assert [queue["name"] for queue in body["queues"]] == QUEUE_NAMES
    assert all(isinstance(queue["pending"], int) for queue in body["queues"])
    assert body["workers"] == []
    outbox = body["outbox"]
    assert (outbox["pending"], outbox["dispatched"], outbox["processing"], outbox["failed"]) == (2, 1, 0, 1)
    assert 29 <= outbox["oldestPendingAge"] < 60
    (failed,) = body["failedMessages"]
    assert (failed["task"], failed["attempts"]) == ("tasks.emails.send_email", 5)
    assert failed["lastError"].startswith("SMTPServerDisconnected")


def test_queue_status_of_an_empty_outbox(client, admin_headers):
    body = client.get("/api/v1/admin/queues", headers=admin_headers).json()
    assert body["outbox"] == {"pending": 0, "dispatched": 0, "processing": 0, "failed": 0, "oldestPendingAge": None}
    assert body["failedMessages"] == []


@pytest.fixture
def dead_broker() -> Iterator[None]:
    """The broker URL points at a port nobody listens on, for one test."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    saved = {key: celery.conf[key] for key in ("broker_url", "broker_transport_options")}
    celery.conf.update(
        broker_url=f"redis://127.0.0.1:{port}/0",
        broker_transport_options={"socket_timeout": 1, "socket_connect_timeout": 1, "max_retries": 0},
    )
    yield
    celery.conf.update(saved)


def test_queue_status_with_the_broker_down(client, admin_headers, dead_broker):
    started = time.perf_counter()
    response = client.get("/api/v1/admin/queues", headers=admin_headers)
    assert time.perf_counter() - started < 1.5
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["brokerReachable"] is False
    assert body["queues"] == [{"name": name, "pending": None} for name in QUEUE_NAMES]
    assert body["workers"] == []
