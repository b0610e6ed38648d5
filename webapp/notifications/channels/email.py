"""E-mail channel: a rendered subject and bodies in, a Flask-Mail Message out. Sending lives in smtp.py."""

import unicodedata
from collections.abc import Iterable
from email.header import Header
from email.utils import make_msgid

from flask_mail import Message

# Characters that end a header line or hide in one: controls and Unicode line and paragraph separators.
_BREAKING = {"Cc", "Zl", "Zp"}


def fold_line(text: str) -> str:
    """Text made one header-safe line: breaks and control characters become single spaces."""
    cleaned = "".join(" " if unicodedata.category(char) in _BREAKING else char for char in text)
    return " ".join(cleaned.split())


def encode_subject(subject: str) -> str:
    """The Subject header value as sent: RFC 2047 words in lines short enough that nothing refolds them.

    Flask-Mail encodes without counting the header name, so the line is too long and the email package
    folds it again, dropping a space that falls between two encoded words. ASCII text holding "=?" is
    encoded too, or a mail client would decode it as if it were an encoded word.
    """
    if subject.isascii() and "=?" not in subject:
        return subject
    return Header(subject, "utf-8", header_name="Subject").encode()


class MailMessage(Message):
    """Flask-Mail's Message, with `subject` kept as plain text and encoded safely only on the wire."""

    def _message(self):
        subject = self.subject
        self.subject = encode_subject(subject)
        try:
            return super()._message()
        finally:
            self.subject = subject


def format_sender(address: str, name: str = "") -> str:
    """`"name" <address>`, the name quoted so that a comma or quote in it cannot split the address."""
    name = fold_line(name)
    if not name:
        return address
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def compose(
    subject: str, html: str, text: str, sender: str | tuple[str, str], recipients: Iterable[str]
) -> Message:
    """A message with a plain-text body and its HTML alternative; `sender`: an address or (name, address)."""
    name, address = sender if isinstance(sender, tuple) else ("", sender)
    message = MailMessage(
        subject=fold_line(subject),
        recipients=list(recipients),
        body=text,
        html=html,
        sender=format_sender(address, name),
        # RFC 3834: tells vacation responders not to answer a notification.
        extra_headers={"Auto-Submitted": "auto-generated"},
    )
    # Flask-Mail names the local host in Message-ID; the sender's domain is what spam filters expect.
    domain = address.rpartition("@")[2]
    if domain:
        message.msgId = make_msgid(domain=domain)
    return message
