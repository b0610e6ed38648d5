"""Every SMTP failure an administrator meets, and the cause and fix Herald gives for it."""

import errno
import smtplib
import socket
import ssl

import pytest
from flask_babel.speaklater import LazyString
from flask_mail import BadHeaderError

from tests.smtp_server import QQ_501, QQ_503, QQ_530, QQ_535, QQ_535_LEGACY, QQ_550
from webapp.notifications import diagnosis as d
from webapp.notifications.outcome import Status

FAILED, RETRY = Status.FAILED, Status.RETRY


def reply(text: str) -> bytes:
    """A reply as smtplib hands it over: the text after the code, in bytes."""
    return text.split(" ", 1)[1].encode()


def cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(
        1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}"
    )
    error.verify_code, error.verify_message = code, message
    return error


CASES = {
    # wrong credentials, in QQ's current and older (GBK-encoded) words
    "535 QQ": (smtplib.SMTPAuthenticationError(535, reply(QQ_535)), d.WRONG_CREDENTIALS, FAILED),
    "535 QQ GBK": (
        smtplib.SMTPAuthenticationError(535, QQ_535_LEGACY.split(" ", 1)[1].encode("gbk")),
        d.WRONG_CREDENTIALS,
        FAILED,
    ),
    "534 app password": (
        smtplib.SMTPAuthenticationError(534, b"5.7.9 Application-specific password"),
        d.WRONG_CREDENTIALS,
        FAILED,
    ),
    # the sender
    "501 QQ sender": (
        smtplib.SMTPSenderRefused(501, reply(QQ_501), "a@x.test"),
        d.SENDER_NOT_ACCOUNT,
        FAILED,
    ),
    "553 not owned": (
        smtplib.SMTPSenderRefused(
            553, b"5.7.1 <a@x.test>: Sender address rejected: not owned by user b", "a@x.test"
        ),
        d.SENDER_NOT_ACCOUNT,
        FAILED,
    ),
    "550 send as": (
        smtplib.SMTPSenderRefused(
            550, b"5.7.60 Client does not have permissions to send as this sender", "a"
        ),
        d.SENDER_NOT_ACCOUNT,
        FAILED,
    ),
    "501 syntax": (
        smtplib.SMTPSenderRefused(501, b"Syntax: MAIL FROM: <address>", "a"),
        d.BAD_SENDER,
        FAILED,
    ),
    # login and TLS
    "503 QQ no auth": (smtplib.SMTPSenderRefused(503, reply(QQ_503), "a@x.test"), d.LOGIN_REQUIRED, FAILED),
    "530 auth required": (
        smtplib.SMTPSenderRefused(530, b"5.7.0 Authentication required", "a"),
        d.LOGIN_REQUIRED,
        FAILED,
    ),
    "530 QQ auth before TLS": (smtplib.SMTPAuthenticationError(530, reply(QQ_530)), d.AUTH_NEEDS_TLS, FAILED),
    "530 STARTTLS first": (
        smtplib.SMTPSenderRefused(530, b"Must issue a STARTTLS command first", "a"),
        d.AUTH_NEEDS_TLS,
        FAILED,
    ),
    "538 encryption required": (
        smtplib.SMTPAuthenticationError(
            538, b"5.7.11 Encryption required for requested authentication mechanism"
        ),
        d.AUTH_NEEDS_TLS,
        FAILED,
    ),
    "STARTTLS not offered": (
        smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
        d.STARTTLS_NOT_OFFERED,
        FAILED,
    ),
    "AUTH not offered": (
        smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."),
        d.AUTH_NOT_OFFERED,
        FAILED,
    ),
    "no common AUTH method": (
        smtplib.SMTPException("No suitable authentication method found."),
        d.NO_AUTH_METHOD,
        FAILED,
    ),
    # the wrong mode for the port
    "SSL on a STARTTLS port": (
        ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"),
        d.SSL_ON_PLAIN_PORT,
        FAILED,
    ),
    "STARTTLS on an SSL port": (
        d.NoGreeting("Connection unexpectedly closed: timed out"),
        d.NO_GREETING_TIMEOUT,
        FAILED,
    ),
    "closed before greeting": (d.NoGreeting("Connection unexpectedly closed"), d.NO_GREETING_CLOSED, RETRY),
    "old TLS only": (
        ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)"),
        d.TLS_FAILED,
        FAILED,
    ),
    # certificates
    "self-signed": (cert_error(18, "self-signed certificate"), d.CERT_UNTRUSTED, FAILED),
    "private CA": (cert_error(20, "unable to get local issuer certificate"), d.CERT_UNTRUSTED, FAILED),
    "host name mismatch": (
        cert_error(62, "Hostname mismatch, certificate is not valid for 'smtp.qq.com'."),
        d.HOSTNAME_MISMATCH,
        FAILED,
    ),
    "IP address mismatch": (
        cert_error(64, "IP address mismatch, certificate is not valid for '127.0.0.1'."),
        d.HOSTNAME_MISMATCH,
        FAILED,
    ),
    "expired": (cert_error(10, "certificate has expired"), d.CERT_EXPIRED, FAILED),
    # the network
    "connection refused": (
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        d.REFUSED,
        RETRY,
    ),
    "unknown host": (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), d.UNKNOWN_HOST, FAILED),
    "DNS temporary": (
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        d.DNS_TEMPORARY,
        RETRY,
    ),
    "connect timeout": (TimeoutError("timed out"), d.TIMEOUT, RETRY),
    "TLS handshake timeout": (
        TimeoutError("_ssl.c:989: The handshake operation timed out"),
        d.TIMEOUT,
        RETRY,
    ),
    "network unreachable": (OSError(errno.ENETUNREACH, "Network is unreachable"), d.UNREACHABLE, RETRY),
    "no local address": (
        OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
        d.NETWORK,
        RETRY,
    ),
    "reset": (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), d.DISCONNECTED, RETRY),
    "stopped answering": (
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed: timed out"),
        d.STOPPED_ANSWERING,
        RETRY,
    ),
    "hung up": (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), d.DISCONNECTED, RETRY),
    "greeting 421": (smtplib.SMTPConnectError(421, b"Too many connections"), d.TEMPORARY, RETRY),
    "greeting 554": (smtplib.SMTPConnectError(554, b"IP in blacklist"), d.CONNECTION_REJECTED, FAILED),
    # recipients and content
    "recipient refused": (
        smtplib.SMTPRecipientsRefused({"nobody@x.test": (550, reply(QQ_550))}),
        d.RECIPIENT_REFUSED,
        FAILED,
    ),
    "recipient greylisted": (
        smtplib.SMTPRecipientsRefused({"later@x.test": (450, b"4.2.0 Greylisted, try again")}),
        d.TEMPORARY,
        RETRY,
    ),
    "one refused for good": (
        smtplib.SMTPRecipientsRefused(
            {"later@x.test": (450, b"Greylisted"), "nobody@x.test": (550, b"No such user")}
        ),
        d.RECIPIENT_REFUSED,
        FAILED,
    ),
    "relay denied": (
        smtplib.SMTPRecipientsRefused({"far@y.test": (554, b"5.7.1 Relay access denied")}),
        d.RELAY_DENIED,
        FAILED,
    ),
    "content refused": (smtplib.SMTPDataError(550, b"Mail content denied"), d.MESSAGE_REFUSED, FAILED),
    "data later": (smtplib.SMTPDataError(451, b"Requested action aborted: local error"), d.TEMPORARY, RETRY),
    "bad sequence": (
        smtplib.SMTPResponseException(503, b"5.5.1 Bad sequence of commands"),
        d.BAD_SEQUENCE,
        FAILED,
    ),
    # Herald's own refusals before talking
    "host missing": (d.MissingHost("the SMTP host is empty"), d.MISSING_HOST, FAILED),
    "password missing": (d.IncompleteCredentials("password"), d.MISSING_PASSWORD, FAILED),
    "account missing": (d.IncompleteCredentials("account"), d.MISSING_ACCOUNT, FAILED),
    "CA bundle unreadable": (
        d.BadCaBundle("[X509: NO_CERTIFICATE_OR_CRL_FOUND]"),
        d.CA_BUNDLE_INVALID,
        FAILED,
    ),
    "line break in a header": (BadHeaderError(), d.BAD_HEADER, FAILED),
    "anything else": (RuntimeError("something odd"), d.UNEXPECTED, FAILED),
}


