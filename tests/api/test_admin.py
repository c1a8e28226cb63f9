"""Admin operations: the audit trail for everyone, the state of the background work, and users:
found, disabled (every session ends within one request), enabled and unlocked."""

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

from core.passwords import dummy_hash
from models import AuditLog, LoginThrottle, OneTimeToken, OutboxMessage, Session, User
from models.db import utcnow
from services import auth

QUEUE_NAMES = ["emails", "audit", "maintenance"]
API = "/api/v1"
USERS = f"{API}/admin/users"
PASSWORD = "Granite-Path-42"


def assert_forbidden(response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "FORBIDDEN"


@pytest.fixture
def admin(accounts) -> User:
    return accounts.create(email="root@example.com", name="Root Admin", role="admin")


@pytest.fixture
def admin_headers(accounts, admin) -> dict[str, str]:
    return accounts.headers_for(admin)


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


@pytest.mark.parametrize("path", ["/api/v1/admin/audit-logs", "/api/v1/admin/queues", USERS, f"{USERS}/{uuid.uuid4()}"])
def test_admin_operations_refuse_other_users(client, accounts, path):
    assert client.get(path).status_code == 401
    assert_forbidden(client.get(path, headers=accounts.headers_for(accounts.create())))


@pytest.mark.parametrize("action", ["disable", "enable", "unlock"])
def test_admin_actions_refuse_other_users(client, accounts, action):
    target = accounts.create()
    path = f"{USERS}/{target.id}/{action}"
    assert client.post(path).status_code == 401
    assert_forbidden(client.post(path, headers=accounts.headers_for(accounts.create())))
    assert User.get_by_id(target.id).disabled_at is None


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


# Users: finding them --------------------------------------------------------------------------


def register(client, email: str, password: str = PASSWORD, name: str = "Ann Lee") -> dict:
    response = client.post(f"{API}/auth/register", json={"email": email, "password": password, "name": name})
    assert response.status_code == 201, response.text
    return response.json()


def login(client, email: str, password: str = PASSWORD):
    return client.post(f"{API}/auth/login", json={"email": email, "password": password})


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def lock(client, email: str) -> None:
    for _ in range(5):
        assert login(client, email, "Wrong-Pass-1").status_code == 401
    assert error_code(login(client, email), 423) == "ACCOUNT_LOCKED"


@pytest.fixture
def people(accounts, admin) -> dict[str, User]:
    """One user in each state (and the admin, verified and active), created a minute apart, oldest first."""
    now = utcnow()
    made = {
        "active": accounts.create(email="ann@example.com", name="Ann Lee"),
        "unverified": accounts.create(email="bo@example.com", name="Bo Chen"),
        "disabled": accounts.create(email="cy@example.com", name="Cy Lee"),
        "locked": accounts.create(email="di@example.com", name="Di Ng"),
        "deleted": accounts.create(email="ed@example.com", name="Ed Lee"),
    }
    values = {
        "active": {"email_verified_at": now},
        "unverified": {},
        "disabled": {"email_verified_at": now, "disabled_at": now},
        "locked": {"email_verified_at": now},
        "deleted": {"email_verified_at": now, "deleted_at": now},
    }
    User.update(created_at=now - timedelta(hours=1), email_verified_at=now).where(User.id == admin.id).execute()
    for minute, (state, user) in enumerate(made.items()):
        User.update(created_at=now - timedelta(minutes=50 - minute), **values[state]).where(
            User.id == user.id
        ).execute()
    LoginThrottle.create(
        email="di@example.com", failures=5, window_started_at=now, locked_until=now + timedelta(minutes=9)
    )
    LoginThrottle.create(
        email="ann@example.com", failures=5, window_started_at=now, locked_until=now - timedelta(seconds=1)
    )
    return {**made, "admin": admin}


def emails(client, headers, **params) -> list[str]:
    response = client.get(USERS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [user["email"] for user in response.json()["data"]]


def test_users_are_listed_newest_first_without_the_deleted(client, admin_headers, people):
    body = client.get(USERS, headers=admin_headers).json()
    assert [user["email"] for user in body["data"]] == [
        "di@example.com",
        "cy@example.com",
        "bo@example.com",
        "ann@example.com",
        "root@example.com",
    ]
    assert body["meta"] == {"total": 5, "page": 1, "limit": 20, "totalPages": 1, "nextCursor": None}
    assert emails(client, admin_headers, sort="email")[0] == "ann@example.com"
    assert emails(client, admin_headers, sort="-email")[0] == "root@example.com"
    assert emails(client, admin_headers, sort="createdAt")[0] == "root@example.com"


def test_each_status_is_its_own_state_and_a_lockout_lies_across_them(client, admin_headers, people):
    assert emails(client, admin_headers, status="active") == ["di@example.com", "ann@example.com", "root@example.com"]
    assert emails(client, admin_headers, status="unverified") == ["bo@example.com"]
    assert emails(client, admin_headers, status="disabled") == ["cy@example.com"]
    assert emails(client, admin_headers, status="locked") == ["di@example.com"]  # ann's lockout is over


def test_users_are_searched_by_email_and_name(client, admin_headers, people):
    assert emails(client, admin_headers, search="LEE") == ["cy@example.com", "ann@example.com"]
    assert emails(client, admin_headers, search="bo@") == ["bo@example.com"]
    assert emails(client, admin_headers, search="lee", status="disabled") == ["cy@example.com"]
    assert emails(client, admin_headers, search="%") == []


def test_users_are_paged_and_walked_by_cursor(client, admin_headers, people):
    pages = [client.get(USERS, params={"limit": 2, "page": n}, headers=admin_headers).json() for n in (1, 2, 3)]
    assert [len(page["data"]) for page in pages] == [2, 2, 1]
    assert pages[0]["meta"] == {"total": 5, "page": 1, "limit": 2, "totalPages": 3, "nextCursor": ANY}
    walked, params = [], {"limit": 2, "sort": "email"}
    while True:
        body = client.get(USERS, params=params, headers=admin_headers).json()
        walked += [user["email"] for user in body["data"]]
        if body["meta"]["nextCursor"] is None:
            break
        params = {"cursor": body["meta"]["nextCursor"], "limit": 2}
    assert walked == sorted(walked)
    assert len(walked) == 5
    first = client.get(USERS, params={"limit": 2, "status": "active"}, headers=admin_headers).json()
    other = client.get(
        USERS, params={"cursor": first["meta"]["nextCursor"], "status": "disabled"}, headers=admin_headers
    )
    assert error_code(other, 400) == "VALIDATION_ERROR"


@pytest.mark.parametrize("query", ["status=inactive", "sort=name", "search=%0A", "limit=0"])
def test_user_list_filters_are_validated(client, admin_headers, query):
    assert error_code(client.get(f"{USERS}?{query}", headers=admin_headers), 400) == "VALIDATION_ERROR"


def test_a_users_detail_has_its_lockout_last_login_and_sessions(client, admin_headers):
    ann = register(client, "ann@example.com")
    path = f"{USERS}/{ann['user']['id']}"
    fresh = client.get(path, headers=admin_headers).json()
    assert fresh == {
        **ann["user"],
        "disabled": False,
        "disabledAt": None,
        "lockedUntil": None,
        "lastLoginAt": None,  # registering is not a login
        "sessionCount": 1,
    }
    assert login(client, "ann@example.com").status_code == 200
    logged_in = client.get(path, headers=admin_headers).json()
    assert logged_in["lastLoginAt"] is not None
    assert logged_in["sessionCount"] == 2
    assert logged_in["updatedAt"] == fresh["updatedAt"]  # a login is not a profile change
    lock(client, "ann@example.com")
    locked = client.get(path, headers=admin_headers).json()
    assert locked["lockedUntil"] > locked["lastLoginAt"]


def test_unknown_and_deleted_users_are_404(client, accounts, admin_headers):
    gone = accounts.create()
    User.update(deleted_at=utcnow()).where(User.id == gone.id).execute()
    for user_id in (uuid.uuid4(), gone.id):
        assert error_code(client.get(f"{USERS}/{user_id}", headers=admin_headers), 404) == "NOT_FOUND"
        for action in ("disable", "enable", "unlock"):
            response = client.post(f"{USERS}/{user_id}/{action}", headers=admin_headers)
            assert error_code(response, 404) == "NOT_FOUND"


# Users: disabling, enabling, unlocking --------------------------------------------------------


def test_disabling_ends_a_live_session_within_one_request(client, admin_headers):
    ann = register(client, "ann@example.com")
    second = login(client, "ann@example.com").json()["tokens"]
    assert client.get(f"{API}/users/me", headers=bearer(second)).status_code == 200

    disabled = client.post(f"{USERS}/{ann['user']['id']}/disable", headers=admin_headers)
    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["disabled"], disabled.json()["sessionCount"]) == (True, 0)
    assert disabled.json()["disabledAt"] is not None

    for tokens in (ann["tokens"], second):
        assert error_code(client.get(f"{API}/users/me", headers=bearer(tokens)), 401) == "UNAUTHORIZED"
        refreshed = client.post(f"{API}/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert error_code(refreshed, 401) == "UNAUTHORIZED"


def test_a_disabled_user_cannot_log_in_whatever_the_password(client, admin_headers):
    ann = register(client, "ann@example.com")
    client.post(f"{USERS}/{ann['user']['id']}/disable", headers=admin_headers)
    assert error_code(login(client, "ann@example.com"), 403) == "ACCOUNT_DISABLED"
    assert error_code(login(client, "ANN@example.com", "Wrong-Pass-1"), 403) == "ACCOUNT_DISABLED"
    assert Session.select().where((Session.user == ann["user"]["id"]) & Session.revoked_at.is_null()).count() == 0


def test_a_disabled_login_never_checks_the_password_and_costs_what_a_wrong_one_does(client, admin_headers, monkeypatch):
    """One bcrypt check, against the dummy hash (the answer cannot tell whether the password was
    right), and the same writes as a wrong password: the attempt counts, a failure is audited."""
    ann = register(client, "ann@example.com")
    client.post(f"{USERS}/{ann['user']['id']}/disable", headers=admin_headers)
    checked: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda pw, hashed: checked.append(hashed) or real(pw, hashed))
    assert login(client, "ann@example.com").status_code == 403
    assert checked == [dummy_hash()]
    assert LoginThrottle.get(LoginThrottle.email == "ann@example.com").failures == 1
    failed = AuditLog.get(AuditLog.action == "auth.login_failed")
    assert json.loads(failed.details) == {"email": "ann@example.com", "reason": "account_disabled"}


def test_a_session_started_by_a_login_racing_the_disable_is_refused(client, accounts, admin_headers):
    """A login that checked the account before the disable committed may still add a session after it:
    the session check refuses a disabled user's every session, not only those the disable revoked."""
    bob = accounts.create()
    client.post(f"{USERS}/{bob.id}/disable", headers=admin_headers)
    late = accounts.headers_for(bob)  # a session row written after the disable
    assert error_code(client.get(f"{API}/users/me", headers=late), 401) == "UNAUTHORIZED"


def test_a_disabled_user_gets_no_reset_email_and_old_links_die(client, admin_headers, mailbox):
    ann = register(client, "ann@example.com")
    assert client.post(f"{API}/auth/forgot-password", json={"email": "ann@example.com"}).status_code == 202
    link = mailbox.token("ann@example.com", "reset-password")
    before = len(mailbox.messages("ann@example.com"))
    client.post(f"{USERS}/{ann['user']['id']}/disable", headers=admin_headers)
    OutboxMessage.update(created_at=utcnow() - timedelta(minutes=2)).execute()  # past the one-a-minute throttle

    answered = client.post(f"{API}/auth/forgot-password", json={"email": "ann@example.com"})
    assert answered.status_code == 202
    assert len(mailbox.messages("ann@example.com")) == before
    resets = OneTimeToken.select().where(OneTimeToken.purpose == "reset_password")
    assert resets.where(OneTimeToken.used_at.is_null()).count() == 0
    reset = client.post(f"{API}/auth/reset-password", json={"token": link, "password": "Basalt-Ridge-77"})
    assert error_code(reset, 400) == "INVALID_TOKEN"


def test_enabling_lets_the_user_log_in_again_and_ended_sessions_stay_ended(client, admin_headers):
    ann = register(client, "ann@example.com")
    path = f"{USERS}/{ann['user']['id']}"
    client.post(f"{path}/disable", headers=admin_headers)
    enabled = client.post(f"{path}/enable", headers=admin_headers)
    assert enabled.status_code == 200, enabled.text
    assert (enabled.json()["disabled"], enabled.json()["disabledAt"]) == (False, None)
    assert client.get(f"{API}/users/me", headers=bearer(ann["tokens"])).status_code == 401
    assert login(client, "ann@example.com").status_code == 200
    assert client.post(f"{path}/enable", headers=admin_headers).status_code == 200  # already enabled: no change


def test_disabled_is_its_own_state_apart_from_unverified(client, admin_headers):
    ann = register(client, "ann@example.com")  # not verified
    client.post(f"{USERS}/{ann['user']['id']}/disable", headers=admin_headers)
    detail = client.get(f"{USERS}/{ann['user']['id']}", headers=admin_headers).json()
    assert (detail["emailVerified"], detail["disabled"]) == (False, True)
    assert emails(client, admin_headers, status="unverified", search="ann") == []
    assert emails(client, admin_headers, status="disabled", search="ann") == ["ann@example.com"]


def test_unlocking_lifts_a_lockout(client, admin_headers):
    ann = register(client, "ann@example.com")
    lock(client, "ann@example.com")
    assert emails(client, admin_headers, status="locked") == ["ann@example.com"]
    unlocked = client.post(f"{USERS}/{ann['user']['id']}/unlock", headers=admin_headers)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["lockedUntil"] is None
    assert emails(client, admin_headers, status="locked") == []
    assert login(client, "ann@example.com").status_code == 200
    assert client.post(f"{USERS}/{ann['user']['id']}/unlock", headers=admin_headers).status_code == 200  # none left


def test_an_admin_cannot_disable_themselves(client, admin, admin_headers):
    response = client.post(f"{USERS}/{admin.id}/disable", headers=admin_headers)
    assert error_code(response, 409) == "CONFLICT"
    assert User.get_by_id(admin.id).disabled_at is None
    assert client.get(f"{USERS}/{admin.id}", headers=admin_headers).status_code == 200
    # ...but another admin can.
    other = User.create(email="ops@example.com", name="Ops", role="admin", password_hash=dummy_hash())
    assert client.post(f"{USERS}/{other.id}/disable", headers=admin_headers).status_code == 200


def test_each_action_is_audited_with_the_admin_as_actor_and_the_user_as_target(client, admin, admin_headers):
    ann = register(client, "ann@example.com")
    ann_id = ann["user"]["id"]
    second = login(client, "ann@example.com")
    assert second.status_code == 200
    for action in ("disable", "enable", "unlock"):
        assert client.post(f"{USERS}/{ann_id}/{action}", headers=admin_headers).status_code == 200
    events = client.get(f"{API}/admin/audit-logs", params={"userId": ann_id}, headers=admin_headers).json()["data"]
    by_admin = [event for event in events if event["action"].startswith("admin.")]
    assert [event["action"] for event in by_admin] == [
        "admin.user_unlocked",
        "admin.user_enabled",
        "admin.user_disabled",
    ]
    for event in by_admin:
        assert (event["actorId"], event["targetType"], event["targetId"]) == (str(admin.id), "user", ann_id)
    assert by_admin[-1]["details"] == {"sessionsEnded": 2}
    mine = client.get(f"{API}/admin/audit-logs", params={"userId": str(admin.id)}, headers=admin_headers).json()
    assert {event["action"] for event in mine["data"]} >= {"admin.user_disabled", "admin.user_enabled"}


def test_the_services_find_nobody_for_an_id_that_is_not_one(client, admin):
    """Over HTTP the spec refuses such ids first; called directly, they are a NotFound, never a crash."""
    from core.errors import NotFound
    from services import user_admin

    for call in (user_admin.get_user, lambda user_id: user_admin.disable_user(admin.id, user_id)):
        with pytest.raises(NotFound):
            call("not-a-uuid")
