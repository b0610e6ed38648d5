"""Why an SMTP conversation failed, in words an administrator can act on: a pure function of the error."""

import errno
import re
import smtplib
import socket
import ssl
from collections.abc import Container
from dataclasses import dataclass, replace

from flask_babel import lazy_gettext as _l
from flask_mail import BadHeaderError

from webapp.notifications import guard as outbound
from webapp.notifications.outcome import Outcome, Status

# Where in the conversation a reply came: it changes what a code means (501 at MAIL FROM is not 501 at EHLO).
STAGES = ("greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data")


class IncompleteCredentials(ValueError):
    """An account without a password or the reverse: Flask-Mail would silently skip the login."""

    def __init__(self, missing: str):
        super().__init__(f"the SMTP {missing} is empty")
        self.missing = missing


class MissingHost(ValueError):
    """No SMTP host is set: Mail settings were never filled in."""


class NoGreeting(smtplib.SMTPServerDisconnected):
    """The server took the connection but never sent its 220 greeting."""


class BadCaBundle(ValueError):
    """The trusted CA bundle is neither readable PEM text nor a readable file."""


@dataclass(frozen=True)
class Advice:
    """A cause and a fix for one kind of failure, and whether trying again later may help."""

    cause: str
    fix: str
    retry: bool = False


