"""SMTP settings, and Flask-Mail's connection made safe: a timeout, verified TLS, no skipped login."""

import functools
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html import escape

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_mail import BadHeaderError, Connection, Message

from webapp.notifications import guard as outbound
from webapp.notifications.channels import email as email_channel
from webapp.notifications.diagnosis import (
    BadCaBundle,
    IncompleteCredentials,
    MissingHost,
    NoGreeting,
    decode_reply,
    diagnose,
)
from webapp.notifications.outcome import Outcome, Status

SECURITY_CHOICES = ("none", "ssl", "starttls")

CONNECTED = {
    # (encrypted, logged in) -> what a successful Test connection says
    (True, True): _l("Connected over an encrypted connection and logged in."),
    (True, False): _l("Connected over an encrypted connection; this server takes mail without a login."),
    (False, True): _l("Connected and logged in without encryption."),
    (False, False): _l("Connected; this server takes mail without a login and without encryption."),
}
CLEAR_TEXT_LOGIN = _l(
    "The password travels unencrypted: choose STARTTLS or SSL unless this is a trusted intranet relay."
)
UNVERIFIED = _l(
    "Certificate verification is off: anyone between Herald and the server could read the password. "
    "Trust the server's CA instead."
)
ACCEPTED = _l("The server accepted the message for delivery.")
NO_RECIPIENT = _l("The message has no recipient.")
NO_RECIPIENT_FIX = _l("Enter at least one e-mail address.")


