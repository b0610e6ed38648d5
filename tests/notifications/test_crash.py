"""Issue 6, point 5: a server killed between commit and delivery loses nothing and sends nothing twice.

The server is a real process on the test's database (a SQLite file, then PostgreSQL), delivering with a
one-thread worker pool; the test kills it with SIGKILL while a robot holds its request, and restarts delivery
with the cron command or with an app process whose sweeper ticks. The SMTP server and the WeCom emulator
count what arrives.
"""

import signal

import pytest

from tests.notifications import helpers
from tests.notifications.doors import Door
from tests.notifications.helpers import add_robot, deliveries, mail_members, until, wait_out_lease
from tests.notifications.processes import cron, environment, start

LEASE = 6  # seconds; long enough that the first restart comes well within it

database = helpers.database  # the test's app on SQLite, then on PostgreSQL


@pytest.fixture
def checkout(database):
    """The project and its administrator; Mei is the other member."""
    return helpers.team()


@pytest.fixture
def groups(checkout, wecom_emulator):
    """Three WeCom groups, each with a robot the project posts case.created to."""
    project, _ = checkout
    robots = [wecom_emulator.robot, wecom_emulator.add_robot(), wecom_emulator.add_robot()]
    for robot in robots:
        add_robot(project, "wecom", wecom_emulator.url_for(robot))
    return robots


def _kill_while_a_robot_hangs(app, project, admin, door) -> dict[str, str]:
    """Start a server, save a case there, and kill it while its worker waits for a robot's reply."""
    env = environment(
        app,
        HERALD_DISPATCH="pool",
        HERALD_DELIVERY_WORKERS="1",
        HERALD_DELIVERY_LEASE_SECONDS=str(LEASE),
    )
    door.hold()
    server = start(env, "save", project.id, admin.id, "Refund to the original card")
    try:
        if not door.wait_held(1, timeout=60):
            server.kill()
            pytest.fail(f"the server never reached the robot: {server.communicate()[1]}")
        # Attempts are written by a thread of their own a moment after the send: let the mail's land first.
        mails_recorded = until(lambda: {d.status for d in deliveries() if d.channel == "email"} == {"sent"})
        server.send_signal(signal.SIGKILL)
        assert server.wait(timeout=10) == -signal.SIGKILL
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
    door.release(deliver=False)  # the dead server's request never reached the group
    assert mails_recorded, "the mail's attempts were never recorded"
    return env


@pytest.mark.parametrize("restart", ["cron", "sweeper"])
def test_after_a_kill_every_message_arrives_exactly_once(
    database, checkout, plain_server, wecom_emulator, groups, restart
):
    project, admin = checkout
    mail_members(project, plain_server)
    env = _kill_while_a_robot_hangs(database, project, admin, Door(wecom_emulator))

    # What the dead server left: the mail job ran first and is recorded; the first robot message was claimed
    # and on its way (marked so, nothing recorded), the other two waited for the worker, unclaimed.
    mails = [d for d in deliveries() if d.channel == "email"]
    robots = [d for d in deliveries() if d.channel == "wecom"]
    assert [d.status for d in mails] == ["sent", "sent"]
    assert sorted(r.rcpt_tos[0] for r in plain_server.received) == ["ada@example.com", "mei@example.com"]
    assert [(d.status, d.attempts) for d in robots] == [("pending", 0)] * 3
    assert [d.lease_until is not None for d in robots] == [True, False, False]
    assert [d.sending_at is not None for d in robots] == [True, False, False]
    assert wecom_emulator.messages == []

    if restart == "cron":
        # The claim is left alone while its lease runs: the worker holding it might still be alive.
        assert cron(env) == "Tried 2 due message(s)."
        assert [len(group.messages) for group in groups] == [0, 1, 1]
        wait_out_lease(robots[0])
        assert cron(env) == "Tried 1 due message(s)."
        assert cron(env) == "Nothing is due."
    else:
        sweeper = start(env, "serve", 0.2, 60)
        out, err = sweeper.communicate(timeout=90)
        assert sweeper.returncode == 0, out + err

    assert [len(group.messages) for group in groups] == [1, 1, 1]
    assert all("Refund to the original card" in group.messages[0].text for group in groups)
    assert len(plain_server.received) == 2
    # The log shows the send the dead server may have made, then the one that went through.
    assert [[a.status for a in d.attempt_log] for d in deliveries()] == [["sent"]] * 2 + [
        ["interrupted", "sent"],
        ["sent"],
        ["sent"],
    ]
    assert [(d.status, d.attempts, d.sending_at) for d in deliveries()] == [("sent", 1, None)] * 2 + [
        ("sent", 2, None),
        ("sent", 1, None),
        ("sent", 1, None),
    ]


def test_a_server_that_stops_while_sending_records_every_message_it_sent(
    database, checkout, plain_server, wecom_emulator, groups
):
    project, admin = checkout
    mail_members(project, plain_server)
    Door(wecom_emulator).delay = 0.3  # the robots answer late: the process is asked to end meanwhile
    env = environment(database, HERALD_DISPATCH="pool", HERALD_DELIVERY_WORKERS="2", HERALD_TEST_THEN="exit")
    server = start(env, "save", project.id, admin.id, "Refund to the original card")
    out, err = server.communicate(timeout=60)
    assert server.returncode == 0, out + err

    # Its pool finished what it had begun, and every attempt was written before the process ended: nothing is
    # left claimed, to be sent a second time once the claim runs out.
    assert [(d.status, d.attempts, d.lease_until) for d in deliveries()] == [("sent", 1, None)] * 5
    assert [len(group.messages) for group in groups] == [1, 1, 1]
    assert len(plain_server.received) == 2