WRONG_CREDENTIALS = Advice(
    _l("The server refused the account or the password."),
    _l(
        "Use the authorization code, not the account password: QQ Mail, 163 and others need an "
        "authorization code (授权码) made in the mailbox's settings. The account is the full e-mail address."
    ),
)
SENDER_NOT_ACCOUNT = Advice(
    _l("The server sends mail only from the account you log in with, and the sender address differs."),
    _l("Set the sender address to the account's own address; the display name may be anything."),
)
BAD_SENDER = Advice(
    _l("The server rejected the sender address as malformed."),
    _l("Enter a complete sender address, such as team@example.com."),
)
LOGIN_REQUIRED = Advice(
    _l("The server accepts mail only after a login."),
    _l("Enter the account and its password or authorization code."),
)
AUTH_NEEDS_TLS = Advice(
    _l("The server accepts a login only over an encrypted connection."),
    _l("Choose SSL (usually port 465) or STARTTLS (usually port 587) as the security."),
)
AUTH_NOT_OFFERED = Advice(
    _l("The server offers no login on this connection."),
    _l(
        "Many servers offer a login only once the connection is encrypted: choose STARTTLS or SSL. "
        "For an intranet relay that takes no login, clear the account and the password."
    ),
)
NO_AUTH_METHOD = Advice(
    _l("The server offers no login method Herald knows (it knows PLAIN, LOGIN and CRAM-MD5)."),
    _l("Ask the mail administrator to enable PLAIN or LOGIN authentication over TLS."),
)
STARTTLS_NOT_OFFERED = Advice(
    _l("The server does not offer STARTTLS on this port."),
    _l(
        "For port 465 choose SSL. Otherwise ask the mail administrator which port offers STARTTLS; "
        "choose None only for a trusted intranet relay."
    ),
)
SSL_ON_PLAIN_PORT = Advice(
    _l("SSL was chosen, but this port starts in plain text (TLS reports a wrong version number)."),
    _l("Choose STARTTLS for this port (usually 587 or 25), or use the SSL port (usually 465)."),
)
NO_GREETING_TIMEOUT = Advice(
    _l(
        "The server took the connection but sent no greeting before the timeout. A port that expects "
        "SSL from the first byte (usually 465) does this when STARTTLS or None is chosen."
    ),
    _l("Choose SSL for port 465, or use port 587 with STARTTLS."),
)
NO_GREETING_CLOSED = Advice(
    _l("The server closed the connection before greeting."),
    _l("The server may limit connections or block this address: try again later, or ask its administrator."),
    retry=True,
)
TIMEOUT = Advice(
    _l("The server did not answer within the timeout."),
    _l("Check the host and the port: a firewall may drop the connection silently. Or raise the timeout."),
    retry=True,
)
STOPPED_ANSWERING = Advice(
    _l("The server stopped answering in the middle of the conversation."),
    _l("Try again later; if it keeps happening, raise the timeout."),
    retry=True,
)
DISCONNECTED = Advice(
    _l("The server closed the connection unexpectedly."),
    _l("Try again later; if it keeps happening, check the security setting for this port."),
    retry=True,
)
REFUSED = Advice(
    _l("Nothing answers on this host and port (connection refused)."),
    _l("Check the port (465 for SSL, 587 for STARTTLS, 25 for none) and that the mail server is running."),
    retry=True,
)
UNKNOWN_HOST = Advice(
    _l("The SMTP host name does not exist."),
    _l("Check the spelling of the host, for example smtp.qq.com."),
)
DNS_TEMPORARY = Advice(
    _l("The host name could not be looked up just now (temporary DNS failure)."),
    _l("Try again later; if it persists, check this server's DNS settings."),
    retry=True,
)
UNREACHABLE = Advice(
    _l("There is no network route to the mail server."),
    _l("Check the host, and whether this server may reach it (firewall rules, intranet)."),
    retry=True,
)
NETWORK = Advice(
    _l("A network error interrupted the connection."),
    _l("Try again later."),
    retry=True,
)
CERT_UNTRUSTED = Advice(
    _l("The server's certificate is signed by no authority Herald trusts (self-signed or a private CA)."),
    _l(
        "Paste your organisation's CA certificate into the trusted CA field. Turn verification off only "
        "for an intranet server you trust."
    ),
)
CERT_EXPIRED = Advice(
    _l("The server's certificate has expired or is not valid yet."),
    _l("Ask the mail administrator to renew the certificate, and check this server's clock."),
)
HOSTNAME_MISMATCH = Advice(
    _l("The server's certificate was issued for another host name than the one entered."),
    _l("Enter the host name the certificate names (for example smtp.qq.com, not an IP address)."),
)
TLS_FAILED = Advice(
    _l("The encrypted connection could not be set up."),
    _l("Check the security setting for this port; the server may offer only outdated TLS versions."),
)
CA_BUNDLE_INVALID = Advice(
    _l("The trusted CA certificate could not be read."),
    _l("Paste the CA certificate in PEM form (it begins with -----BEGIN CERTIFICATE-----)."),
)
MISSING_HOST = Advice(
    _l("No SMTP host is set."),
    _l("Fill in Mail settings: the SMTP host (for example smtp.qq.com), the port and the security."),
)
MISSING_PASSWORD = Advice(
    _l("An account is set but the password is empty, so Herald would not log in."),
    _l("Enter the password or authorization code, or clear the account for a relay that takes no login."),
)
MISSING_ACCOUNT = Advice(
    _l("A password is set but the account is empty."),
    _l("Enter the account (usually the full e-mail address), or clear the password."),
)
RECIPIENT_REFUSED = Advice(
    _l("The server refused the recipient's address."),
    _l("Check the recipient's e-mail address."),
)
RELAY_DENIED = Advice(
    _l("The server refused to pass the mail on to this recipient (relaying denied)."),
    _l("Log in with an account, or ask the mail administrator to allow relaying from this server."),
)
MESSAGE_REFUSED = Advice(
    _l("The server refused the message itself (its content, size or a spam rule)."),
    _l("Read the server's reply; change or shorten the message."),
)
TOO_LARGE = Advice(
    _l("The message is too large for this server (552: over its size limit)."),
    _l("Shorten the template, or ask the server's administrator for the size limit."),
)
CONNECTION_REJECTED = Advice(
    _l("The server rejected this connection."),
    _l("The server may block this address; ask its administrator."),
)
BAD_SEQUENCE = Advice(
    _l("The server refused the order of the commands."),
    _l("Check the security and login settings; read the server's reply."),
)
TEMPORARY = Advice(
    _l("The server asked to try again later."),
    _l("Nothing to change; if it persists, read the server's reply."),
    retry=True,
)
REJECTED = Advice(
    _l("The server rejected the request."),
    _l("Read the server's reply."),
)
BAD_HEADER = Advice(
    _l("A header of the message contains a line break."),
    _l("Remove line breaks from the sender name and the addresses."),
)
UNEXPECTED = Advice(
    _l("An unexpected error occurred while talking to the mail server."),
    _l("Read the details; if they do not help, report them to your administrator."),
)

