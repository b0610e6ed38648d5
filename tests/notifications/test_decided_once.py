"""Everything a message says is decided when the event is recorded: a retry and a Resend send exactly what the
first attempt sent (title, body, link, @mentions, the event's facts), whoever changed their mobile or left the
project since, whatever the project is called now and wherever Herald is reached."""

import json

from tests.notifications.helpers import add_robot, come_due, deliveries
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.cases import CaseInput
from webapp.services.deliveries import resend


def _told(received) -> dict:
    """The document the receiver got, less the moment it was sent (the only part a later send may change)."""
    document = json.loads(received.body)
    del document["sent_at"]
    return document


def _things_change(app, project, member) -> None:
    """Between two sends: the maintainer changes her mobile and leaves; the project and Herald move."""
    user_service.update_user(member, mobile="13900139000")
    project_service.remove_member(project, member)
    project_service.update_project(project, "Checkout, new")
    app.config["BASE_URL"] = "https://herald.example.org"


def test_a_retry_mentions_whom_the_first_attempt_did_with_the_same_link_and_facts(
    app, project, admin, member, webhook_receiver
):
    base_url = app.config["BASE_URL"].rstrip("/")
    add_robot(project, "webhook", webhook_receiver.url)
    webhook_receiver.take_down()
    case = case_service.create_case(project, admin, CaseInput(title="Pay by card", maintainer_id=member.id))
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("retrying", 1)
    _things_change(app, project, member)
    webhook_receiver.bring_up()
    come_due()
    assert app.extensions["herald.dispatcher"].sweep() == 1

    first, retry = (_told(received) for received in webhook_receiver.requests)
    assert first["mentions"]["mobiles"] == [
        "13800138000"
    ]  # the maintainer, as she was when the case was saved
    assert first["message"]["link"] == f"{base_url}/projects/{project.id}/cases/{case.id}"
    assert first["project"] == {"id": project.id, "name": "Checkout"}
    assert first["actor"] == {"id": admin.id, "name": "Ada Admin"}
    assert retry == first
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_a_resend_says_what_the_first_send_said(app, project, admin, member, webhook_receiver):
    add_robot(project, "webhook", webhook_receiver.url, events=["case.updated"])
    case = case_service.create_case(project, admin, CaseInput(title="Pay by card", maintainer_id=member.id))
    case_service.update_case(
        case, admin, CaseInput(title="Pay by card", priority="P0", maintainer_id=member.id)
    )
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    _things_change(app, project, member)
    resend(delivery)

    first, again = (_told(received) for received in webhook_receiver.requests)
    assert first["mentions"]["mobiles"] == ["13800138000"]
    assert first["changes"] == [{"field": "priority", "old": "P2", "new": "P0"}]
    assert again == first
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
