"""Issue 6, point 1: a save's messages go to the workers once its response has been sent, not at the commit.

In a request with pool dispatch the jobs wait until the WSGI server closes the response (Werkzeug's test
client does not close it by itself: the tests do, as a server would after the last byte). Outside a request,
and with inline dispatch, they are handed on at the commit as before. A request that fails after its commit
leaves its rows pending, and the sweeper sends them. The SMTP server and the provider emulators are real.
"""

import time

import pytest

from tests.conftest import AppClient, login
from tests.notifications.doors import Door
from tests.notifications.helpers import add_robot, deliveries, mail_members, pool_app_on
from webapp.extensions import db
from webapp.models import Project, User
from webapp.notifications.dispatch import Dispatcher
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput
from webapp.services.messages import save_template


class Recording(Dispatcher):
    """The app's dispatcher, its real pool sending, noting each job as it is handed one."""

    def __init__(self, app):
        super().__init__(app)
        self.jobs: list[list[int]] = []

    def submit(self, delivery_ids) -> None:
        ids = list(delivery_ids)
        self.jobs.append(ids)
        super().submit(ids)


@pytest.fixture
def pool(app):
    """The test's database served by an app with pool dispatch, as in production (its sweeper held back)."""
    served = pool_app_on(app, NOTIFICATIONS_SWEEP_SECONDS=3600)  # the test calls sweep() itself
    served.test_client_class = AppClient
    replaced = served.extensions["herald.dispatcher"]
    recording = Recording(served)  # takes the place of the app's own
    yield served
    for dispatcher in (recording, replaced):
        dispatcher.shutdown()
    with served.app_context():
        db.engine.dispose()


def _save(client, project, title: str = "Pay by card"):
    return client.post(f"/projects/{project.id}/cases/new", data={"title": title, "priority": "P1"})