@pytest.mark.parametrize(("error", "advice", "status"), CASES.values(), ids=CASES.keys())
def test_each_failure_has_its_cause_fix_and_status(error, advice, status):
    outcome = d.diagnose(error)

    assert (outcome.status, str(outcome.cause), str(outcome.fix)) == (
        status,
        str(advice.cause),
        str(advice.fix),
    )
    assert outcome.raw, "the raw reply or error is always shown beside the explanation"


def test_wrong_credentials_say_use_the_authorization_code():
    outcome = d.diagnose(smtplib.SMTPAuthenticationError(535, reply(QQ_535)))

    assert "use the authorization code, not the account password" in str(outcome.fix).lower()
    assert outcome.code == "535"
    assert outcome.raw == QQ_535


def test_a_gbk_reply_is_shown_in_chinese():
    raw_bytes = QQ_535_LEGACY.split(" ", 1)[1].encode("gbk")

    outcome = d.diagnose(smtplib.SMTPAuthenticationError(535, raw_bytes))

    assert outcome.raw == QQ_535_LEGACY
    assert "请使用授权码登录" in outcome.raw


def test_a_sender_refusal_names_the_sender():
    outcome = d.diagnose(smtplib.SMTPSenderRefused(501, reply(QQ_501), "team@qq.example"))

    assert outcome.raw == f"MAIL FROM:<team@qq.example> {QQ_501}"
    assert outcome.code == "501"


