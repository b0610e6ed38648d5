"""An address that carries its credential in the path or the query is never shown or recorded whole."""

import html
import re

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Robot
from webapp.notifications.channels.base import mask_url, url_tokens

pytest_plugins = ["tests.emulators.fixtures"]

SLACK_SECRET = "Xy7kPq2LmN9vRt4WbZ8cJd3F"  # Slack's third path segment: 24 letters and digits
TEAM, HOOK = "T0ABCD1EF", "B0GHIJ2KL"
API_KEY = "hunter2pass"  # a receiver's own key, short and word-like: only its name says it is secret


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _add_webhook(admin_client, project, address: str, **fields) -> Robot:
    data = {
        "kind": "webhook",
        "name": "Hooks",
        "webhook_url": address,
        "style": "text",
        "enabled": "y",
        **fields,
    }
    response = admin_client.post(f"/projects/{project.id}/robots/new", data=data)
    assert response.status_code == 303, page(response)
    return db.session.scalars(select(Robot)).one()


def _every_view(admin_client, member_client, project, robot) -> list[str]:
    """The robot list, the form's hint, the nginx block, the test result, the delivery record and its rows."""
    base = f"/projects/{project.id}/robots"
    views = [
        page(member_client.get(f"{base}/")),
        page(admin_client.get(f"{base}/{robot.id}/edit")),
        page(member_client.get(f"{base}/{robot.id}/nginx?gateway_url=http://gateway.intra:8080")),
        page(admin_client.post(f"{base}/{robot.id}/test")),
    ]
    deliveries = db.session.scalars(select(Delivery)).all()
    assert deliveries  # the test message was recorded
    for delivery in deliveries:
        views.append(page(member_client.get(f"/projects/{project.id}/deliveries/{delivery.id}")))
        views += [delivery.reply, delivery.cause, delivery.fix]
    attempts = db.session.scalars(select(DeliveryAttempt)).all()
    assert attempts
    for attempt in attempts:
        views += [attempt.request, attempt.reply]
    return views


def test_a_token_in_the_path_is_masked_everywhere(admin_client, member_client, project, webhook_receiver):
    address = f"{webhook_receiver.base_url}/services/{TEAM}/{HOOK}/{SLACK_SECRET}"
    robot = _add_webhook(admin_client, project, address)
    views = _every_view(admin_client, member_client, project, robot)
    assert any(mask_url(address) in view for view in views)  # the address is shown, masked
    for view in views:
        assert SLACK_SECRET not in view


def test_a_path_marked_secret_is_masked_as_one(admin_client, member_client, project, webhook_receiver):
    address = f"{webhook_receiver.base_url}/services/{TEAM}/{HOOK}/{SLACK_SECRET}"
    robot = _add_webhook(admin_client, project, address, secret_path="y")
    assert robot.secret_parts == ["/"]
    for view in _every_view(admin_client, member_client, project, robot):
        assert SLACK_SECRET not in view and f"{TEAM}/{HOOK}" not in view and HOOK not in view


def test_a_query_parameter_named_secret_is_masked(admin_client, member_client, project, webhook_receiver):
    address = f"{webhook_receiver.base_url}/herald?team=qa&api-key={API_KEY}"
    robot = _add_webhook(admin_client, project, address, secret_params="api-key")
    assert robot.secret_parts == ["api-key"]
    views = _every_view(admin_client, member_client, project, robot)
    assert any("team=qa&api-key=****" in view for view in views)
    for view in views:
        assert API_KEY not in view
    assert len(webhook_receiver.deliveries) == 1  # the real address was used for the post


def test_the_edit_form_keeps_what_was_marked(admin_client, project, webhook_receiver):
    robot = _add_webhook(admin_client, project, f"{webhook_receiver.base_url}/herald", secret_path="y")
    form = admin_client.get(f"/projects/{project.id}/robots/{robot.id}/edit").get_data(as_text=True)
    [checkbox] = re.findall(r'<input[^>]*id="secret_path"[^>]*>', form)
    assert "checked" in checkbox


@pytest.mark.parametrize(
    "address, secret",
    [
        (f"https://hooks.slack.com/services/{TEAM}/{HOOK}/{SLACK_SECRET}", f"{TEAM}/{HOOK}/{SLACK_SECRET}"),
        (
            "https://discord.com/api/webhooks/1234567890/abcDEF123ghiJKL456mnoPQR789stu",
            "abcDEF123ghiJKL456mno",
        ),
        ("https://hooks.example.com/in/5f2b8c1e-9d3a-4e7f-b6c0-2a1d9e8f7c6b", "5f2b8c1e-9d3a-4e7f-b6c0"),
        ("https://receiver.example.com/herald?auth=Zk81mQ0pLx72NcVb", "Zk81mQ0pLx72NcVb"),
        ("https://bot:Zk81mQ0pLx72NcVb@receiver.example.com/herald", "Zk81mQ0pLx72NcVb"),
        ("https://Zk81mQ0pLx72NcVb@receiver.example.com/herald", "Zk81mQ0pLx72NcVb"),
    ],
)
def test_credential_like_parts_are_recognised(address, secret):
    assert secret not in mask_url(address)
    assert any(secret in token for token in url_tokens(address))


def test_words_stay_readable():
    address = "https://gateway.intra:8080/notifications-endpoint/herald?team=qa&timestamp=1700000000000"
    assert mask_url(address) == address
