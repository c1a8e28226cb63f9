"""The words of each email, rendered in the worker: a plain-text body and its HTML twin."""

from __future__ import annotations

from html import escape

from core.mailer import Email

PRODUCT = "Cairn"

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
        "intro": "The password of your account was just changed, and every other session was signed out.",
        "action": None,
        "outro": "If this was not you, reset your password at once and contact us.",
    },
}


def render(kind: str, to: str, name: str, link: str | None = None) -> Email:
    """The email of ``kind`` for ``name``; ``link`` is required for the kinds that have an action."""
    copy = _COPY[kind]
    subject = f"{PRODUCT}: {copy['subject']}"
    text_parts = [f"Hello {name},", copy["intro"]]
    html_parts = [f"<p>Hello {escape(name)},</p>", f"<p>{escape(copy['intro'])}</p>"]
    if copy["action"]:
        assert link, f"{kind} needs a link"
        text_parts.append(f"{copy['action']}: {link}")
        html_parts.append(f'<p><a href="{escape(link)}">{escape(copy["action"])}</a></p>')
        html_parts.append(f"<p>Or paste this address into your browser: {escape(link)}</p>")
    text_parts += [copy["outro"], f"-- {PRODUCT}"]
    html_parts += [f"<p>{escape(copy['outro'])}</p>", f"<p>{PRODUCT}</p>"]
    text = "\n\n".join(text_parts) + "\n"
    html = f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{escape(subject)}</title></head>\n'
    html += f"<body>\n{chr(10).join(html_parts)}\n</body></html>\n"
    return Email(to=to, subject=subject, text=text, html=html)
