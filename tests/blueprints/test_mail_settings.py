"""System settings → Mail settings: save, Test connection and Send test mail against a real SMTP server."""

import pytest

from tests import smtp_server as servers
from tests.conftest import HTMX
from webapp.models import Delivery, MailSettings


def _form(server=None, certificate=None, **changes):
    data = {
        "host": servers.HOST,
        "port": server.port if server else 465,
        "security": (server.mode if server and server.mode != "plain" else "none") if server else "ssl",
        "username": server.account[0] if server and server.account else "",
        "password": server.account[1] if server and server.account else "",
        "sender_address": server.account[0] if server and server.account else "herald@example.com",
        "sender_name": "Herald",
        "timeout": "3",
        "verify_tls": "y",
        "ca_bundle": certificate.pem if certificate else "",
        "language": "zh",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_only_administrators(member_client):
    assert member_client.get("/system/mail").status_code == 403
    assert member_client.post("/system/mail", data=_form()).status_code == 403


def test_save_keeps_the_password_secret(admin_client, ssl_server, certificate):
    response = admin_client.post("/system/mail", data=_form(ssl_server, certificate))
    assert response.status_code == 303
    stored = MailSettings.query.one()
    assert stored.password == servers.ACCOUNT[1]
    page = admin_client.get("/system/mail").get_data(as_text=True)
    assert servers.ACCOUNT[1] not in page
    assert "A password is set" in page
    # Saving again with the password field empty keeps the stored one.
    admin_client.post("/system/mail", data=_form(ssl_server, certificate, password=""))
    assert MailSettings.query.one().password == servers.ACCOUNT[1]


def test_the_password_is_encrypted_at_rest(admin_client, ssl_server, certificate, app):
    from webapp.extensions import db

    admin_client.post("/system/mail", data=_form(ssl_server, certificate))
    raw = db.session.execute(db.text("select password from mail_settings")).scalar()
    assert raw and servers.ACCOUNT[1] not in raw


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("host", "", "This field is required."),
        ("port", "70000", "Number must be between 1 and 65535."),
        ("timeout", "0", "Number must be between 1 and 120."),
        ("sender_address", "not-an-address", "Invalid email address."),
        ("ca_bundle", "garbage", "Paste the certificate in PEM form"),
    ],
)
def test_bad_input_is_shown_by_the_field_and_nothing_is_saved(admin_client, field, value, message):
    response = admin_client.post("/system/mail", data=_form(**{field: value}))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert MailSettings.query.count() == 0


def test_test_connection_uses_the_unsaved_form_values(admin_client, starttls_server, certificate):
    data = _form(starttls_server, certificate, action="test")
    response = admin_client.post("/system/mail", data=data, headers=HTMX)
    body = response.get_data(as_text=True)
    assert "Test connection succeeded" in body
    assert "<html" not in body  # only the result box
    assert MailSettings.query.count() == 0  # testing saves nothing


def test_test_connection_explains_a_wrong_authorization_code(admin_client, ssl_server, certificate):
    data = _form(ssl_server, certificate, password="the-account-password", action="test")
    body = admin_client.post("/system/mail", data=data, headers=HTMX).get_data(as_text=True)
    assert "Test connection failed" in body
    assert "authorization code" in body
    assert "535" in body  # the raw reply, one click away


def test_test_connection_without_javascript_renders_the_page(admin_client, plain_server):
    data = _form(plain_server, action="test", security="none")
    body = admin_client.post("/system/mail", data=data).get_data(as_text=True)
    assert "<html" in body and "Test connection succeeded" in body


def test_htmx_test_with_bad_fields_lists_them(admin_client):
    body = admin_client.post("/system/mail", data=_form(host="", action="test"), headers=HTMX).get_data(
        as_text=True
    )
    assert "Fix these fields first" in body and "SMTP host" in body


def test_send_test_mail_arrives_and_is_recorded(admin_client, ssl_server, certificate):
    data = _form(ssl_server, certificate, action="send", test_to="li.mei@example.com")
    body = admin_client.post("/system/mail", data=data, headers=HTMX).get_data(as_text=True)
    assert "The test mail was accepted by the server" in body
    [mail] = ssl_server.received
    assert mail.rcpt_tos == ["li.mei@example.com"]
    delivery = Delivery.query.one()
    assert (delivery.channel, delivery.status, delivery.target) == ("email", "sent", "li.mei@example.com")


def test_send_test_mail_reports_a_sender_mismatch(admin_client, ssl_server, certificate):
    data = _form(
        ssl_server,
        certificate,
        action="send",
        test_to="li.mei@example.com",
        sender_address="other@example.com",
    )
    body = admin_client.post("/system/mail", data=data, headers=HTMX).get_data(as_text=True)
    assert "The test mail was not sent" in body
    assert "501" in body
    assert ssl_server.received == []
    assert Delivery.query.one().status == "failed"


def test_send_test_mail_needs_an_address(admin_client, plain_server):
    body = admin_client.post("/system/mail", data=_form(plain_server, action="send")).get_data(as_text=True)
    assert "Enter the address to send the test mail to." in body
