"""The mail engine against real SMTP servers: Test connection, Send test mail, batches over one session."""

import smtplib
import time

import pytest
from flask_babel import force_locale

from tests import smtp_server as servers
from webapp.notifications import smtp
from webapp.notifications.channels import email as email_channel
from webapp.notifications.diagnosis import IncompleteCredentials
from webapp.notifications.outcome import Status
from webapp.notifications.smtp import SmtpConnection, SmtpSettings

TO = "reader@example.com"


def said(outcome) -> str:
    """Everything the page shows for an outcome, in English, as one lower-case text to look for words in."""
    with force_locale("en"):
        return f"{outcome.cause} {outcome.fix} {outcome.raw}".lower()


def message(subject="Case created", to=(TO,), sender=("Herald", servers.ACCOUNT[0])):
    return email_channel.compose(subject, f"<p>{subject}</p>", subject, sender, list(to))


# Test connection: success in every mode, nothing sent


@pytest.mark.parametrize("mode", ["ssl", "starttls", "plain"])
def test_test_connection_succeeds_in_every_mode(app, request, settings_for, mode):
    server = request.getfixturevalue(f"{mode}_server")

    outcome = smtp.test_connection(settings_for(server))

    assert outcome.status is Status.SENT, said(outcome)
    assert ("encrypted" in said(outcome)) is (mode != "plain")
    assert ("logged in" in said(outcome)) is (mode != "plain")
    assert server.received == []


def test_success_warns_when_certificate_verification_is_off(app, ssl_server, settings_for):
    outcome = smtp.test_connection(settings_for(ssl_server, ca_bundle="", verify_tls=False))

    assert outcome.ok
    assert "verification is off" in said(outcome)


def test_a_trusted_ca_bundle_may_be_a_file(app, ssl_server, settings_for, certificate):
    outcome = smtp.test_connection(settings_for(ssl_server, ca_bundle=str(certificate.cert_path)))

    assert outcome.ok, said(outcome)


# Test connection: every failure, with its cause and fix

FAILURES = {
    # name: (server, changed settings, words the page must show, status)
    "wrong password": (
        "ssl",
        {"password": "account-password"},
        ["authorization code", "535 login fail"],
        "failed",
    ),
    "SSL on a STARTTLS port": (
        "starttls",
        {"security": "ssl"},
        ["starttls", "wrong version number"],
        "failed",
    ),
    "STARTTLS on an SSL port": (
        "ssl",
        {"security": "starttls"},
        ["no greeting", "choose ssl for port 465"],
        "failed",
    ),
    "plain on an SSL port": (
        "ssl",
        {"security": "none", "username": "", "password": ""},
        ["no greeting"],
        "failed",
    ),
    "STARTTLS not offered": ("plain", {"security": "starttls"}, ["does not offer starttls"], "failed"),
    "login before TLS": (
        "starttls",
        {"security": "none"},
        ["only over an encrypted", "530 login fail"],
        "failed",
    ),
    "login on a relay without login": (
        "plain",
        {"username": servers.ACCOUNT[0], "password": "x"},
        ["offers no login", "clear the account"],
        "failed",
    ),
    "certificate not trusted (SSL)": ("ssl", {"ca_bundle": ""}, ["trusted ca", "self-signed"], "failed"),
    "certificate not trusted (STARTTLS)": (
        "starttls",
        {"ca_bundle": ""},
        ["trusted ca", "self-signed"],
        "failed",
    ),
    "password missing": ("ssl", {"password": ""}, ["password is empty"], "failed"),
    "CA bundle not PEM": ("ssl", {"ca_bundle": "-----BEGIN CERTIFICATE-----\nnonsense"}, ["pem"], "failed"),
}


@pytest.mark.parametrize(("mode", "changes", "words", "status"), FAILURES.values(), ids=FAILURES.keys())
def test_test_connection_explains_each_failure(app, request, settings_for, mode, changes, words, status):
    server = request.getfixturevalue(f"{mode}_server")

    outcome = smtp.test_connection(settings_for(server, timeout=1, **changes))

    assert outcome.status == status
    for word in words:
        assert word in said(outcome)
    assert server.received == []


def test_the_older_chinese_535_is_decoded(app, certificate, settings_for):
    handler = servers.QQLikeHandler(legacy_535=True)
    with servers.smtp_server("ssl", certificate, handler) as server:
        outcome = smtp.test_connection(settings_for(server, password="account-password"))

    assert "authorization code" in said(outcome)
    assert "请使用授权码登录" in outcome.raw


def test_a_certificate_for_another_host_name(app, wrong_name_certificate, settings_for):
    with servers.smtp_server("ssl", wrong_name_certificate) as server:
        outcome = smtp.test_connection(settings_for(server, ca_bundle=wrong_name_certificate.pem))

    assert outcome.status is Status.FAILED
    assert "another host name" in said(outcome)
    assert "mismatch" in outcome.raw.lower()


