"""Issue 11, point 3: numbers are never reused, and a message whose robot is gone is sent nowhere.

On SQLite and on PostgreSQL, through the pages: a deleted case's address says who deleted it and when, never
opens the case made after it; a deleted robot's message is not resent into another robot's group; a disabled
robot's queued and retrying messages end as not sent.
"""

import re
from types import SimpleNamespace

import pytest

from tests.conftest import AppClient, login
from tests.notifications import helpers
from tests.notifications.helpers import come_due, deliveries
from webapp.extensions import db
from webapp.models import Robot

database = helpers.database  # the test's app on SQLite, then on PostgreSQL


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def site(database):
    """Ada, administrator, logged in; the project Checkout with Mei as a member."""
    database.test_client_class = AppClient
    project, admin = helpers.team()
    client = login(database.test_client(), admin)
    return SimpleNamespace(app=database, project=project, client=client, base=f"/projects/{project.id}")


def _new_case(site, title: str) -> int:
    response = site.client.post(f"{site.base}/cases/new", data={"title": title, "priority": "P2"})
    assert response.status_code == 303, text(response)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _new_robot(site, kind: str, url: str, name: str) -> int:
    data = {"kind": kind, "name": name, "webhook_url": url, "style": "text", "enabled": "y"}
    response = site.client.post(f"{site.base}/robots/new", data=data)
    assert response.status_code == 303, text(response)
    return db.session.scalar(db.select(Robot.id).where(Robot.name == name))


def _post_on_case_created(site, *robot_ids: int) -> None:
    """Message settings: these robots post to their group when a case is created."""
    data = {"created-robot_ids": list(robot_ids), "created-receivers": ["maintainer"]}
    assert site.client.post(f"{site.base}/messages", data=data).status_code == 303


def test_a_deleted_cases_number_is_never_given_again(site):
    first = _new_case(site, "Pay by card")
    newest = _new_case(site, "Pay with a saved card")
    assert site.client.post(f"{site.base}/cases/{newest}/delete").status_code == 303
    again = _new_case(site, "Refund to the card")
    assert again != newest and again > newest > first
    gone = site.client.get(f"{site.base}/cases/{newest}")
    page = text(gone)
    assert gone.status_code == 410
    assert "This case was deleted by Ada Admin on" in page and "Pay with a saved card" in page
    assert "Refund to the card" not in page
    assert f'href="{site.base}/activity"' in page and f'href="{site.base}/cases/"' in page
    assert "Refund to the card" in text(site.client.get(f"{site.base}/cases/{again}"))
    assert site.client.get(f"{site.base}/cases/{again + 1}").status_code == 404  # never existed


def test_the_deleted_case_page_speaks_the_readers_language(site):
    newest = _new_case(site, "Pay by card")
    site.client.post(f"{site.base}/cases/{newest}/delete")
    page = text(site.client.get(f"{site.base}/cases/{newest}", headers={"Accept-Language": "zh"}))
    assert "此用例已被 Ada Admin 于" in page


def test_a_deleted_robots_message_is_not_resent_into_another_robots_group(
    site, wecom_emulator, feishu_emulator
):
    wecom = _new_robot(site, "wecom", wecom_emulator.url, "QA group")
    _post_on_case_created(site, wecom)
    _new_case(site, "Pay by card")
    [message] = deliveries()
    assert (message.status, message.target, len(wecom_emulator.requests)) == ("sent", str(wecom), 1)
    assert site.client.post(f"{site.base}/robots/{wecom}/delete").status_code == 303
    feishu = _new_robot(site, "feishu", feishu_emulator.url, "Dev group")

    response = site.client.post(f"{site.base}/deliveries/{message.id}/resend", follow_redirects=True)
    assert feishu_emulator.requests == [] and len(wecom_emulator.requests) == 1
    assert feishu != wecom
    [message] = deliveries()
    assert (message.status, message.code, message.attempts) == ("failed", "robot_deleted", 2)
    assert "Not sent: the robot was deleted." in text(response)  # the flash, and the message's page
    assert [(a.status, a.code) for a in message.attempt_log] == [("sent", "0"), ("failed", "robot_deleted")]
    log = text(site.client.get(f"{site.base}/deliveries"))
    assert re.search(r'data-status="failed".*?Not sent', log, re.S)


def test_a_disabled_robots_queued_and_retrying_messages_are_not_sent(site, wecom_emulator):
    robot = _new_robot(site, "wecom", wecom_emulator.url, "QA group")
    _post_on_case_created(site, robot)
    wecom_emulator.take_down()  # a 502 from its gateway: retried later
    _new_case(site, "Pay by card")
    dispatcher = site.app.extensions["herald.dispatcher"]
    submit, dispatcher.submit = dispatcher.submit, lambda ids: None  # committed, no worker took it yet
    try:
        _new_case(site, "Refund to the card")
    finally:
        dispatcher.submit = submit
    assert [message.status for message in deliveries()] == ["retrying", "pending"]
    wecom_emulator.bring_up()
    assert site.client.post(f"{site.base}/robots/{robot}/disable").status_code == 303
    tried = len(wecom_emulator.requests)

    come_due()
    assert dispatcher.sweep() == 2
    messages = deliveries()
    assert [(m.status, m.code) for m in messages] == [("failed", "robot_disabled")] * 2
    assert len(wecom_emulator.requests) == tried
    for message in messages:
        page = text(site.client.get(f"{site.base}/deliveries/{message.id}"))
        assert "Not sent: the robot was disabled." in page and "Enable the robot" in page

    # Resend says so again; a test message still reaches the group, to check the robot before enabling it.
    response = site.client.post(f"{site.base}/deliveries/{messages[0].id}/resend", follow_redirects=True)
    assert "Not sent: the robot was disabled." in text(response) and len(wecom_emulator.requests) == tried
    response = site.client.post(f"{site.base}/robots/{robot}/test")
    assert response.status_code == 200 and len(wecom_emulator.requests) == tried + 1
    assert "Herald test message" in wecom_emulator.messages[-1].text
