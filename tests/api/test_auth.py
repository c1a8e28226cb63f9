"""``/auth`` through the HTTP API: register, login and lockout, refresh rotation and reuse
detection, logout, bearer checks, password reset and email verification.

Tasks run inline here, so after each request its emails are in ``mailbox`` and its audit rows
are written. Time is moved with the ``clock`` fixture, never slept.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
import pytest

from app import load_spec
from core.errors import DomainError
from core.passwords import PREHASH_MARKER
from core.tokens import AUDIENCE, ISSUER, issue_access_token
from models import AuditLog, LoginThrottle, OneTimeToken, OutboxMessage, RefreshToken, Session, User
from services import auth
from tests.concurrency import at_once
from web.errors import code_of

API = "/api/v1"
SCHEMAS = load_spec()["components"]["schemas"]
PASSWORD = "Granite-Path-42"
NEW_PASSWORD = "Basalt-Ridge-77"
# 60 accented letters (2 UTF-8 bytes each) + "A1": 62 characters, 122 bytes.
ACCENTED_PASSWORD = ("àéîõüçñåøë" * 6) + "A1"
LONGEST_PASSWORD = "A1" + "é" * 126  # the schema's 128 characters, 254 bytes


def register(client, email="ann@example.com", password=PASSWORD, name="Ann Lee"):
    return client.post(f"{API}/auth/register", json={"email": email, "password": password, "name": name})


def login(client, email="ann@example.com", password=PASSWORD):
    return client.post(f"{API}/auth/login", json={"email": email, "password": password})


def registered(client, email="ann@example.com") -> dict:
    response = register(client, email)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def refresh(client, token: str):
    return client.post(f"{API}/auth/refresh", json={"refreshToken": token})


def me(client, tokens: dict):
    return client.get(f"{API}/users/me", headers=bearer(tokens))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


def actions() -> list[str]:
    return [row.action for row in AuditLog.select().order_by(AuditLog.created_at)]


def age_outbox() -> None:
    """Make every queued email two minutes old: past the one-a-minute throttle."""
    OutboxMessage.update(created_at=datetime.now(UTC) - timedelta(minutes=2)).execute()


def refresh_cookie(response) -> str:
    cookies = [value for key, value in response.headers.multi_items() if key == "set-cookie"]
    assert len(cookies) == 1, cookies
    return cookies[0]


# Register ------------------------------------------------------------------------------------


def test_register_creates_the_account_its_session_and_a_verification_email(client, mailbox, settings):
    response = register(client, email="Ann@Example.COM", name="  Ann Lee  ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == "ann@example.com"
    assert body["user"]["name"] == "Ann Lee"
    assert body["user"]["emailVerified"] is False
    assert body["user"]["role"] == "user"
    assert body["tokens"]["tokenType"] == "Bearer"
    assert body["tokens"]["expiresIn"] == 900
    assert me(client, body["tokens"]).json()["id"] == body["user"]["id"]

    [email] = mailbox.messages()
    assert email["To"] == "ann@example.com"
    assert mailbox.token("ann@example.com", "verify-email")
    assert User.get().password_hash.startswith(PREHASH_MARKER + "$2b$")
    assert RefreshToken.get().token_hash != body["tokens"]["refreshToken"]  # only the hash is stored
    assert actions() == ["user.registered"]


def test_register_sets_the_refresh_cookie(client):
    response = register(client)
    cookie = refresh_cookie(response)
    token = response.json()["tokens"]["refreshToken"]
    assert cookie.startswith(f"cairn_refresh={token};")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Secure"):
        assert attribute in cookie
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 7 * 86400 - 5 <= max_age <= 7 * 86400


def test_register_refuses_a_taken_email_whatever_its_case(client):
    registered(client, "ann@example.com")
    assert_error(register(client, email="ANN@example.com"), 409, "EMAIL_EXISTS")


def test_emails_are_lower_cased_in_python_even_beyond_ascii(client):
    """SQLite's LOWER() folds ASCII only: the service normalises before the unique index sees it.

    The contract only lets ASCII addresses through HTTP; the service (and the CLI) must not rely on it.
    """
    user, _ = auth.register("ÉLODIE@Example.com", PASSWORD, "Élodie")
    assert user.email == "élodie@example.com"
    with pytest.raises(DomainError) as raised:
        auth.register("élodie@EXAMPLE.com", PASSWORD, "Élodie")
    assert code_of(raised.value) == "EMAIL_EXISTS"
    assert auth.login("Élodie@example.com", PASSWORD)[0].id == user.id


def test_a_62_character_accented_password_registers_and_logs_in_and_its_last_character_counts(client):
    assert (len(ACCENTED_PASSWORD), len(ACCENTED_PASSWORD.encode())) == (62, 122)
    assert register(client, password=ACCENTED_PASSWORD).status_code == 201
    assert User.get().password_hash.startswith(PREHASH_MARKER)
    assert login(client, password=ACCENTED_PASSWORD).status_code == 200
    assert_error(login(client, password=ACCENTED_PASSWORD[:-1] + "2"), 401, "INVALID_CREDENTIALS")
    assert_error(login(client, password=ACCENTED_PASSWORD[:-1]), 401, "INVALID_CREDENTIALS")


def test_an_account_with_a_legacy_unmarked_hash_still_logs_in_exactly(client):
    """Hashes stored before the pre-hash (bcrypt over the raw password) keep working, unchanged."""
    registered(client)
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    User.update(password_hash=legacy).execute()
    assert login(client).status_code == 200
    assert_error(login(client, password=PASSWORD[:-1] + "3"), 401, "INVALID_CREDENTIALS")
    assert User.get().password_hash == legacy


def test_a_128_character_password_registers_and_logs_in_and_129_is_400_from_the_schema(client):
    error = assert_error(register(client, password=LONGEST_PASSWORD + "é"), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in error["details"]] == ["body.password"]
    assert User.select().count() == 0
    assert register(client, password=LONGEST_PASSWORD).status_code == 201
    assert login(client, password=LONGEST_PASSWORD).status_code == 200
    assert_error(login(client, password=LONGEST_PASSWORD[:-1] + "è"), 401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "a" * 250 + "@x.io"),
        ("password", "Short1A"),
        ("password", "nouppercase1"),
        ("password", "NoDigitsHere"),
        ("name", " A "),
        ("name", "x" * 101),
        ("name", "Ann\u0000Lee"),
    ],
)
def test_register_validation(client, field, value):
    body = {"email": "ann@example.com", "password": PASSWORD, "name": "Ann Lee", field: value}
    error = assert_error(client.post(f"{API}/auth/register", json=body), 400, "VALIDATION_ERROR")
    assert f"body.{field}" in [detail["field"] for detail in error["details"]]


def test_register_rejects_unknown_fields_naming_each(client):
    body = {"email": "ann@example.com", "password": PASSWORD, "name": "Ann Lee", "role": "admin", "isAdmin": True}
    error = assert_error(client.post(f"{API}/auth/register", json=body), 400, "VALIDATION_ERROR")
    assert error["details"] == [
        {"field": "body.isAdmin", "message": "is not a known field"},
        {"field": "body.role", "message": "is not a known field"},
    ]
    assert User.select().count() == 0


def test_a_password_without_an_upper_case_letter_is_refused_in_words(client):
    declared = SCHEMAS["NewPassword"]["x-pattern-message"]
    assert "upper-case letter" in declared
    error = assert_error(register(client, password="password1"), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "body.password", "message": declared}]
    assert "(?=" not in declared


def test_every_missing_field_is_named(client):
    error = assert_error(client.post(f"{API}/auth/register", json={}), 400, "VALIDATION_ERROR")
    assert error["details"] == [
        {"field": "body.email", "message": "is required"},
        {"field": "body.password", "message": "is required"},
        {"field": "body.name", "message": "is required"},
    ]


def test_a_malformed_email_is_one_sentence_not_a_format_and_a_pattern(client):
    error = assert_error(register(client, email="ann.example.com"), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "body.email", "message": SCHEMAS["Email"]["x-pattern-message"]}]


# Login and lockout ---------------------------------------------------------------------------


def test_login_starts_a_new_session(client):
    registered(client)
    response = login(client, email="ANN@example.com")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "ann@example.com"
    assert "cairn_refresh=" in refresh_cookie(response)
    assert Session.select().count() == 2
    assert me(client, response.json()["tokens"]).status_code == 200
    assert actions()[-1] == "auth.login_succeeded"


def test_wrong_password_and_unknown_email_are_the_same_401(client):
    registered(client)
    wrong = assert_error(login(client, password="Wrong-Pass-1"), 401, "INVALID_CREDENTIALS")
    unknown = assert_error(login(client, email="nobody@example.com"), 401, "INVALID_CREDENTIALS")
    assert wrong == unknown
    assert actions().count("auth.login_failed") == 2


def test_an_unknown_email_costs_one_bcrypt_check_like_a_known_one(client, monkeypatch):
    """The timing does not tell them apart: both paths check a password against a real hash."""
    registered(client)
    checked: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda pw, hashed: checked.append(hashed) or real(pw, hashed))
    login(client, password="Wrong-Pass-1")
    login(client, email="nobody@example.com")
    assert len(checked) == 2
    assert all(hashed.startswith(PREHASH_MARKER + "$2b$") for hashed in checked)


def test_five_failures_lock_the_account_even_for_the_right_password(client, clock):
    registered(client)
    for _ in range(5):
        assert_error(login(client, password="Wrong-Pass-1"), 401, "INVALID_CREDENTIALS")
    locked = login(client)
    assert_error(locked, 423, "ACCOUNT_LOCKED")
    assert locked.headers["retry-after"] == "900"
    assert "auth.account_locked" in actions()

    clock.advance(minutes=10)
    assert login(client).headers["retry-after"] == "300"
    clock.advance(minutes=5, seconds=1)
    assert login(client).status_code == 200
    assert LoginThrottle.select().count() == 0  # a success clears the count


def test_lockout_counts_failures_within_fifteen_minutes_only(client, clock):
    registered(client)
    for _ in range(4):
        login(client, password="Wrong-Pass-1")
    clock.advance(minutes=15, seconds=1)
    login(client, password="Wrong-Pass-1")  # opens a new window: one failure so far
    assert login(client).status_code == 200


def test_a_success_forgives_the_failures_before_it(client):
    registered(client)
    for _ in range(4):
        login(client, password="Wrong-Pass-1")
    assert login(client).status_code == 200
    for _ in range(4):
        login(client, password="Wrong-Pass-1")
    assert login(client).status_code == 200  # 8 failures in all, never 5 in a row


def test_a_lapsed_lockout_starts_a_fresh_count(client, clock):
    registered(client)
    for _ in range(5):
        login(client, password="Wrong-Pass-1")
    clock.advance(minutes=16)
    assert_error(login(client, password="Wrong-Pass-1"), 401, "INVALID_CREDENTIALS")
    assert login(client).status_code == 200


def test_unknown_emails_lock_too_so_a_423_reveals_nothing(client):
    for _ in range(5):
        login(client, email="ghost@example.com", password="Wrong-Pass-1")
    assert_error(login(client, email="GHOST@example.com"), 423, "ACCOUNT_LOCKED")


def test_a_password_reset_lifts_the_lockout(client, mailbox):
    registered(client)
    for _ in range(5):
        login(client, password="Wrong-Pass-1")
    assert login(client).status_code == 423
    client.post(f"{API}/auth/forgot-password", json={"email": "ann@example.com"})
    token = mailbox.token("ann@example.com", "reset-password")
    assert client.post(f"{API}/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}).status_code == 204
    assert login(client, password=NEW_PASSWORD).status_code == 200


def test_a_deleted_account_cannot_log_in_and_its_email_is_free_again(client):
    tokens = registered(client)["tokens"]
    assert client.delete(f"{API}/users/me", headers=bearer(tokens)).status_code == 204
    assert_error(login(client), 401, "INVALID_CREDENTIALS")
    assert register(client).status_code == 201
    assert login(client).status_code == 200


# Refresh -------------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_token_stops_working(client):
    first = registered(client)["tokens"]
    response = refresh(client, first["refreshToken"])
    assert response.status_code == 200, response.text
    second = response.json()["tokens"]
    assert second["refreshToken"] != first["refreshToken"]
    assert refresh_cookie(response).startswith(f"cairn_refresh={second['refreshToken']};")
    assert me(client, second).status_code == 200
    third = refresh(client, second["refreshToken"]).json()["tokens"]
    assert me(client, third).status_code == 200


def test_presenting_a_rotated_token_after_the_grace_revokes_the_whole_session(client, clock):
    first = registered(client)["tokens"]
    second = refresh(client, first["refreshToken"]).json()["tokens"]
    clock.advance(seconds=11)  # past REFRESH_REUSE_GRACE_SECONDS

    assert_error(refresh(client, first["refreshToken"]), 401, "UNAUTHORIZED")  # the thief, or the victim
    assert_error(refresh(client, second["refreshToken"]), 401, "UNAUTHORIZED")
    assert_error(me(client, second), 401, "UNAUTHORIZED")
    assert Session.get().revoked_at is not None
    assert "auth.token_reuse_detected" in actions()


def test_reuse_detection_leaves_other_sessions_alone(client, clock):
    first = registered(client)["tokens"]
    other = login(client).json()["tokens"]
    refresh(client, first["refreshToken"])
    clock.advance(seconds=11)
    refresh(client, first["refreshToken"])
    assert me(client, other).status_code == 200
    assert refresh(client, other["refreshToken"]).status_code == 200


def test_refresh_accepts_the_cookie(client, clock):
    tokens = registered(client)["tokens"]
    client.cookies.clear()  # the test client would not send a Secure cookie over http anyway
    response = client.post(f"{API}/auth/refresh", headers={"Cookie": f"cairn_refresh={tokens['refreshToken']}"})
    assert response.status_code == 200, response.text
    clock.advance(seconds=11)
    assert refresh(client, tokens["refreshToken"]).status_code == 401  # rotated


def test_refresh_prefers_the_body_over_the_cookie(client):
    stale = registered(client)["tokens"]
    current = refresh(client, stale["refreshToken"]).json()["tokens"]
    response = client.post(
        f"{API}/auth/refresh",
        json={"refreshToken": current["refreshToken"]},
        headers={"Cookie": "cairn_refresh=garbage-token"},
    )
    assert response.status_code == 200, response.text


def test_rotation_keeps_the_sessions_original_expiry(client, clock):
    tokens = registered(client)["tokens"]
    expires_at = Session.get().expires_at
    clock.advance(days=3)
    response = refresh(client, tokens["refreshToken"])
    assert response.status_code == 200
    assert Session.get().expires_at == expires_at
    max_age = int(refresh_cookie(response).split("Max-Age=")[1].split(";")[0])
    assert 4 * 86400 - 5 <= max_age <= 4 * 86400
    clock.advance(days=4, seconds=1)
    assert_error(refresh(client, response.json()["tokens"]["refreshToken"]), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("token", ["unknown-token", None])
def test_refresh_without_a_valid_token_is_401(client, token):
    registered(client)
    client.cookies.clear()
    body = {"refreshToken": token} if token else None
    assert_error(client.post(f"{API}/auth/refresh", json=body), 401, "UNAUTHORIZED")


# Logout --------------------------------------------------------------------------------------


def test_logout_kills_the_access_and_the_refresh_token(client):
    tokens = registered(client)["tokens"]
    response = client.post(f"{API}/auth/logout", headers=bearer(tokens))
    assert response.status_code == 204
    cookie = refresh_cookie(response)
    assert cookie.startswith("cairn_refresh=")
    assert "Max-Age=0" in cookie
    assert "Path=/api/v1/auth" in cookie
    assert_error(me(client, tokens), 401, "UNAUTHORIZED")
    assert_error(refresh(client, tokens["refreshToken"]), 401, "UNAUTHORIZED")
    assert_error(client.post(f"{API}/auth/logout", headers=bearer(tokens)), 401, "UNAUTHORIZED")
    assert "auth.logout" in actions()


def test_logout_ends_only_its_own_session(client):
    first = registered(client)["tokens"]
    second = login(client).json()["tokens"]
    client.post(f"{API}/auth/logout", headers=bearer(first))
    assert me(client, second).status_code == 200


# Bearer tokens -------------------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims_for(tokens: dict) -> dict:
    return jwt.decode(tokens["accessToken"], options={"verify_signature": False})


def test_an_expired_access_token_is_token_expired(client, settings):
    registered(client)
    session = Session.get()
    old = datetime.now(UTC) - timedelta(minutes=16)
    expired = issue_access_token(str(session.user_id), str(session.id), now=old)
    error = assert_error(me(client, {"accessToken": expired}), 401, "TOKEN_EXPIRED")
    assert "expired" in error["message"]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize(
    "forge",
    [
        lambda claims, _secret: jwt.encode(claims, "not-the-server-secret-but-32-bytes-long", algorithm="HS256"),
        lambda claims, _secret: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        lambda claims, secret: jwt.encode({**claims, "aud": "another-api"}, secret, algorithm="HS256"),
        lambda claims, secret: jwt.encode({**claims, "iss": "someone-else"}, secret, algorithm="HS256"),
        lambda claims, secret: jwt.encode({**claims, "sid": str(uuid.uuid4())}, secret, algorithm="HS256"),
        lambda claims, secret: jwt.encode({**claims, "sub": "not-a-uuid"}, secret, algorithm="HS256"),
        lambda claims, secret: jwt.encode(claims, secret, algorithm="HS512"),
    ],
    ids=["wrong-secret", "alg-none", "wrong-audience", "wrong-issuer", "unknown-session", "bad-sub", "hs512"],
)
def test_forged_tokens_are_unauthorized(client, settings, forge):
    claims = _claims_for(registered(client)["tokens"])
    assert (claims["aud"], claims["iss"]) == (AUDIENCE, ISSUER)
    forged = forge(claims, settings.jwt_secret)
    assert_error(client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {forged}"}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("header", [None, "Bearer", "Basic YW5uOnB3", "Bearer not.a.jwt"])
def test_missing_or_malformed_authorization_is_unauthorized(client, header):
    headers = {"Authorization": header} if header else {}
    assert_error(client.get(f"{API}/users/me", headers=headers), 401, "UNAUTHORIZED")


# Password reset ------------------------------------------------------------------------------


def forgot(client, email="ann@example.com"):
    return client.post(f"{API}/auth/forgot-password", json={"email": email})


def reset(client, token: str, password: str = NEW_PASSWORD):
    return client.post(f"{API}/auth/reset-password", json={"token": token, "password": password})


def test_forgot_password_answers_the_same_whether_or_not_the_account_exists(client, mailbox, settings):
    registered(client)
    known, unknown = forgot(client, "ANN@example.com"), forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert len(mailbox.messages("ann@example.com")) == 2  # verification, then reset
    assert mailbox.messages("nobody@example.com") == []
    token = mailbox.token("ann@example.com", "reset-password")
    stored = OneTimeToken.get(OneTimeToken.purpose == "reset_password")
    assert stored.token_hash != token
    assert stored.expires_at - stored.created_at == timedelta(minutes=60)
    assert OutboxMessage.select().where(OutboxMessage.payload.contains(token)).count() == 0  # no secret queued


def test_reset_changes_the_password_ends_every_session_and_sends_a_notice(client, mailbox):
    first = registered(client)["tokens"]
    second = login(client).json()["tokens"]
    forgot(client)
    assert reset(client, mailbox.token("ann@example.com", "reset-password")).status_code == 204

    for tokens in (first, second):
        assert_error(me(client, tokens), 401, "UNAUTHORIZED")
        assert_error(refresh(client, tokens["refreshToken"]), 401, "UNAUTHORIZED")
    assert_error(login(client), 401, "INVALID_CREDENTIALS")
    assert login(client, password=NEW_PASSWORD).status_code == 200
    notice = mailbox.messages("ann@example.com")[-1]
    assert "password was changed" in notice["Subject"]
    assert {"auth.password_reset_requested", "auth.password_reset"} <= set(actions())


def test_a_reset_token_works_once(client, mailbox):
    registered(client)
    forgot(client)
    token = mailbox.token("ann@example.com", "reset-password")
    assert reset(client, token).status_code == 204
    assert_error(reset(client, token, "Another-Pass-9"), 400, "INVALID_TOKEN")
    assert login(client, password=NEW_PASSWORD).status_code == 200


def test_a_reset_token_expires_after_sixty_minutes(client, mailbox, clock):
    registered(client)
    forgot(client)
    token = mailbox.token("ann@example.com", "reset-password")
    clock.advance(minutes=60, seconds=1)
    assert_error(reset(client, token), 400, "INVALID_TOKEN")


def test_a_too_long_new_password_does_not_spend_the_token_and_128_characters_do(client, mailbox):
    registered(client)
    forgot(client)
    token = mailbox.token("ann@example.com", "reset-password")
    error = assert_error(reset(client, token, LONGEST_PASSWORD + "é"), 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "body.password"
    assert reset(client, token, LONGEST_PASSWORD).status_code == 204
    assert login(client, password=LONGEST_PASSWORD).status_code == 200
    assert_error(login(client, password=LONGEST_PASSWORD[:-1] + "è"), 401, "INVALID_CREDENTIALS")


def test_tokens_only_work_for_their_own_purpose(client, mailbox):
    registered(client)
    verify_token = mailbox.token("ann@example.com", "verify-email")
    assert_error(reset(client, verify_token), 400, "INVALID_TOKEN")
    forgot(client)
    reset_token = mailbox.token("ann@example.com", "reset-password")
    assert_error(client.post(f"{API}/auth/verify-email", json={"token": reset_token}), 400, "INVALID_TOKEN")


def test_one_reset_email_per_address_per_minute(client, mailbox):
    registered(client)
    assert forgot(client).status_code == 202
    assert forgot(client).status_code == 202
    assert len([m for m in mailbox.messages("ann@example.com") if "Reset" in m["Subject"]]) == 1


def test_a_used_reset_voids_the_other_outstanding_reset_links(client, mailbox):
    registered(client)
    forgot(client)
    older = mailbox.token("ann@example.com", "reset-password")
    age_outbox()
    forgot(client)
    newer = mailbox.token("ann@example.com", "reset-password")
    assert older != newer
    assert reset(client, newer).status_code == 204
    assert_error(reset(client, older), 400, "INVALID_TOKEN")


# Email verification --------------------------------------------------------------------------


def verify(client, token: str):
    return client.post(f"{API}/auth/verify-email", json={"token": token})


def test_the_verification_link_works_once(client, mailbox):
    registered(client)
    token = mailbox.token("ann@example.com", "verify-email")
    response = verify(client, token)
    assert response.status_code == 200, response.text
    assert response.json()["emailVerified"] is True
    assert_error(verify(client, token), 400, "INVALID_TOKEN")
    assert actions().count("auth.email_verified") == 1


def test_the_verification_link_expires_after_24_hours(client, mailbox, clock):
    registered(client)
    token = mailbox.token("ann@example.com", "verify-email")
    clock.advance(hours=24, seconds=1)
    assert_error(verify(client, token), 400, "INVALID_TOKEN")


@pytest.mark.parametrize("token", ["x", "A" * 43, "bad token!"])
def test_unknown_or_malformed_verification_tokens_are_400(client, token):
    assert verify(client, token).status_code == 400


def test_resend_verification_is_throttled_then_sends_a_new_link(client, mailbox):
    tokens = registered(client)["tokens"]
    first = mailbox.token("ann@example.com", "verify-email")
    resend = client.post(f"{API}/auth/resend-verification", headers=bearer(tokens))
    assert resend.status_code == 202
    assert len(mailbox.messages()) == 1  # within a minute of the first: nothing more sent

    age_outbox()
    assert client.post(f"{API}/auth/resend-verification", headers=bearer(tokens)).status_code == 202
    second = mailbox.token("ann@example.com", "verify-email")
    assert second != first
    assert verify(client, second).status_code == 200
    assert verify(client, first).status_code == 200  # still valid; already verified is no error


def test_resend_verification_is_a_no_op_for_a_verified_user(client, mailbox):
    tokens = registered(client)["tokens"]
    verify(client, mailbox.token("ann@example.com", "verify-email"))
    age_outbox()
    response = client.post(f"{API}/auth/resend-verification", headers=bearer(tokens))
    assert response.status_code == 202
    assert len(mailbox.messages()) == 1


def test_resend_verification_needs_a_session(client):
    assert_error(client.post(f"{API}/auth/resend-verification"), 401, "UNAUTHORIZED")


def test_a_locked_answer_takes_one_bcrypt_check_like_a_wrong_password(client, monkeypatch):
    registered(client)
    for _ in range(5):
        login(client, password="Wrong-Pass-1")
    checked = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda pw, hashed: checked.append(hashed) or real(pw, hashed))
    assert_error(login(client), 423, "ACCOUNT_LOCKED")
    assert len(checked) == 1


@pytest.mark.parametrize("attempts", [20, 40])
def test_parallel_wrong_passwords_get_at_most_five_checks(client, attempts):
    """Each attempt is counted before its password is checked, so a burst cannot beat the lockout."""
    registered(client)
    outcomes = at_once(attempts, lambda: auth.login("ann@example.com", "Wrong-Pass-1"))
    codes = [code_of(outcome) for outcome in outcomes if isinstance(outcome, DomainError)]
    assert len(codes) == attempts
    assert codes.count("INVALID_CREDENTIALS") == auth.MAX_FAILURES
    assert codes.count("ACCOUNT_LOCKED") == attempts - auth.MAX_FAILURES
    assert_error(login(client), 423, "ACCOUNT_LOCKED")
