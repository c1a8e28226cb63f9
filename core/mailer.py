"""Email delivery, chosen by EMAIL_BACKEND: ``smtp``, ``file`` (the default) or ``console``.

Messages are plain text with an HTML alternative. The ``Message-ID`` is derived
from the outbox row that asked for the email, so a message sent twice after a
crash (accepted by the SMTP server, then the worker died before marking the row
done) is recognisably the same message, and the file backend just rewrites the
same file.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from core.config import Settings, get_settings

log = logging.getLogger("cairn.mailer")

SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


def message_id(key: str, mail_from: str) -> str:
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "cairn.local"
    return f"<{key}@{domain}>"


def build(email: Email, key: str, settings: Settings | None = None) -> EmailMessage:
    """A MIME message (text, then the HTML alternative) whose Message-ID comes from ``key``."""
    settings = settings or get_settings()
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(key, settings.mail_from)
    message.set_content(email.text, cte=_transfer_encoding(email.text))
    message.add_alternative(email.html, subtype="html", cte=_transfer_encoding(email.html))
    return message


def _transfer_encoding(body: str) -> str | None:
    """7bit for ASCII keeps links whole (readable and greppable in a ``.eml``); else the library's choice."""
    return "7bit" if body.isascii() else None


def send(message: EmailMessage, key: str, settings: Settings | None = None) -> None:
    """Deliver with the configured backend. SMTP and OS errors propagate (the task retries them)."""
    settings = settings or get_settings()
    backend = {"smtp": _send_smtp, "file": _write_file, "console": _print}[settings.email_backend]
    backend(message, key, settings)


def _send_smtp(message: EmailMessage, _key: str, settings: Settings) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            # smtplib's default context verifies nothing; this one checks the certificate and host name.
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
    log.info("email sent by SMTP", extra={"messageId": message["Message-ID"]})


def _write_file(message: EmailMessage, key: str, settings: Settings) -> None:
    """``<mail_dir>/<key>.eml``, written atomically (a reader never sees half a file)."""
    folder = Path(settings.mail_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
        os.replace(tmp, folder / f"{key}.eml")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("email written to file", extra={"messageId": message["Message-ID"], "file": f"{key}.eml"})


def _print(message: EmailMessage, _key: str, _settings: Settings) -> None:
    """The message's text on stdout (the developer asked to read their emails there), not in the JSON log."""
    text = message.get_body(("plain",)).get_content()
    sys.stdout.write(f"To: {message['To']}\nSubject: {message['Subject']}\n\n{text}\n")
    sys.stdout.flush()
    log.info("email printed to the console", extra={"messageId": message["Message-ID"]})