def test_an_unknown_host(app, settings_for):
    outcome = smtp.test_connection(settings_for(host="smtp.no-such-host.invalid", port=465, security="ssl"))

    assert outcome.status is Status.FAILED
    assert "host name does not exist" in said(outcome)


def test_a_dead_port_is_refused_at_once(app, settings_for, dead_port):
    settings = settings_for(port=dead_port, security="ssl", timeout=1)

    started = time.monotonic()
    outcome = smtp.test_connection(settings)
    elapsed = time.monotonic() - started

    assert elapsed < settings.timeout + 1
    assert outcome.status is Status.RETRY
    assert "connection refused" in said(outcome)


@pytest.mark.parametrize(
    ("security", "words", "status"),
    [
        ("none", "no greeting", Status.FAILED),
        ("starttls", "no greeting", Status.FAILED),
        ("ssl", "timeout", Status.RETRY),
    ],
)
def test_a_silent_port_gives_up_at_the_timeout(app, settings_for, silent_port, security, words, status):
    settings = settings_for(port=silent_port, security=security, timeout=1)

    started = time.monotonic()
    outcome = smtp.test_connection(settings)
    elapsed = time.monotonic() - started

    assert elapsed < settings.timeout + 1
    assert outcome.status is status
    assert words in said(outcome)


# Send test mail: it really arrives, or the exact failure is reported


def test_test_mail_arrives_with_envelope_headers_and_both_parts(app, ssl_server, settings_for):
    assert app.extensions["mail"].suppress, "TESTING turns MAIL_SUPPRESS_SEND on; the engine must not care"
    settings = settings_for(ssl_server, sender_name="Herald 测试")

    outcome = smtp.send_test_mail(settings, TO)

    assert outcome.status is Status.SENT, said(outcome)
    assert outcome.raw.startswith("250 ")
    (received,) = ssl_server.received
    assert (received.mail_from, received.rcpt_tos) == (servers.ACCOUNT[0], [TO])
    assert received.encrypted and received.login == servers.ACCOUNT[0]
    mail = received.message
    assert mail["Subject"] == "Herald test mail"
    assert mail["From"].addresses[0].display_name == "Herald 测试"
    assert mail["From"].addresses[0].addr_spec == servers.ACCOUNT[0]
    assert mail["To"] == TO
    assert f"{ssl_server.host}:{ssl_server.port}" in mail.get_body(("plain",)).get_content()
    assert mail.get_body(("html",)).get_content().startswith("<p>")


def test_a_relay_without_login_takes_mail_in_clear(app, plain_server, settings_for):
    outcome = smtp.send_test_mail(settings_for(plain_server, sender_address="herald@intranet.test"), TO)

    assert outcome.ok, said(outcome)
    (received,) = plain_server.received
    assert (received.mail_from, received.login, received.encrypted) == ("herald@intranet.test", None, False)


def test_a_sender_other_than_the_account_is_reported_not_success(app, starttls_server, settings_for):
    outcome = smtp.send_test_mail(settings_for(starttls_server, sender_address="boss@qq.example"), TO)

    assert outcome.status is Status.FAILED
    assert "sender address" in said(outcome)
    assert servers.QQ_501.lower() in said(outcome)
    assert starttls_server.received == []


def test_sending_without_login_where_login_is_needed(app, starttls_server, settings_for):
    settings = settings_for(starttls_server, username="", password="", sender_address=servers.ACCOUNT[0])

    assert smtp.test_connection(settings).ok  # nothing wrong can be seen before sending
    outcome = smtp.send_test_mail(settings, TO)

    assert outcome.status is Status.FAILED
    assert "only after a login" in said(outcome)
    assert starttls_server.received == []


def test_a_refused_recipient_is_reported(app, certificate, settings_for):
    handler = servers.QQLikeHandler(rcpt_replies={TO: servers.QQ_550})
    with servers.smtp_server("ssl", certificate, handler) as server:
        outcome = smtp.send_test_mail(settings_for(server), TO)

    assert outcome.status is Status.FAILED
    assert "recipient" in said(outcome)
    assert f"rcpt to:<{TO}> {servers.QQ_550}".lower() in said(outcome)
    assert handler.received == []


def test_a_server_that_stops_answering_mid_message_is_given_up(app, certificate, settings_for):
    handler = servers.QQLikeHandler(stall_data=5)
    with servers.smtp_server("ssl", certificate, handler) as server:
        outcome = smtp.send_test_mail(settings_for(server, timeout=0.5), TO)

    assert outcome.status is Status.RETRY
    assert "stopped answering" in said(outcome)


# Batches: one session for many messages