_ANY_4XX = range(400, 500)
_ANY_5XX = range(500, 600)
_TLS_WORDS = re.compile(r"starttls|\btls\b|\bssl\b|secure|encrypt", re.IGNORECASE)
_SENDER_NOT_OWNED = re.compile(
    r"same as|must equal|not owned|send as|on behalf|authori[sz]ed user|sender address rejected",
    re.IGNORECASE,
)
_MALFORMED = re.compile(r"syntax|malformed|invalid address|bad address", re.IGNORECASE)


@dataclass(frozen=True)
class _Rule:
    codes: Container[int]
    advice: Advice
    stages: frozenset[str] | None = None  # None: whatever the stage
    text: re.Pattern | None = None

    def matches(self, code: int, text: str, stage: str | None) -> bool:
        return (
            code in self.codes
            and (self.stages is None or stage in self.stages)
            and (self.text is None or bool(self.text.search(text)))
        )


# First match wins: specific meanings before the generic 4xx "later" and 5xx "no".
_REPLY_RULES = (
    _Rule({535, 534}, WRONG_CREDENTIALS),
    _Rule({530, 538}, AUTH_NEEDS_TLS, stages=frozenset({"auth"})),
    _Rule({530}, AUTH_NEEDS_TLS, text=_TLS_WORDS),
    _Rule({530}, LOGIN_REQUIRED),
    _Rule({503}, LOGIN_REQUIRED, stages=frozenset({"mail", "rcpt"}), text=re.compile("auth", re.IGNORECASE)),
    _Rule({501, 553}, BAD_SENDER, stages=frozenset({"mail"}), text=_MALFORMED),
    _Rule({552}, TOO_LARGE, text=re.compile("size|large|exceed|big", re.IGNORECASE)),
    _Rule(_ANY_5XX, SENDER_NOT_ACCOUNT, stages=frozenset({"mail"}), text=_SENDER_NOT_OWNED),
    _Rule({501, 553}, SENDER_NOT_ACCOUNT, stages=frozenset({"mail"})),
    _Rule(_ANY_5XX, RELAY_DENIED, stages=frozenset({"rcpt"}), text=re.compile("relay", re.IGNORECASE)),
    _Rule(_ANY_5XX, RECIPIENT_REFUSED, stages=frozenset({"rcpt"})),
    _Rule(_ANY_5XX, MESSAGE_REFUSED, stages=frozenset({"data"})),
    _Rule(_ANY_5XX, CONNECTION_REJECTED, stages=frozenset({"greeting"})),
    _Rule({503}, BAD_SEQUENCE),
    _Rule(_ANY_4XX, TEMPORARY),
    _Rule(_ANY_5XX, REJECTED),
)

_STAGE_OF = (
    (smtplib.SMTPSenderRefused, "mail"),
    (smtplib.SMTPAuthenticationError, "auth"),
    (smtplib.SMTPDataError, "data"),
    (smtplib.SMTPConnectError, "greeting"),
    (smtplib.SMTPHeloError, "ehlo"),
)

# OpenSSL's words for "what came back is not TLS": the port speaks plain SMTP first.
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST")
_HOSTNAME_CODES = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_EXPIRED_CODES = (9, 10)  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED


def decode_reply(text: str | bytes) -> str:
    """A server's reply as text: UTF-8, else GBK/GB18030 (older Chinese servers), else bytes as Latin-1."""
    if isinstance(text, str):
        return text
    for encoding in ("utf-8", "gb18030"):
        try:
            return text.decode(encoding)
        except UnicodeDecodeError:
            continue
    return text.decode("latin-1")


def diagnose_reply(code: int, text: str | bytes, stage: str | None = None) -> Outcome:
    """The verdict on one SMTP reply, given where in the conversation it came."""
    message = decode_reply(text)
    advice = next((rule.advice for rule in _REPLY_RULES if rule.matches(code, message, stage)), UNEXPECTED)
    return _outcome(advice, f"{code} {message}".strip(), code=str(code))