@dataclass(frozen=True)
class SmtpSettings:
    """Everything needed to reach one SMTP server; the password is kept out of repr()."""

    host: str
    port: int
    security: str = "starttls"  # one of SECURITY_CHOICES; 'ssl' is implicit TLS, as on port 465
    username: str = ""
    password: str = field(default="", repr=False)
    sender_address: str = ""
    sender_name: str = ""
    timeout: float = 10.0  # seconds, for the connection and for every reply
    verify_tls: bool = True
    ca_bundle: str = ""  # PEM text or a file path: CA certificates trusted besides the system's
    # Which loopback, link-local or metadata addresses may be reached (System settings → Network): none.
    guard: outbound.Guard = field(default=outbound.STRICT, repr=False)

    def __post_init__(self):
        if self.security not in SECURITY_CHOICES:
            raise ValueError(f"security must be one of {SECURITY_CHOICES}, not {self.security!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if self.timeout <= 0:
            raise ValueError("the timeout must be positive")

    @property
    def sender(self) -> tuple[str, str]:
        """(display name, address); the address defaults to the account, which QQ Mail requires anyway."""
        return self.sender_name, self.sender_address or self.username

    def check(self) -> None:
        """Refuse what cannot work: no host, or half a login (Flask-Mail would quietly send without one)."""
        if not self.host:
            raise MissingHost("the SMTP host is empty")
        if self.username and not self.password:
            raise IncompleteCredentials("password")
        if self.password and not self.username:
            raise IncompleteCredentials("account")


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """A client context that verifies the certificate and host name unless told explicitly not to."""
    context = ssl.create_default_context()
    if settings.ca_bundle:
        _trust(context, settings.ca_bundle)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _trust(context: ssl.SSLContext, bundle: str) -> None:
    try:
        if "-----BEGIN" in bundle:
            context.load_verify_locations(cadata=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    except (ssl.SSLError, OSError, ValueError) as error:
        raise BadCaBundle(str(error)) from error


class _Recording:
    """Keeps what smtplib drops: the last reply (a refusal before a hang-up) and the refused recipients."""

    last_reply: tuple[int, bytes] = (0, b"")
    refused: dict = {}  # replaced by each sendmail(), never mutated

    def getreply(self):
        self.last_reply = super().getreply()
        return self.last_reply

    def login(self, user, password, *, initial_response_ok=True):
        try:
            return super().login(user, password, initial_response_ok=initial_response_ok)
        except smtplib.SMTPServerDisconnected:
            # smtplib tries the next AUTH mechanism after a refusal; QQ Mail hangs up after its 530,
            # and the hang-up would hide the reason.
            code, text = self.last_reply
            if code >= 400:
                raise smtplib.SMTPAuthenticationError(code, text) from None
            raise

    def sendmail(self, *args, **kwargs):
        self.refused = super().sendmail(*args, **kwargs)
        return self.refused


class _Guarded:
    """Connects only to an address the guard allows, found by resolving the host once, here.

    Before smtplib's own socket (and, for implicit TLS, before the handshake, which still checks the
    certificate against the host's name).
    """

    def __init__(self, *args, guard: outbound.Guard, **kwargs):
        self.guard = guard
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        failure = None
        for address in self.guard.addresses(host, port):
            try:
                return super()._get_socket(address, port, timeout)
            except (ConnectionError, TimeoutError) as error:  # the next address, as create_connection would
                failure = error
        raise failure


class _SMTP(_Guarded, _Recording, smtplib.SMTP):
    pass


class _SMTPSSL(_Guarded, _Recording, smtplib.SMTP_SSL):
    pass


@functools.cache
def _local_hostname() -> str:
    """The EHLO name smtplib would work out, once: it may take a slow reverse DNS lookup."""
    return smtplib.SMTP().local_hostname


class SmtpConnection(Connection):
    """Flask-Mail's Connection, for settings given in hand rather than the app config."""

    def __init__(self, settings: SmtpSettings, mail=None):
        super().__init__(mail if mail is not None else current_app.extensions["mail"])
        self.settings = settings

    def __enter__(self):
        # The caller asked to talk to this server: MAIL_SUPPRESS_SEND (on under TESTING) does not apply.
        self.host = self.configure_host()
        self.num_emails = 0
        return self

    def __exit__(self, exc_type, exc_value, tb) -> None:
        host, self.host = self.host, None
        if host is not None:
            _quit(host)

    def configure_host(self) -> smtplib.SMTP:
        """Connect, greet, secure and log in, or raise the error that stopped it."""
        settings = self.settings
        settings.check()
        context = tls_context(settings) if settings.security != "none" else None
        host = _open(settings, context)
        try:
            host.ehlo_or_helo_if_needed()
            if settings.security == "starttls":
                host.starttls(context=context)
            if settings.username:
                host.login(settings.username, settings.password)
        except BaseException:
            host.close()
            raise
        return host


def _open(settings: SmtpSettings, context: ssl.SSLContext | None) -> smtplib.SMTP:
    """A connected session whose socket times out on connect and on every read."""
    common = {"local_hostname": _local_hostname(), "timeout": settings.timeout, "guard": settings.guard}
    try:
        if settings.security == "ssl":
            return _SMTPSSL(settings.host, settings.port, context=context, **common)
        return _SMTP(settings.host, settings.port, **common)
    except smtplib.SMTPServerDisconnected as error:
        raise NoGreeting(str(error)) from error


def _quit(host: smtplib.SMTP) -> None:
    """Say goodbye; a server that hung up already must not mask the real error nor fail a delivered batch."""
    try:
        host.quit()
    except (smtplib.SMTPException, OSError):
        host.close()


def _reply_line(reply: tuple[int, bytes]) -> str:
    code, text = reply
    return f"{code} {decode_reply(text)}"


def test_connection(settings: SmtpSettings) -> Outcome:
    """Connect, secure, log in and say goodbye, within the timeout; nothing is sent."""
    try:
        with SmtpConnection(settings) as connection:
            host = connection.host
            raw = _reply_line(host.last_reply)
    except Exception as error:  # every failure is explained to the user, none escapes
        return diagnose(error)
    encrypted, logged_in = settings.security != "none", bool(settings.username)
    warning = ""
    if logged_in and not encrypted:
        warning = CLEAR_TEXT_LOGIN
    elif encrypted and not settings.verify_tls:
        warning = UNVERIFIED
    return Outcome(Status.SENT, cause=CONNECTED[encrypted, logged_in], fix=warning, raw=raw)


test_connection.__test__ = False  # pytest must not collect it when a test module imports it by name


def send_messages(settings: SmtpSettings, messages: Sequence[Message]) -> list[Outcome]:
    """Send every message through one SMTP session; one outcome per message, in order."""
    return list(send_each(settings, iter(messages)))


def send_each(settings: SmtpSettings, messages: Iterator[Message]) -> Iterator[Outcome]:
    """Send the messages through one SMTP session, yielding each one's outcome before taking the next.

    The caller may stop giving messages at any point: the session then ends. If the session breaks, every
    message not sent yet shares its fate.
    """
    in_flight = False
    try:
        with SmtpConnection(settings) as connection:
            for message in messages:
                in_flight = True
                outcome = _send_one(connection, message)
                in_flight = False
                yield outcome
    except Exception as error:
        broken = diagnose(error)
        if in_flight:
            yield broken
        for _ in messages:
            yield broken


# Refusals of one message that leave the session usable for the next (smtplib resets it).
_MESSAGE_REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    BadHeaderError,
)


def _send_one(connection: SmtpConnection, message: Message) -> Outcome:
    """Send one message; refusals that leave the session usable become this message's outcome."""
    if not message.send_to:
        return Outcome(Status.FAILED, cause=NO_RECIPIENT, fix=NO_RECIPIENT_FIX)
    try:
        connection.send(message)
    except _MESSAGE_REFUSALS as error:
        return diagnose(error)
    host = connection.host
    if host.refused:  # some recipients got it, these did not: not a success
        return diagnose(smtplib.SMTPRecipientsRefused(host.refused))
    return Outcome(Status.SENT, cause=ACCEPTED, raw=_reply_line(host.last_reply))


def send_test_mail(settings: SmtpSettings, to_address: str, locale: str = "en") -> Outcome:
    """Really send a short message, written in `locale`; a refusal at any step is reported, never success."""
    server = f"{settings.host}:{settings.port}"
    with force_locale(locale):  # the mail's language is a setting, not the language of whoever clicked
        subject = _("Herald test mail")
        body = _(
            "This test message from Herald came through %(server)s: the mail settings work.", server=server
        )
    message = email_channel.compose(
        subject=subject,
        html=f"<p>{escape(body)}</p>",
        text=body,
        sender=settings.sender,
        recipients=[to_address],
    )
    return send_messages(settings, [message])[0]
