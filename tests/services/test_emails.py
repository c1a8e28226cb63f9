"""Email rendering, the three delivery backends, and the send task's idempotency."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import socket
import ssl
import subprocess
from datetime import UTC, datetime
from html import escape

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from mailtools import bodies, parse, read_folder

from core import config, mailer
from models import OneTimeToken, OutboxMessage, User, db
from models.db import utcnow
from services import emails, one_time_tokens
from tasks.emails import send_email
from tasks.templates import render

KEY = "5b1f7c3a-2e4d-4a9b-b6c8-0d1e2f3a4b5c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.received.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def use(monkeypatch, settings):
    """Run with some settings changed: ``use(email_backend="console")``."""

    def apply(**changes):
        monkeypatch.setattr(config, "_current", dataclasses.replace(settings, **changes))

    config.use_settings(settings)
    return apply


# Rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["verify_email", "reset_password"])
def test_link_emails_have_the_link_in_text_and_html(kind):
    email = render(kind, "ann@example.com", "Ann", "http://app.test/page?token=abc")
    assert "http://app.test/page?token=abc" in email.text
    assert 'href="http://app.test/page?token=abc"' in email.html
    assert email.subject.startswith("Cairn: ")


def test_names_are_escaped_in_html():
    email = render("password_changed", "ann@example.com", "<script>alert(1)</script>")
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "<script>alert(1)</script>" in email.text


def test_a_message_is_text_with_an_html_alternative_and_a_stable_message_id(settings):
    message = mailer.build(render("password_changed", "ann@example.com", "Ann"), KEY, settings)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == f"<{KEY}@cairn.local>"
    assert message["To"] == "ann@example.com"
    assert message["From"] == settings.mail_from
    text, html = bodies(parse(message.as_bytes()))
    assert "password" in text
    assert html.startswith("<!doctype html>")


# Backends ------------------------------------------------------------------------------------


def test_file_backend_writes_one_eml_per_message_atomically(settings, use, tmp_path):
    use(email_backend="file", mail_dir=tmp_path / "mail")
    message = mailer.build(render("password_changed", "ann@example.com", "Ann"), KEY)
    mailer.send(message, KEY)
    mailer.send(message, KEY)  # a resend rewrites the same file
    assert [path.name for path in (tmp_path / "mail").iterdir()] == [f"{KEY}.eml"]
    [stored] = read_folder(tmp_path / "mail")
    assert stored["Message-ID"] == message["Message-ID"]


def test_console_backend_prints_the_message_but_logs_no_body(use, capsys, caplog):
    use(email_backend="console")
    message = mailer.build(render("reset_password", "ann@example.com", "Ann", "http://app.test/r?token=SECRET1"), KEY)
    with caplog.at_level(logging.INFO, logger="cairn.mailer"):
        mailer.send(message, KEY)
    printed = capsys.readouterr().out
    assert "To: ann@example.com" in printed
    assert "token=SECRET1" in printed
    assert "SECRET1" not in caplog.text


def test_smtp_backend_delivers_and_logs_in_when_configured(use):
    sink, port = Sink(), free_port()
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    controller = Controller(sink, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        use(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_user="mailer", smtp_password="pw")
        message = mailer.build(render("password_changed", "ann@example.com", "Ann"), KEY)
        mailer.send(message, KEY)
    finally:
        controller.stop()
    [(recipients, raw)] = sink.received
    assert recipients == ["ann@example.com"]
    assert parse(raw)["Message-ID"] == f"<{KEY}@cairn.local>"
    assert logins == [(b"mailer", b"pw")]


def test_smtp_backend_raises_when_the_server_is_down(use):
    use(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=free_port())
    with pytest.raises(ConnectionRefusedError):
        mailer.send(mailer.build(render("password_changed", "a@example.com", "A"), KEY), KEY)


# The task ------------------------------------------------------------------------------------


def queue(user: User, kind: str) -> OutboxMessage:
    """An outbox row as a request would write it, without publishing it."""
    with db.atomic():
        emails.queue_email(kind, user.id, user.email)
        return OutboxMessage.select().order_by(OutboxMessage.created_at.desc()).first()


@pytest.fixture
def unpublished(monkeypatch):
    """Keep ``enqueue`` from publishing, so the test decides when (and how often) the task runs."""
    monkeypatch.setattr(db.obj, "after_commit", lambda _fn: None)


def test_a_redelivered_message_sends_nothing_twice(accounts, mailbox, unpublished):
    row = queue(accounts.create(email="ann@example.com"), "verify_email")
    assert send_email.apply(args=[str(row.id)]).get() == "done"
    assert send_email.apply(args=[str(row.id)]).get() == "skipped"
    assert len(mailbox.messages()) == 1


def test_a_resend_after_a_crash_reuses_the_token_and_the_message_id(accounts, mailbox, unpublished):
    row = queue(accounts.create(email="ann@example.com"), "reset_password")
    send_email.apply(args=[str(row.id)])
    first = mailbox.messages()[0]
    token = mailbox.token("ann@example.com", "reset-password")
    # The worker died after the SMTP server accepted the message, before the row was marked done:
    OutboxMessage.update(state="dispatched", finished_at=None).where(OutboxMessage.id == row.id).execute()
    send_email.apply(args=[str(row.id)])
    [again] = mailbox.messages()  # the file backend rewrote the same file
    assert again["Message-ID"] == first["Message-ID"]
    assert mailbox.token("ann@example.com", "reset-password") == token
    assert OneTimeToken.select().count() == 1


def test_the_payload_carries_no_secret(accounts, unpublished):
    row = queue(accounts.create(email="ann@example.com"), "reset_password")
    assert set(json.loads(row.payload)) == {"kind", "userId", "to"}


def test_no_email_for_a_deleted_account_or_an_already_verified_address(accounts, mailbox, unpublished):
    gone = accounts.create(email="gone@example.com")
    verified = accounts.create(email="done@example.com")
    rows = [queue(gone, "reset_password"), queue(verified, "verify_email")]
    User.update(deleted_at=utcnow()).where(User.id == gone.id).execute()
    User.update(email_verified_at=utcnow()).where(User.id == verified.id).execute()
    for row in rows:
        assert send_email.apply(args=[str(row.id)]).get() == "done"
    assert mailbox.messages() == []
    assert OneTimeToken.select().count() == 0


def test_ascii_messages_keep_their_links_on_one_line(settings):
    link = "http://app.test/reset-password?token=" + "A" * 43
    raw = mailer.build(render("reset_password", "ann@example.com", "Ann", link), KEY, settings).as_bytes()
    assert raw.count(link.encode()) == 3  # text, href, and the pasteable copy: no quoted-printable wrapping


def test_non_ascii_names_are_encoded_and_come_back_intact(settings):
    message = mailer.build(render("password_changed", "zoe@example.com", "Zoë Ångström"), KEY, settings)
    text, html = bodies(parse(message.as_bytes()))
    assert "Zoë Ångström" in text
    assert "Zoë Ångström" in html


def test_a_used_link_stays_used_when_its_email_is_sent_again(accounts, mailbox, unpublished):
    from services import one_time_tokens
    from tasks.maintenance import purge_expired

    row = queue(accounts.create(email="ann@example.com"), "reset_password")
    send_email.apply(args=[str(row.id)])
    token = mailbox.token("ann@example.com", "reset-password")
    assert one_time_tokens.consume(token, "reset_password")
    purge_expired.apply()  # must keep the used row: it is what marks the token used
    OutboxMessage.update(state="dispatched", finished_at=None).where(OutboxMessage.id == row.id).execute()
    send_email.apply(args=[str(row.id)])
    assert mailbox.token("ann@example.com", "reset-password") == token
    assert one_time_tokens.consume(token, "reset_password") is None


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1 (made by the openssl command line tool)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*request, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_smtp_starttls_verifies_the_server_certificate(use, tls_files, monkeypatch):
    cert, key = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, tls_context=server_context, require_starttls=True)
    controller.start()
    try:
        use(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=True)
        message = mailer.build(render("password_changed", "ann@example.com", "Ann"), KEY)
        with pytest.raises(ssl.SSLCertVerificationError):
            mailer.send(message, KEY)  # an unknown issuer is refused
        assert sink.received == []
        trusting = functools.partial(ssl.create_default_context, cafile=str(cert))
        monkeypatch.setattr(mailer.ssl, "create_default_context", trusting)
        mailer.send(message, KEY)
    finally:
        controller.stop()
    assert len(sink.received) == 1


# Email change and security notices -------------------------------------------------------------

OLD, NEW = "ann@example.com", "<b>ann@example.org</b>"
CHANGE_FACTS = {"oldEmail": OLD, "newEmail": NEW}


@pytest.mark.parametrize(
    ("kind", "facts", "named"),
    [
        ("confirm_email_change", CHANGE_FACTS, [NEW]),  # the new mailbox is not told the old address
        ("revert_email_change", CHANGE_FACTS, [OLD, NEW]),
        ("email_changed", CHANGE_FACTS, [OLD, NEW]),
        ("email_change_reverted", {"oldEmail": OLD}, [OLD]),
        ("password_changed", {"sessionsEnded": "every session"}, ["every session was signed out"]),
        ("password_changed", None, ["every other session was signed out"]),  # a row queued before facts existed
    ],
)
def test_every_notice_renders_its_facts_and_its_time_in_text_and_escaped_html(kind, facts, named):
    link = "http://app.test/page?token=abc" if kind in emails.LINKS else None
    at = datetime(2026, 11, 25, 9, 14, tzinfo=UTC)
    email = render(kind, "ann@example.com", "Ann", link, at, facts)
    assert "25 November 2026 at 09:14 UTC" in email.text
    assert "25 November 2026 at 09:14 UTC" in email.html
    for value in named:
        assert value in email.text
        assert escape(value) in email.html
    assert "<b>" not in email.html
    if link:
        assert link in email.text
        assert f'href="{link}"' in email.html


def test_a_replaced_confirmation_is_not_sent(accounts, mailbox, unpublished):
    user = accounts.create(email="ann@example.com")
    with db.atomic():
        emails.queue_link_email(
            "confirm_email_change", user.id, "new@example.com", CHANGE_FACTS, about="new@example.com"
        )
    row = OutboxMessage.get()
    one_time_tokens.void_all(user.id, one_time_tokens.CONFIRM_EMAIL_CHANGE)
    assert send_email.apply(args=[str(row.id)]).get() == "done"
    assert mailbox.messages() == []


def test_links_queued_for_an_address_the_account_left_are_not_sent(accounts, mailbox, unpublished):
    user = accounts.create(email="ann@example.com")
    rows = [queue(user, "reset_password"), queue(user, "verify_email")]
    User.update(email="ann@example.org").where(User.id == user.id).execute()
    for row in rows:
        assert send_email.apply(args=[str(row.id)]).get() == "done"
    assert mailbox.messages() == []
    assert OneTimeToken.select().count() == 0