def diagnose(error: BaseException) -> Outcome:
    """The verdict on an error raised while connecting, securing, logging in or sending."""
    refusal = outbound.refusal_in(error)
    if refusal is not None:
        return outbound.refused_outcome(refusal)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _recipients_refused(error.recipients)
    if isinstance(error, smtplib.SMTPResponseException):
        return _response(error)
    advice = _advice_for(error)
    return _outcome(advice, _describe(error))


def _response(error: smtplib.SMTPResponseException) -> Outcome:
    stage = next((name for kind, name in _STAGE_OF if isinstance(error, kind)), None)
    outcome = diagnose_reply(error.smtp_code, error.smtp_error, stage)
    if isinstance(error, smtplib.SMTPSenderRefused):
        return replace(outcome, raw=f"MAIL FROM:<{error.sender}> {outcome.raw}")
    return outcome


def _recipients_refused(recipients: dict) -> Outcome:
    """One verdict for several refusals: permanent if any is; the raw reply names every address."""
    replies = {address: (code, decode_reply(text)) for address, (code, text) in recipients.items()}
    worst = max(replies.items(), key=lambda item: item[1][0] >= 500, default=("", (0, "")))
    outcome = diagnose_reply(worst[1][0], worst[1][1], "rcpt")
    raw = "\n".join(f"RCPT TO:<{address}> {code} {text}" for address, (code, text) in replies.items())
    return replace(outcome, raw=raw)


def _advice_for(error: BaseException) -> Advice:
    """Advice for an error that carries no SMTP reply code."""
    for check in (_setup_advice, _smtp_advice, _tls_advice, _network_advice):
        advice = check(error)
        if advice is not None:
            return advice
    return BAD_HEADER if isinstance(error, BadHeaderError) else UNEXPECTED


def _setup_advice(error: BaseException) -> Advice | None:
    if isinstance(error, IncompleteCredentials):
        return MISSING_PASSWORD if error.missing == "password" else MISSING_ACCOUNT
    if isinstance(error, BadCaBundle):
        return CA_BUNDLE_INVALID
    if isinstance(error, MissingHost):
        return MISSING_HOST
    return None


def _smtp_advice(error: BaseException) -> Advice | None:
    text = str(error)
    if isinstance(error, NoGreeting):
        return NO_GREETING_TIMEOUT if "timed out" in text else NO_GREETING_CLOSED
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return STARTTLS_NOT_OFFERED if "STARTTLS" in text.upper() else AUTH_NOT_OFFERED
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return STOPPED_ANSWERING if "timed out" in text else DISCONNECTED
    if isinstance(error, smtplib.SMTPException) and "authentication method" in text:
        return NO_AUTH_METHOD
    return None


def _tls_advice(error: BaseException) -> Advice | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        if error.verify_code in _HOSTNAME_CODES or "mismatch" in str(error.verify_message).lower():
            return HOSTNAME_MISMATCH
        return CERT_EXPIRED if error.verify_code in _EXPIRED_CODES else CERT_UNTRUSTED
    if isinstance(error, ssl.SSLError):
        reason = getattr(error, "reason", None) or str(error)  # made by hand, an SSLError has no reason
        return SSL_ON_PLAIN_PORT if any(word in reason for word in _NOT_TLS_REASONS) else TLS_FAILED
    return None


def _network_advice(error: BaseException) -> Advice | None:
    if isinstance(error, TimeoutError):
        return TIMEOUT
    if isinstance(error, socket.gaierror):
        return DNS_TEMPORARY if error.errno == socket.EAI_AGAIN else UNKNOWN_HOST
    if isinstance(error, ConnectionRefusedError):
        return REFUSED
    if isinstance(error, ConnectionError):
        return DISCONNECTED
    if isinstance(error, OSError):
        return UNREACHABLE if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else NETWORK
    return None


def _describe(error: BaseException) -> str:
    """The raw side of an error without a reply: what the library said, as the user could search for it."""
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"certificate verify failed: {error.verify_message}"
    return str(error) or type(error).__name__


def _outcome(advice: Advice, raw: str, code: str | None = None) -> Outcome:
    status = Status.RETRY if advice.retry else Status.FAILED
    return Outcome(status, cause=advice.cause, fix=advice.fix, code=code, raw=raw)
