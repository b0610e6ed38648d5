"""Issue 6, point 5: several sweepers on one database never send a message twice, and send them all.

Two cron runs at once and two app processes (like two gunicorn workers) share a few hundred messages, on
SQLite and on PostgreSQL; two sweepers in one process, each with its own app, share messages that take longer
to send than a lease lasts. The SMTP server and the webhook receivers count what arrives.
"""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from tests.notifications import helpers
from tests.notifications.doors import Door
from tests.notifications.helpers import add_robot, deliveries, mail_members, outbox_left_behind, pool_app_on
from tests.notifications.processes import cron, environment, start
from webapp import config, create_app
from webapp.extensions import db
from webapp.models._types import utcnow

CASES = 100  # each mails two members and posts to two webhooks: 400 messages


database = helpers.database  # the test's app on SQLite, then on PostgreSQL


@pytest.fixture
def receivers(webhook_receiver):
    """Two webhook receivers, each the address of one robot of the project."""
    from tests.emulators import WebhookReceiver

    with WebhookReceiver() as second:
        yield [webhook_receiver, second]


def _posted(receivers) -> Counter:
    """How many times each message (by its delivery id) reached a webhook receiver and was accepted."""
    return Counter(
        request.headers.get("X-Herald-Delivery")
        for receiver in receivers
        for request in receiver.requests
        if request.status == 200
    )


def _mailed(server) -> Counter:
    return Counter((mail.rcpt_tos[0], mail.message["Subject"]) for mail in server.received)


def _assert_each_sent_once(server, receivers) -> None:
    rows = deliveries()
    assert Counter((d.status, d.attempts) for d in rows) == {("sent", 1): 4 * CASES}
    posted = _posted(receivers)
    robot_ids = {str(d.id) for d in rows if d.channel == "webhook"}
    assert set(posted) == robot_ids and set(posted.values()) == {1}
    mailed = _mailed(server)
    assert len(mailed) == 2 * CASES and set(mailed.values()) == {1}


@pytest.fixture
def busy_project(database, plain_server, receivers):
    """Two members mailed on case.created, two webhooks, and 400 messages left in the outbox."""
    project, admin = helpers.team()
    mail_members(project, plain_server)
    for receiver in receivers:
        add_robot(project, "webhook", receiver.url)
    outbox_left_behind(database, project, admin, CASES)
    return project


def test_two_cron_runs_at_once_send_each_message_once(database, busy_project, plain_server, receivers):
    door = Door(receivers[0])
    door.hold(2)  # the first two posts wait until both runs are sending: they overlap for sure
    env = environment(database)
    runs = [threading.Thread(target=lambda: outputs.append(cron(env))) for _ in range(2)]
    outputs: list[str] = []
    for run in runs:
        run.start()
    both_sending = door.wait_held(2, timeout=60)
    door.release(deliver=True)
    for run in runs:
        run.join(timeout=120)
    assert both_sending, "the second run found nothing left to send: the first had claimed everything"
    assert len(outputs) == 2
    _assert_each_sent_once(plain_server, receivers)


def test_two_app_processes_sweeping_send_each_message_once(database, busy_project, plain_server, receivers):
    door = Door(receivers[0])
    door.delay = 0.005
    env = environment(database, HERALD_DISPATCH="pool", HERALD_DELIVERY_WORKERS="4")
    workers = [start(env, "serve", 0.2, 120) for _ in range(2)]
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, out + err
    _assert_each_sent_once(plain_server, receivers)


@pytest.fixture
def second_app(app):
    """Another Herald on the same database, as another process would be."""
    other = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    yield other
    with other.app_context():
        db.engine.dispose()