def test_a_batch_goes_through_one_session(app, ssl_server, settings_for):
    messages = [message(f"Case {n}", to=[f"reader{n}@example.com"]) for n in range(3)]

    outcomes = smtp.send_messages(settings_for(ssl_server), messages)

    assert [outcome.status for outcome in outcomes] == [Status.SENT] * 3
    assert [received.rcpt_tos for received in ssl_server.received] == [
        [f"reader{n}@example.com"] for n in range(3)
    ]
    assert len({received.peer for received in ssl_server.received}) == 1


def test_one_refused_message_does_not_stop_the_batch(app, certificate, settings_for):
    handler = servers.QQLikeHandler(rcpt_replies={"gone@example.com": servers.QQ_550})
    messages = [
        message(to=["a@example.com"]),
        message(to=["gone@example.com"]),
        message(to=["b@example.com"]),
    ]
    with servers.smtp_server("ssl", certificate, handler) as server:
        outcomes = smtp.send_messages(settings_for(server), messages)

    assert [outcome.status for outcome in outcomes] == [Status.SENT, Status.FAILED, Status.SENT]
    assert [received.rcpt_tos for received in handler.received] == [["a@example.com"], ["b@example.com"]]


def test_a_partly_refused_message_is_not_a_success(app, certificate, settings_for):
    handler = servers.QQLikeHandler(
        rcpt_replies={"gone@example.com": servers.QQ_550, "busy@example.com": "450 Busy"}
    )

    with servers.smtp_server("ssl", certificate, handler) as server:
        (outcome,) = smtp.send_messages(
            settings_for(server), [message(to=["a@example.com", "gone@example.com"])]
        )
        (later,) = smtp.send_messages(
            settings_for(server), [message(to=["a@example.com", "busy@example.com"])]
        )

    assert outcome.status is Status.FAILED and "gone@example.com" in outcome.raw
    assert later.status is Status.RETRY and "busy@example.com" in later.raw
    assert [received.rcpt_tos for received in handler.received] == [["a@example.com"], ["a@example.com"]]


def test_a_failed_login_fails_every_message_of_the_batch(app, ssl_server, settings_for):
    outcomes = smtp.send_messages(settings_for(ssl_server, password="wrong"), [message(), message()])

    assert [outcome.code for outcome in outcomes] == ["535", "535"]
    assert ssl_server.received == []


def test_a_title_with_line_breaks_never_adds_a_header_or_recipient(app, plain_server, settings_for):
    title = "Login broken\r\nBcc: spy@evil.test\r\n\r\n<script>alert(1)</script>"
    settings = settings_for(plain_server, sender_address="herald@intranet.test")

    (outcome,) = smtp.send_messages(settings, [message(title, sender=settings.sender)])

    assert outcome.ok, said(outcome)
    (received,) = plain_server.received
    assert received.rcpt_tos == [TO]
    assert "Bcc" not in received.message
    assert received.message["Subject"] == "Login broken Bcc: spy@evil.test <script>alert(1)</script>"


def test_a_chinese_subject_arrives_encoded_and_decodes(app, ssl_server, settings_for):
    title = "[Herald] 功能用例创建通知: 登录页面在弱网下超时" * 3

    smtp.send_messages(settings_for(ssl_server), [message(title)])

    (received,) = ssl_server.received
    headers = received.content.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii() and b"=?utf-8?" in headers
    assert received.message["Subject"] == title


# The connection itself


def test_a_failed_goodbye_does_not_hide_the_real_error(app, ssl_server, settings_for):
    with pytest.raises(RuntimeError, match="the real error"):  # noqa: SIM117  (the inner block must raise)
        with SmtpConnection(settings_for(ssl_server)) as connection:
            ssl_server.stop()
            with pytest.raises(smtplib.SMTPServerDisconnected):
                connection.host.noop()  # the server is gone: QUIT at exit will fail
            raise RuntimeError("the real error")


def test_a_failed_goodbye_after_a_clean_block_is_not_an_error(app, ssl_server, settings_for):
    with SmtpConnection(settings_for(ssl_server)) as connection:
        ssl_server.stop()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            connection.host.noop()


def test_an_account_without_password_is_refused_before_connecting(app, settings_for, dead_port):
    settings = settings_for(port=dead_port, security="ssl", username="herald@qq.example")

    with pytest.raises(IncompleteCredentials), SmtpConnection(settings):
        pass


def test_unsaved_settings_explain_themselves(app):
    (outcome,) = smtp.send_messages(SmtpSettings(host="", port=465, security="ssl"), [message()])

    assert outcome.status is Status.FAILED
    assert "no smtp host is set" in said(outcome)


def test_settings_keep_the_password_out_of_repr_and_check_their_values():
    settings = SmtpSettings("smtp.qq.com", 465, "ssl", "herald@qq.example", "secret-code")

    assert "secret-code" not in repr(settings)
    assert settings.sender == ("", "herald@qq.example")
    for wrong in ({"security": "tls"}, {"port": 0}, {"timeout": 0}):
        with pytest.raises(ValueError):
            SmtpSettings(**({"host": "smtp.qq.com", "port": 465} | wrong))
