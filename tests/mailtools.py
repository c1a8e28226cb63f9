"""Reading the emails a test caused: ``.eml`` files (file backend) or messages caught by an SMTP sink."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def read_folder(folder: Path) -> list[EmailMessage]:
    """Every ``.eml`` in ``folder``, oldest first."""
    files = sorted(folder.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns) if folder.exists() else []
    return [parse(path.read_bytes()) for path in files]


def bodies(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a message; both must be there."""
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def link_token(message: EmailMessage, base_url: str, page: str) -> str:
    """The token of the ``{base_url}/{page}?token=…`` link, found in the text and the HTML alike."""
    text, html = bodies(message)
    pattern = re.escape(f"{base_url}/{page}?token=") + r"([A-Za-z0-9_-]+)"
    in_text, in_html = re.search(pattern, text), re.search(pattern, html)
    assert in_text, text
    assert in_html, html
    assert in_text.group(1) == in_html.group(1)
    return in_text.group(1)


class Mailbox:
    """The ``.eml`` files the file backend wrote during one test (the folder is emptied first)."""

    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder = folder
        self.base_url = base_url

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        return [message for message in read_folder(self.folder) if to is None or message["To"] == to]

    def token(self, to: str, page: str) -> str:
        """The token in the newest email to ``to`` that links to ``page`` (verify-email, reset-password)."""
        linking = [m for m in self.messages(to) if f"/{page}?token=" in bodies(m)[0]]
        assert linking, f"no {page} email to {to}"
        return link_token(linking[-1], self.base_url, page)
