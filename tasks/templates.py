"""The words of each email, rendered in the worker: a plain-text body and its HTML twin.

A kind's words may name facts (``{new_email}``, ``{when}``, …): the row's time and the values
queued with it. Each kind gives defaults for its facts, so a row queued by an older version
still renders.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from core.mailer import Email

PRODUCT = "Cairn"
NOT_YOU_PASSWORD = (
    "If this was not you, someone else knows your password: choose a new one at once with "
    '"Forgot your password?" on the sign-in page (that signs every session out), and contact us.'
)

_COPY = {
    "verify_email": {
        "subject": "Confirm your email address",
        "intro": "Please confirm that this is your email address by opening the link below.",
        "action": "Confirm my email",
        "outro": "The link works once and expires in 24 hours. If you did not create an account, ignore this email.",
    },
    "reset_password": {
        "subject": "Reset your password",
        "intro": "Someone (hopefully you) asked to reset the password of your account.",
        "action": "Choose a new password",
        "outro": "The link works once and expires in 60 minutes. If you did not ask for it, ignore this email: "
        "your password stays as it is.",
    },
    "password_changed": {
        "subject": "Your password was changed",
        "intro": "The password of your account was changed on {when}, and {sessions_ended} was signed out.",
        "action": None,
        "outro": NOT_YOU_PASSWORD,
        "defaults": {"sessions_ended": "every other session"},
    },
    "confirm_email_change": {
        "subject": "Confirm your new email address",
        "intro": "Someone (hopefully you) asked on {when} to make {new_email} the email address of your "
        "account. Nothing changes until you confirm it with the link below.",
        "action": "Confirm my new email",
        "outro": "The link works once and expires in 1 hour. Once you confirm, you sign in with this address, "
        "and every session but the one that asked is signed out. If you did not ask for it, ignore this email.",
    },
    "revert_email_change": {
        "subject": "Your email address is being changed",
        "intro": "Someone asked on {when} to change the email address of your account from {old_email} "
        "to {new_email}. It changes only if the new address is confirmed.",
        "action": "Keep {old_email} (this was not me)",
        "outro": "If you asked for it, there is nothing to do. If not, open the link: it keeps (or puts back) "
        "{old_email}, cancels the change, signs every session out and sends you a link to choose a new "
        "password. It works once, for 7 days, even after the change is confirmed.",
    },
    "email_changed": {
        "subject": "Your email address was changed",
        "intro": "The email address of your account was changed from {old_email} to {new_email} on {when}, "
        "and every session but the one that asked for it was signed out. You now sign in with {new_email}.",
        "action": None,
        "outro": "If this was not you, use the link we sent to {old_email} to put it back (it works for 7 days), "
        "then choose a new password, and contact us.",
    },
    "email_change_reverted": {
        "subject": "Your email address was put back",
        "intro": "The email address of your account is {old_email} again (set back on {when}): any pending "
        "change of address was cancelled, and every session was signed out.",
        "action": "Choose a new password",
        "outro": "If you did not ask to change your address, someone may know your password: choose a new one "
        'now. The link works once and expires in 60 minutes; after that, use "Forgot your password?".',
    },
}
FACT_NAMES = {"oldEmail": "old_email", "newEmail": "new_email", "sessionsEnded": "sessions_ended"}


def when(moment: datetime | None) -> str:
    """``25 November 2026 at 09:14 UTC`` (a moment is stored in UTC)."""
    if moment is None:
        return "just now"
    return f"{moment.day} {moment:%B %Y} at {moment:%H:%M} UTC"


def render(
    kind: str,
    to: str,
    name: str,
    link: str | None = None,
    occurred_at: datetime | None = None,
    facts: dict[str, str] | None = None,
) -> Email:
    """The email of ``kind`` for ``name``; ``link`` is required for the kinds that have an action."""
    copy = _COPY[kind]
    values = {**copy.get("defaults", {}), "when": when(occurred_at)}
    values |= {FACT_NAMES.get(key, key): value for key, value in (facts or {}).items()}
    html_values = {key: escape(value) for key, value in values.items()}

    def text_of(part: str) -> str:
        return copy[part].format_map(values)

    def html_of(part: str) -> str:
        return escape(copy[part]).format_map(html_values)

    subject = f"{PRODUCT}: {copy['subject']}"
    text_parts = [f"Hello {name},", text_of("intro")]
    html_parts = [f"<p>Hello {escape(name)},</p>", f"<p>{html_of('intro')}</p>"]
    if copy["action"]:
        assert link, f"{kind} needs a link"
        text_parts.append(f"{text_of('action')}: {link}")
        html_parts.append(f'<p><a href="{escape(link)}">{html_of("action")}</a></p>')
        html_parts.append(f"<p>Or paste this address into your browser: {escape(link)}</p>")
    text_parts += [text_of("outro"), f"-- {PRODUCT}"]
    html_parts += [f"<p>{html_of('outro')}</p>", f"<p>{PRODUCT}</p>"]
    text = "\n\n".join(text_parts) + "\n"
    html = f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{escape(subject)}</title></head>\n'
    html += f"<body>\n{chr(10).join(html_parts)}\n</body></html>\n"
    return Email(to=to, subject=subject, text=text, html=html)
