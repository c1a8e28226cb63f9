"""``/users/me``: the account, its password, its deletion, its sessions and its security events;
and the admin command's service."""

from __future__ import annotations

import uuid
from unittest.mock import ANY

import pytest
from test_auth import (
    ACCENTED_PASSWORD,
    API,
    LONGEST_PASSWORD,
    NEW_PASSWORD,
    PASSWORD,
    assert_error,
    bearer,
    login,
    me,
    refresh,
    registered,
)

from core.errors import InvalidInput
from models import Milestone, Project, Session, User
from services import accounts as accounts_service


def test_get_me(client):
    body = registered(client)
    response = me(client, body["tokens"])
    assert response.status_code == 200
    assert response.json() == body["user"]


def test_update_me_trims_the_name(client):
    tokens = registered(client)["tokens"]
    response = client.patch(f"{API}/users/me", json={"name": "  Ann Lee-Moreau "}, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Ann Lee-Moreau"
    assert response.json()["updatedAt"] >= response.json()["createdAt"]
    assert me(client, tokens).json()["name"] == "Ann Lee-Moreau"


@pytest.mark.parametrize("body", [{}, {"name": "x"}, {"name": "  "}, {"email": "other@example.com"}])
def test_update_me_validation(client, body):
    tokens = registered(client)["tokens"]
    assert_error(client.patch(f"{API}/users/me", json=body, headers=bearer(tokens)), 400, "VALIDATION_ERROR")


def change_password(client, tokens, current=PASSWORD, new=NEW_PASSWORD):
    return client.post(
        f"{API}/users/me/password", json={"currentPassword": current, "newPassword": new}, headers=bearer(tokens)
    )


def test_change_password_ends_the_other_sessions_only(client, mailbox):
    current = registered(client)["tokens"]
    other = login(client).json()["tokens"]
    assert change_password(client, current).status_code == 204

    assert me(client, current).status_code == 200
    assert refresh(client, current["refreshToken"]).status_code == 200
    assert_error(me(client, other), 401, "UNAUTHORIZED")
    assert_error(refresh(client, other["refreshToken"]), 401, "UNAUTHORIZED")
    assert_error(login(client), 401, "INVALID_CREDENTIALS")
    assert login(client, password=NEW_PASSWORD).status_code == 200
    assert "password was changed" in mailbox.messages("ann@example.com")[-1]["Subject"]


def test_a_wrong_current_password_is_a_400_naming_the_field(client):
    tokens = registered(client)["tokens"]
    error = assert_error(change_password(client, tokens, current="Wrong-Pass-1"), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in error["details"]] == ["body.currentPassword"]
    assert login(client).status_code == 200


def test_a_new_password_over_128_characters_is_a_400_naming_the_field(client):
    tokens = registered(client)["tokens"]
    error = assert_error(change_password(client, tokens, new=LONGEST_PASSWORD + "é"), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in error["details"]] == ["body.newPassword"]
    assert login(client).status_code == 200


@pytest.mark.parametrize("new", [ACCENTED_PASSWORD, LONGEST_PASSWORD], ids=["62-accented", "128"])
def test_a_long_accented_new_password_counts_to_its_last_character(client, new):
    tokens = registered(client)["tokens"]
    assert change_password(client, tokens, new=new).status_code == 204
    assert login(client, password=new).status_code == 200
    assert_error(login(client, password=new[:-1] + "9"), 401, "INVALID_CREDENTIALS")


def test_delete_me_soft_deletes_the_account_and_its_projects_and_ends_every_session(client, accounts):
    body = registered(client)
    other = login(client).json()["tokens"]
    owner = User.get_by_id(body["user"]["id"])
    project = Project.create(user=owner, name="Summit")
    Milestone.create(project=project, title="Ridge")
    bystander = accounts.create()
    kept = Project.create(user=bystander, name="Not mine")

    assert client.delete(f"{API}/users/me", headers=bearer(body["tokens"])).status_code == 204

    assert User.get_by_id(owner.id).deleted_at is not None
    assert Project.get_by_id(project.id).deleted_at is not None
    assert Milestone.get().deleted_at is not None
    assert Project.get_by_id(kept.id).deleted_at is None
    for tokens in (body["tokens"], other):
        assert_error(me(client, tokens), 401, "UNAUTHORIZED")
        assert_error(refresh(client, tokens["refreshToken"]), 401, "UNAUTHORIZED")


def test_list_sessions_marks_the_current_one(client):
    first = registered(client)["tokens"]
    second = login(client).json()["tokens"]
    response = client.get(f"{API}/users/me/sessions", headers=bearer(second))
    assert response.status_code == 200
    sessions = response.json()["data"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    current = next(s for s in sessions if s["current"])
    assert current["userAgent"] == "testclient"
    client.post(f"{API}/auth/logout", headers=bearer(first))
    assert len(client.get(f"{API}/users/me/sessions", headers=bearer(second)).json()["data"]) == 1


def test_sessions_are_paged_like_every_list(client):
    registered(client)
    for _ in range(4):
        tokens = login(client).json()["tokens"]
    first = client.get(f"{API}/users/me/sessions", params={"limit": 2}, headers=bearer(tokens)).json()
    assert first["meta"] == {"total": 5, "page": 1, "limit": 2, "totalPages": 3, "nextCursor": ANY}
    seen = [s["id"] for s in first["data"]]
    cursor = first["meta"]["nextCursor"]
    while cursor:
        page = client.get(f"{API}/users/me/sessions", params={"limit": 2, "cursor": cursor}, headers=bearer(tokens))
        assert page.status_code == 200, page.text
        assert set(page.json()["meta"]) == {"limit", "nextCursor"}
        seen += [s["id"] for s in page.json()["data"]]
        cursor = page.json()["meta"]["nextCursor"]
    assert len(seen) == len(set(seen)) == 5
    bob = registered(client, "bob@example.com")["tokens"]  # a cursor is bound to its user's list
    mine = first["meta"]["nextCursor"]
    assert_error(
        client.get(f"{API}/users/me/sessions", params={"cursor": mine}, headers=bearer(bob)), 400, "VALIDATION_ERROR"
    )


def test_revoke_one_of_my_sessions(client):
    first = registered(client)["tokens"]
    second = login(client).json()["tokens"]
    current_id = next(
        s["id"] for s in client.get(f"{API}/users/me/sessions", headers=bearer(first)).json()["data"] if s["current"]
    )
    assert client.delete(f"{API}/users/me/sessions/{current_id}", headers=bearer(second)).status_code == 204
    assert_error(me(client, first), 401, "UNAUTHORIZED")
    assert_error(refresh(client, first["refreshToken"]), 401, "UNAUTHORIZED")
    assert me(client, second).status_code == 200
    again = client.delete(f"{API}/users/me/sessions/{current_id}", headers=bearer(second))
    assert_error(again, 404, "NOT_FOUND")


def test_someone_elses_or_an_unknown_session_is_404(client, accounts):
    tokens = registered(client)["tokens"]
    _, theirs = accounts.login(accounts.create())
    for session_id in (theirs, str(uuid.uuid4())):
        response = client.delete(f"{API}/users/me/sessions/{session_id}", headers=bearer(tokens))
        assert_error(response, 404, "NOT_FOUND")
    assert Session.get_by_id(theirs).revoked_at is None


def test_a_malformed_session_id_is_400(client):
    tokens = registered(client)["tokens"]
    assert_error(client.delete(f"{API}/users/me/sessions/not-a-uuid", headers=bearer(tokens)), 400, "VALIDATION_ERROR")


def test_my_audit_logs_are_mine_newest_first_and_paginated(client):
    tokens = registered(client)["tokens"]
    login(client, password="Wrong-Pass-1")  # about me, with no actor
    login(client)
    registered(client, "bob@example.com")
    response = client.get(f"{API}/users/me/audit-logs?limit=2", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2, "nextCursor": ANY}
    assert [event["action"] for event in body["data"]] == ["auth.login_succeeded", "auth.login_failed"]
    assert body["data"][0]["ip"] == "testclient"
    assert body["data"][0]["details"]["sessionId"]
    last = client.get(f"{API}/users/me/audit-logs?page=2&limit=2", headers=bearer(tokens)).json()
    assert [event["action"] for event in last["data"]] == ["user.registered"]


def test_audit_log_paging_is_bounded(client):
    tokens = registered(client)["tokens"]
    for query in ("limit=101", "limit=0", "page=0", "page=10001"):
        response = client.get(f"{API}/users/me/audit-logs?{query}", headers=bearer(tokens))
        assert_error(response, 400, "VALIDATION_ERROR")


# The admin command's service -----------------------------------------------------------------


def test_create_admin_then_log_in(client):
    user, created = accounts_service.create_or_promote_admin("Ops@Example.com", "Admin-Pass-1", " Ops ")
    assert created
    assert (user.email, user.name, user.role) == ("ops@example.com", "Ops", "admin")
    response = login(client, email="ops@example.com", password="Admin-Pass-1")
    assert response.json()["user"]["role"] == "admin"


def test_create_admin_takes_the_longest_password_the_api_would(client):
    accounts_service.create_or_promote_admin("ops@example.com", LONGEST_PASSWORD, "Ops")
    assert login(client, email="ops@example.com", password=LONGEST_PASSWORD).status_code == 200
    assert_error(
        login(client, email="ops@example.com", password=LONGEST_PASSWORD[:-1] + "è"), 401, "INVALID_CREDENTIALS"
    )


def test_promote_an_existing_user_keeps_their_password(client):
    registered(client)
    user, created = accounts_service.create_or_promote_admin("ANN@example.com", "Ignored-Pass-1")
    assert not created
    assert user.role == "admin"
    assert login(client).json()["user"]["role"] == "admin"


@pytest.mark.parametrize(
    ("email", "password", "name", "field"),
    [
        ("ops@example.com", "short", "Ops", "password"),
        ("ops@example.com", LONGEST_PASSWORD + "é", "Ops", "password"),
        ("not-an-email", "Admin-Pass-1", "Ops", "email"),
        ("ops@example.com", "Admin-Pass-1", "O", "name"),
    ],
)
def test_create_admin_refuses_what_the_api_would(clean_db, email, password, name, field):
    with pytest.raises(InvalidInput) as raised:
        accounts_service.create_or_promote_admin(email, password, name)
    assert raised.value.field == field
    assert User.select().count() == 0


def test_the_create_admin_command(clean_db, capsys):
    import manage

    assert manage.main(["create-admin", "Ops@example.com", "--password", "Admin-Pass-1"]) == 0
    assert "created admin ops@example.com" in capsys.readouterr().out
    assert manage.main(["create-admin", "ops@example.com", "--password", "unused"]) == 0
    assert "promoted admin ops@example.com" in capsys.readouterr().out
    assert manage.main(["create-admin", "new@example.com", "--password", "short"]) == 2
    assert "password needs 8 characters" in capsys.readouterr().err
    assert User.select().count() == 1