def test_recipient_refusals_name_every_address():
    refused = {"later@x.test": (450, b"Greylisted"), "nobody@x.test": (550, b"No such user")}

    outcome = d.diagnose(smtplib.SMTPRecipientsRefused(refused))

    assert outcome.raw.splitlines() == [
        "RCPT TO:<later@x.test> 450 Greylisted",
        "RCPT TO:<nobody@x.test> 550 No such user",
    ]
    assert outcome.code == "550"


REPLIES = [
    # (code, text, stage) -> advice: the same code means different things at different steps
    (501, QQ_501.split(" ", 1)[1], "mail", d.SENDER_NOT_ACCOUNT),
    (501, "Syntax: EHLO hostname", "ehlo", d.REJECTED),
    (503, QQ_503.split(" ", 1)[1], "mail", d.LOGIN_REQUIRED),
    (503, "Error: send HELO first", None, d.BAD_SEQUENCE),
    (550, "Mailbox not found or access denied", "rcpt", d.RECIPIENT_REFUSED),
    (550, "Mail content denied", "data", d.MESSAGE_REFUSED),
    (552, "5.3.4 Message size exceeds fixed maximum message size", "mail", d.TOO_LARGE),
    (535, QQ_535_LEGACY.split(" ", 1)[1].encode("gbk"), None, d.WRONG_CREDENTIALS),
    (421, "Service not available", "greeting", d.TEMPORARY),
    (454, "4.7.0 TLS not available due to local problem", "starttls", d.TEMPORARY),
]


@pytest.mark.parametrize(("code", "text", "stage", "advice"), REPLIES)
def test_a_reply_code_is_read_with_its_stage(code, text, stage, advice):
    outcome = d.diagnose_reply(code, text, stage)

    assert str(outcome.cause) == str(advice.cause)
    assert outcome.code == str(code)


def test_every_explanation_is_translatable_and_says_what_to_do():
    advice = [value for value in vars(d).values() if isinstance(value, d.Advice)]

    assert len(advice) >= 30
    for item in advice:
        assert isinstance(item.cause, LazyString) and isinstance(item.fix, LazyString)
        assert str(item.cause) and str(item.fix)


def test_the_diagnosis_covers_every_advice():
    """No explanation is dead text: each one is reached by a case above."""
    reached = {str(advice.cause) for _, advice, _ in CASES.values()} | {str(a.cause) for *_, a in REPLIES}
    defined = {str(value.cause) for value in vars(d).values() if isinstance(value, d.Advice)}

    assert defined - reached == set()
