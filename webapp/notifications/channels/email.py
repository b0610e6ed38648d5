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
    """Flask-Mail's Message, with `subject` kept as plain text and encoded safely only on the wire.

    An event mailed to many people is the same message but for its To and Message-ID: given the message it
    was composed like (`prototype`, already written out), it reuses those bytes with its own two headers
    instead of writing the whole MIME tree again, which costs more than sending it.
    """

    prototype: "MailMessage | None" = None
    written: bytes | None = None

    def as_bytes(self) -> bytes:
        reused = readdressed(self.prototype, self) if self.prototype is not None else None
        if reused is not None:
            return reused
        self.written = super().as_bytes()
        return self.written

    def _message(self):
        subject = self.subject
        self.subject = encode_subject(subject)
        try:
            return super()._message()
        finally:
            self.subject = subject


# A header line that is short, plain ASCII: it was written out as it stands, never folded or encoded.
_PLAIN_LINE = 78


def readdressed(prototype: MailMessage, message: MailMessage) -> bytes | None:
    """The prototype's bytes with the message's To and Message-ID; None when they cannot just be swapped."""
    if prototype.written is None or len(prototype.recipients) != 1 or len(message.recipients) != 1:
        return None
    head, blank, rest = prototype.written.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for name, old, new in (
        ("To", prototype.recipients[0], message.recipients[0]),
        ("Message-ID", prototype.msgId, message.msgId),
    ):
        before, after = f"{name}: {old}", f"{name}: {new}"
        if not (before.isascii() and after.isascii()) or max(len(before), len(after)) > _PLAIN_LINE:
            return None
        if lines.count(before.encode()) != 1:
            return None
        lines[lines.index(before.encode())] = after.encode()
    return b"\r\n".join(lines) + blank + rest


def format_sender(address: str, name: str = "") -> str:
    """`"name" <address>`, the name quoted so that a comma or quote in it cannot split the address."""
    name = fold_line(name)
    if not name:
        return address
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def compose(
    subject: str,
    html: str,
    text: str,
    sender: str | tuple[str, str],
    recipients: Iterable[str],
    like: MailMessage | None = None,
    message_id: str | None = None,
) -> Message:
    """A message with a plain-text body and its HTML alternative; `sender`: an address or (name, address).

    `like`: a message composed before for someone else; if its content is the same, its bytes are reused.
    `message_id`: the Message-ID to send (the same on every send of one outbox row); else a new one.
    """
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
    if message_id:
        message.msgId = message_id
    elif domain:
        message.msgId = make_msgid(domain=domain)
    if like is not None and (like.subject, like.body, like.html, like.sender) == (
        message.subject,
        message.body,
        message.html,
        message.sender,
    ):
        message.prototype = like
    return message
