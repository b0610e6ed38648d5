"""Addresses inside Herald's own server on the pages: refused next to the field when saved, allowed in
System settings → Network; and replies from hosts other than the provider's shown to administrators only."""

import html
import re

import pytest

from tests import smtp_server as servers
from tests.blueprints.test_robots import form as robot_form
from tests.conftest import HTMX
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, MailSettings, NetworkSettings, Robot

WAY = "System settings → Network"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_error(response, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else ""


@pytest.fixture
def guarded(app):
    """The production default: no loopback allowed by the configuration."""
    app.config["OUTBOUND_ALLOW"] = ""
    return app


def _network(**changes) -> dict:
    return {"proxy_url": "", "proxy_username": "", "proxy_password": "", "no_proxy": "", **changes}


def test_the_network_page_says_what_is_refused_and_what_is_allowed(admin_client, app):
    page = text(admin_client.get("/system/network"))
    assert '<label for="outbound_allow">Allowed internal addresses</label>' in page
    assert "169.254.169.254" in page and "127.0.0.0/8" in page
    assert "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7) are allowed" in page
    assert "Allowed as well by HERALD_OUTBOUND_ALLOW" in page and "127.0.0.0/8, ::1, localhost" in page


def test_the_allowlist_is_saved_and_bad_entries_are_refused(admin_client, guarded):
    response = admin_client.post("/system/network", data=_network(outbound_allow="127.0.0.1:8080, *"))
    assert "127.0.0.1:8080, *" in field_error(response, "outbound_allow")
    assert db.session.get(NetworkSettings, 1) is None
    response = admin_client.post("/system/network", data=_network(outbound_allow="127.0.0.1\n gateway.local"))
    assert response.status_code == 303
    assert db.session.get(NetworkSettings, 1).outbound_allow == "127.0.0.1, gateway.local"


def test_a_proxy_on_loopback_is_refused_next_to_its_field_until_allowed(admin_client, guarded):
    response = admin_client.post("/system/network", data=_network(proxy_url="http://127.0.0.1:3128"))
    assert WAY in field_error(response, "proxy_url") and "127.0.0.1" in field_error(response, "proxy_url")
    assert db.session.get(NetworkSettings, 1) is None
    allowed = _network(proxy_url="http://127.0.0.1:3128", outbound_allow="127.0.0.1")
    assert admin_client.post("/system/network", data=allowed).status_code == 303
    assert db.session.get(NetworkSettings, 1).proxy_url == "http://127.0.0.1:3128"


def test_the_network_test_does_not_reach_the_metadata_address(admin_client):
    data = _network(action="test", test_url="http://169.254.169.254/latest/meta-data/")
    page = text(admin_client.post("/system/network", data=data, headers=HTMX))
    assert "Herald does not connect to 169.254.169.254" in page and WAY in page


def test_a_robot_aimed_at_the_metadata_address_is_refused_next_to_its_field(admin_client, project):
    data = robot_form(kind="webhook", webhook_url="http://169.254.169.254/latest/meta-data/iam/", secret=None)
    response = admin_client.post(f"/projects/{project.id}/robots/new", data=data)
    assert WAY in field_error(response, "webhook_url") and "169.254.169.254" in field_error(
        response, "webhook_url"
    )
    assert db.session.scalar(db.select(db.func.count(Robot.id))) == 0


def _mail(**changes) -> dict:
    data = {
        "host": servers.HOST,
        "port": 25,
        "security": "none",
        "sender_address": "herald@example.com",
        "sender_name": "Herald",
        "timeout": "3",
        "language": "en",
    }
    return data | changes


def test_mail_settings_on_loopback_are_refused_unless_allowed(admin_client, guarded, plain_server):
    response = admin_client.post("/system/mail", data=_mail())
    assert WAY in field_error(response, "host")
    assert db.session.get(MailSettings, 1) is None
    page = text(
        admin_client.post("/system/mail", data=_mail(port=plain_server.port, action="test"), headers=HTMX)
    )
    assert "Herald does not connect to 127.0.0.1" in page and WAY in page

    admin_client.post("/system/network", data=_network(outbound_allow="127.0.0.1"))
    assert admin_client.post("/system/mail", data=_mail()).status_code == 303
    page = text(
        admin_client.post("/system/mail", data=_mail(port=plain_server.port, action="test"), headers=HTMX)
    )
    assert "Connected" in page


# --- whose reply members may read -------------------------------------------------------------------------


def _attempted(project, kind: str, request: str, reply: str) -> Delivery:
    row = Delivery(
        project_id=project.id,
        channel=kind,
        target="1",
        recipient=f"{kind} group",
        subject="Case created",
        body_text="Hello",
        status="failed",
        attempts=1,
        code="310000",
        cause="The provider refused the message.",
        fix="Check the robot.",
        reply=reply,
    )
    db.session.add(row)
    db.session.flush()
    db.session.add(
        DeliveryAttempt(
            delivery_id=row.id,
            status="failed",
            code="310000",
            cause=row.cause,
            fix=row.fix,
            request=request,
            reply=reply,
        )
    )
    db.session.commit()
    return row


def test_a_reply_from_another_host_than_the_provider_is_for_administrators(
    member_client, admin_client, project
):
    secret = '{"AccessKeyId": "ASIAINTERNAL", "SecretAccessKey": "internal-only"}'
    row = _attempted(project, "webhook", "POST http://10.0.0.5:8080/latest/meta-data\n\n{}", secret)
    address = f"/projects/{project.id}/deliveries/{row.id}"
    page = text(member_client.get(address))
    assert "The provider refused the message." in page  # the cause, in plain words
    assert "only administrators see its text" in page and "ASIAINTERNAL" not in page
    assert "ASIAINTERNAL" in text(admin_client.get(address))


def test_a_reply_from_the_provider_itself_is_shown_to_members(member_client, project):
    reply = '{"errcode":310000,"errmsg":"keywords not in content"}'
    row = _attempted(
        project, "dingtalk", "POST https://oapi.dingtalk.com/robot/send?access_token=x\n\n{}", reply
    )
    page = text(member_client.get(f"/projects/{project.id}/deliveries/{row.id}"))
    assert "keywords not in content" in page and "only administrators" not in page