def _all_sent(timeout: float = 15) -> list[str]:
    """The statuses of the outbox rows once none is pending any more (or when the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = [d.status for d in deliveries()]
        if all(status not in ("pending", "retrying") for status in statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.05)


def test_a_save_hands_its_messages_on_when_the_response_is_closed(
    pool, project, admin, plain_server, wecom_emulator, feishu_emulator
):
    mail_members(project, plain_server)
    add_robot(project, "wecom", wecom_emulator.url)
    add_robot(project, "feishu", feishu_emulator.url)
    client = login(pool.test_client(), admin)
    dispatcher = pool.extensions["herald.dispatcher"]

    response = _save(client, project)

    assert response.status_code == 303
    rows = deliveries()
    assert sorted(d.channel for d in rows) == ["email", "email", "feishu", "wecom"]
    assert [d.status for d in rows] == ["pending"] * 4
    assert dispatcher.jobs == []  # the page is back; no worker has been given anything yet
    response.close()  # what the server does after the last byte
    # One job: claimed at once; the workers take the mail (one SMTP session) and each robot message in turn.
    assert dispatcher.jobs == [[d.id for d in rows]]
    assert _all_sent() == ["sent"] * 4
    assert sorted(r.rcpt_tos[0] for r in plain_server.received) == ["ada@example.com", "mei@example.com"]
    assert [len(wecom_emulator.messages), len(feishu_emulator.messages)] == [1, 1]
    assert "Pay by card" in wecom_emulator.messages[0].text


def test_a_robot_that_hangs_holds_up_no_other_message_of_the_save(
    pool, project, admin, wecom_emulator, webhook_receiver
):
    add_robot(project, "wecom", wecom_emulator.url)
    add_robot(project, "webhook", webhook_receiver.url)
    door = Door(wecom_emulator)
    door.hold(1)
    client = login(pool.test_client(), admin)
    try:
        _save(client, project).close()
        assert door.wait_held(1, timeout=10)
        deadline = time.monotonic() + 10
        while not webhook_receiver.deliveries and time.monotonic() < deadline:
            time.sleep(0.05)
        # The worker that took WeCom's message waits on it; another delivered the webhook's meanwhile.
        assert (len(wecom_emulator.messages), len(webhook_receiver.deliveries)) == (0, 1)
    finally:
        door.release(deliver=True)
    assert _all_sent() == ["sent", "sent"]


def test_a_page_that_plans_nothing_hands_nothing_on(pool, project, admin):
    client = login(pool.test_client(), admin)
    response = _save(client, project)
    response.close()
    assert response.status_code == 303 and deliveries() == []
    assert pool.extensions["herald.dispatcher"].jobs == []


def test_outside_a_request_the_messages_are_handed_on_at_the_commit(pool, project, admin, wecom_emulator):
    add_robot(project, "wecom", wecom_emulator.url)
    dispatcher = pool.extensions["herald.dispatcher"]
    with pool.app_context():  # as the CLI, the sweeper and the workers run: no request
        case_service.create_case(
            db.session.get(Project, project.id), db.session.get(User, admin.id), CaseInput(title="From cron")
        )
        handed_on = list(dispatcher.jobs)
    [row] = deliveries()
    assert handed_on == [[row.id]]
    assert _all_sent() == ["sent"]
    assert "From cron" in wecom_emulator.messages[0].text


def test_inline_dispatch_sends_before_the_response_comes_back(admin_client, project, wecom_emulator):
    add_robot(project, "wecom", wecom_emulator.url)
    response = _save(admin_client, project)  # not closed
    assert response.status_code == 303
    assert [d.status for d in deliveries()] == ["sent"]
    assert "Pay by card" in wecom_emulator.messages[0].text


def _break_the_page_after_the_commit(monkeypatch) -> None:
    """The view fails after the service has committed (here: when it flashes its message)."""

    def broken(*args, **kwargs):
        raise RuntimeError("the page could not be built")

    monkeypatch.setattr("webapp.blueprints.cases.routes.flash", broken)


def test_a_request_failing_after_the_commit_leaves_its_messages_to_the_sweeper(
    pool, project, admin, wecom_emulator, monkeypatch
):
    add_robot(project, "wecom", wecom_emulator.url)
    client = login(pool.test_client(), admin)
    dispatcher = pool.extensions["herald.dispatcher"]
    _break_the_page_after_the_commit(monkeypatch)

    with pytest.raises(RuntimeError, match="could not be built"):
        _save(client, project, "Saved, then the page broke")

    [row] = deliveries()
    assert (row.status, row.attempts) == ("pending", 0)  # committed, in the outbox
    assert dispatcher.jobs == [] and wecom_emulator.messages == []
    assert dispatcher.sweep() == 1  # the next tick finds it
    assert _all_sent() == ["sent"]
    assert dispatcher.jobs == [[row.id]]
    [message] = wecom_emulator.messages  # once
    assert "Saved, then the page broke" in message.text


def test_the_error_page_of_a_request_that_failed_after_the_commit_hands_its_messages_on(
    pool, project, admin, wecom_emulator, monkeypatch
):
    pool.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: Herald's own error page
    add_robot(project, "wecom", wecom_emulator.url)
    client = login(pool.test_client(), admin)
    dispatcher = pool.extensions["herald.dispatcher"]
    _break_the_page_after_the_commit(monkeypatch)

    response = _save(client, project, "Saved despite the error page")

    assert response.status_code == 500
    [row] = deliveries()
    assert dispatcher.jobs == []
    response.close()
    assert dispatcher.jobs == [[row.id]]  # the change is saved, so its message is due
    assert _all_sent() == ["sent"]
    assert len(wecom_emulator.messages) == 1


def test_mail_and_robots_of_one_event_each_get_their_own_template(
    app, project, admin, member, plain_server, wecom_emulator
):
    mail_members(project, plain_server)
    save_template(project.id, "case.created", "Ours: {{ case_title }}", "{{ operator }} wrote it.")
    add_robot(project, "wecom", wecom_emulator.url)
    case_service.create_case(project, admin, CaseInput(title="Refund", maintainer_id=member.id))

    subjects = {r.message["Subject"] for r in plain_server.received}
    assert subjects == {"Ours: Refund"}  # the project's own mail template
    mail = plain_server.received[0].message.get_body(("plain",)).get_content()
    assert mail.strip() == "Ada Admin wrote it."
    [chat] = wecom_emulator.messages  # the robots keep the built-in wording (English, as mail_members sets)
    assert "[Herald] Case created: Refund" in chat.text and "Ada Admin · Checkout" in chat.text
    rows = deliveries()
    assert [(d.channel, d.recipient) for d in rows] == [
        ("email", "Ada Admin <ada@example.com>"),
        ("email", "Mei Member <mei@example.com>"),
        ("wecom", "wecom group " + wecom_emulator.url[-6:]),
    ]
    assert rows[0].body_html.startswith("<!doctype html>") and rows[2].body_html == ""