def test_a_sweep_longer_than_the_lease_shares_its_messages_without_sending_one_twice(
    app, second_app, project, admin, webhook_receiver
):
    for each in (app, second_app):
        each.config["NOTIFICATIONS_LEASE_SECONDS"] = 1
    add_robot(project, "webhook", webhook_receiver.url)
    outbox_left_behind(app, project, admin, 6)
    door = Door(webhook_receiver)
    door.delay = 0.5  # each message takes half the lease to send; all six take three leases

    first = threading.Thread(target=app.extensions["herald.dispatcher"].sweep)
    first.start()
    try:
        # The fourth message is on its way, one and a half leases after the first sweep began.
        assert door.wait_arrived(4, timeout=30)
        with second_app.app_context():
            second_app.extensions["herald.dispatcher"].sweep()
    finally:
        first.join(timeout=30)

    assert sorted(_posted([webhook_receiver]).values()) == [1] * 6
    assert [(d.status, d.attempts) for d in deliveries()] == [("sent", 1)] * 6


@pytest.fixture
def pool_app(app):
    """The same database served by an app whose deliveries run in a worker pool."""
    other = pool_app_on(app)
    yield other
    other.extensions["herald.dispatcher"].shutdown()
    with other.app_context():
        db.engine.dispose()


def test_a_robot_that_hangs_holds_up_no_other_message_the_sweeper_finds(
    app, pool_app, project, admin, wecom_emulator, webhook_receiver
):
    add_robot(project, "wecom", wecom_emulator.url)
    add_robot(project, "webhook", webhook_receiver.url)
    outbox_left_behind(app, project, admin, 3)
    door = Door(wecom_emulator)
    door.hold(1)  # the first WeCom message hangs; the group answers the others
    try:
        pool_app.extensions["herald.dispatcher"].sweep()
        assert door.wait_held(1, timeout=10)
        deadline = time.monotonic() + 10
        while len(webhook_receiver.deliveries) + len(wecom_emulator.messages) < 5:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # One worker waits on WeCom; the other delivered the rest meanwhile.
        assert (len(wecom_emulator.messages), len(webhook_receiver.deliveries)) == (2, 3)
    finally:
        door.release(deliver=True)


def test_a_message_waiting_for_a_worker_is_not_queued_again_by_each_tick(
    app, pool_app, project, admin, wecom_emulator
):
    add_robot(project, "wecom", wecom_emulator.url)
    outbox_left_behind(app, project, admin, 3)
    door = Door(wecom_emulator)
    door.hold()
    dispatcher = pool_app.extensions["herald.dispatcher"]
    try:
        assert dispatcher.sweep() == 3
        assert door.wait_held(
            2, timeout=10
        )  # both workers wait on the group; the third message waits for one
        assert dispatcher.sweep() == 0  # the next tick hands on nothing: all three are on their way already
    finally:
        door.release(deliver=True)
    dispatcher.shutdown()
    assert len(wecom_emulator.messages) == 3
    assert [(d.status, d.attempts) for d in deliveries()] == [("sent", 1)] * 3


def test_a_row_falling_due_between_ticks_goes_out_when_due(app, project, admin, webhook_receiver):
    """Issue 11, point 6: a message waiting for a time (a retry, a robot's pace) goes out at that time, not at
    the sweeper's next tick, even when no wake-up was asked for it (one lost, or left by another process)."""
    add_robot(project, "webhook", webhook_receiver.url)
    outbox_left_behind(app, project, admin, 3)
    rows = deliveries()
    assert len(rows) == 3
    for row in rows:
        row.next_attempt_at = utcnow() + timedelta(seconds=1.5)
    db.session.commit()
    ticking = pool_app_on(app, NOTIFICATIONS_SWEEP_SECONDS=600)
    dispatcher = ticking.extensions["herald.dispatcher"]
    try:
        dispatcher.start_sweeper()  # sweeps at once (nothing due yet), then not for ten minutes
        arrived = Door(webhook_receiver).wait_arrived(3, timeout=8)
    finally:
        dispatcher.shutdown()
        with ticking.app_context():
            db.engine.dispose()
    assert arrived, "the messages waited for the next tick"
    assert [(d.status, d.attempts) for d in deliveries()] == [("sent", 1)] * 3
