"""What an intruder who knows the password and changed the address can no longer do."""

from __future__ import annotations

from test_auth import API, NEW_PASSWORD, PASSWORD, assert_error, bearer, login, me, registered
from test_email_change import NEW, OLD, change_email, changed, confirm, revert

from core.errors import AccountDisabled
from models import User
from services import auth, user_admin


def test_a_later_changes_revert_link_cannot_void_the_victims(client, mailbox):
    tokens = registered(client)["tokens"]
    changed(client, mailbox, tokens)  # OLD -> NEW, the intruder's mailbox
    victims_link = mailbox.token(OLD, "revert-email-change")
    intruder = login(client, email=NEW).json()["tokens"]
    assert change_email(client, intruder, new="third@example.net").status_code == 202
    intruders_link = mailbox.token(NEW, "revert-email-change")
    assert revert(client, intruders_link).status_code == 200  # keeps NEW...

    restored = revert(client, victims_link)  # ...but the older, victim's link still works

    assert (restored.status_code, restored.json()["email"]) == (200, OLD)
    assert login(client, email=OLD).status_code == 200


def test_the_victims_revert_voids_the_revert_links_of_later_changes(client, mailbox):
    tokens = registered(client)["tokens"]
    changed(client, mailbox, tokens)
    victims_link = mailbox.token(OLD, "revert-email-change")
    intruder = login(client, email=NEW).json()["tokens"]
    assert change_email(client, intruder, new="third@example.net").status_code == 202
    intruders_link = mailbox.token(NEW, "revert-email-change")

    assert revert(client, victims_link).status_code == 200

    assert_error(revert(client, intruders_link), 400, "INVALID_TOKEN")


def test_a_password_change_voids_a_pending_email_change(client, mailbox):
    victim = registered(client)["tokens"]
    intruder = login(client).json()["tokens"]
    assert change_email(client, intruder).status_code == 202
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}

    assert client.post(f"{API}/users/me/password", json=body, headers=bearer(victim)).status_code == 204

    assert_error(me(client, intruder), 401, "UNAUTHORIZED")
    assert_error(confirm(client, mailbox.token(NEW, "confirm-email-change")), 400, "INVALID_TOKEN")
    assert me(client, victim).json()["email"] == OLD


def test_disabling_an_account_kills_its_email_change_links(client, mailbox):
    tokens = registered(client)["tokens"]
    changed(client, mailbox, tokens)
    revert_link = mailbox.token(OLD, "revert-email-change")
    intruder = login(client, email=NEW).json()["tokens"]
    assert change_email(client, intruder, new="third@example.net").status_code == 202
    admin = registered(client, email="admin@example.com")["user"]["id"]
    User.update(role="admin").where(User.id == admin).execute()

    user_admin.disable_user(admin, User.get(User.email == NEW).id)

    assert_error(confirm(client, mailbox.token("third@example.net", "confirm-email-change")), 400, "INVALID_TOKEN")
    assert_error(revert(client, revert_link), 400, "INVALID_TOKEN")  # no reset link for a disabled account
    assert User.get(User.email == NEW).disabled_at is not None


def test_a_login_that_races_a_disable_starts_no_session(client, monkeypatch):
    """The account is disabled while its password is being checked: the login is refused."""
    registered(client)
    check = auth.verify_password

    def disabled_meanwhile(password: str, password_hash: str) -> bool:
        User.update(disabled_at=auth.clock()).where(User.email == OLD).execute()
        return check(password, password_hash)

    monkeypatch.setattr(auth, "verify_password", disabled_meanwhile)
    try:
        auth.login(OLD, PASSWORD)
    except AccountDisabled:
        pass
    else:
        raise AssertionError("a login raced past the disable")
    user = User.get(User.email == OLD)
    assert user.last_login_at is None
