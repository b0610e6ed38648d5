"""Pacing: a robot never gets more than its provider allows, and a burst beyond it arrives as one digest.

The emulators enforce the real limits on their own clock; pacing runs on an injected one. Both read the same
hand-moved clock, so a minute passes without waiting for it. It starts in the past so that messages deferred
on it are already due for the sweeper, which hands them back to pacing: pacing alone decides when they go.
"""

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from webapp.extensions import db
from webapp.models import Delivery, MailSettings, Robot
from webapp.notifications import pacing
from webapp.notifications.channels.base import TRUNCATION_MARKER
from webapp.notifications.delivery import deliver, send_test_message
from webapp.notifications.events import case_snapshot, record_event
from webapp.notifications.pacing import Window, counted, room_left, wait_for_slot
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput
from webapp.services.deliveries import resend


class HandClock:
    """Epoch seconds that move only when told to (or when pacing sleeps on them)."""

    def __init__(self, start: float):
        self.time = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.time += seconds


@pytest.fixture
def clock(monkeypatch):
    hand = HandClock(time.time() - 1200)
    monkeypatch.setattr(pacing, "clock", hand)
    return hand


@pytest.fixture
def english(app):
    db.session.add(MailSettings(id=1, language="en"))
    db.session.commit()


def _robot(project, kind, url, **fields) -> Robot:
    robot = Robot(project_id=project.id, kind=kind, name=f"{kind} group", webhook_url=url, **fields)
    db.session.add(robot)
    db.session.commit()
    return robot


def _titles(count: int, prefix: str = "Refund flow") -> list[str]:
    return [f"{prefix} {i:03d}" for i in range(count)]


def _create(project, actor, title: str):
    return case_service.create_case(project, actor, CaseInput(title=title, priority="P2"))


def _bulk_edit(project, actor, titles: list[str]) -> None:
    """Raise many cases' priority in one transaction, as a bulk edit does: their messages queue together."""
    cases = [_create(project, actor, title) for title in titles]
    for case in cases:
        case.priority = "P0"
        record_event(
            "case.updated", project, actor, case, case=case_snapshot(case), changes={"priority": ["P2", "P0"]}
        )
    db.session.commit()


def _open_rows() -> int:
    db.session.expire_all()
    return Delivery.query.filter(Delivery.status.in_(("pending", "retrying"))).count()


def _drain(app, clock, step: float = 30) -> None:
    """Let time pass and the sweeper run until nothing waits."""
    for _ in range(40):
        if not _open_rows():
            return
        clock.advance(step)
        app.extensions["herald.dispatcher"].sweep()
    raise AssertionError("messages still waiting")


def _most_in_any_window(times: list[float], seconds: float) -> int:
    """The most messages the provider accepted within any `seconds`, as it counts them."""
    return max((sum(1 for u in times if t - seconds < u <= t) for t in times), default=0)


def _replies(emulator) -> list[dict]:
    return [json.loads(r.reply) for r in emulator.requests]


def _each_title_once(emulator, titles: list[str]) -> None:
    texts = [m.text for m in emulator.messages]
    for title in titles:
        assert sum(1 for text in texts if title in text) == 1, title


def _accounted(emulator) -> tuple[list[Delivery], list[Delivery]]:
    """Every row sent or merged into a sent digest, one group message per sent row; (digests, merged)."""
    db.session.expire_all()
    rows = Delivery.query.order_by(Delivery.id).all()
    sent = [d for d in rows if d.status == "sent"]
    merged = [d for d in rows if d.status == "merged"]
    assert len(sent) + len(merged) == len(rows)
    assert len(sent) == len(emulator.messages)
    sent_ids = {d.id for d in sent}
    assert all(d.merged_into_id in sent_ids for d in merged)
    digests = [d for d in sent if any(m.merged_into_id == d.id for m in merged)]
    return digests, merged


def test_sixty_events_to_one_dingtalk_robot_within_a_minute_produce_no_130101_and_a_digest(
    app, project, admin, dingtalk_emulator, clock
):
    dingtalk_emulator.clock = clock.now
    dingtalk_emulator.robot.keywords = ["Herald"]
    _robot(project, "dingtalk", dingtalk_emulator.url, keywords=["Herald"], events=["case.created"])
    start, titles = clock.now(), _titles(60)
    for title in titles:  # 60 saves within a minute
        _create(project, admin, title)
        clock.advance(0.9)

    # The first 20 went out as they came; the other 40 wait for the window, which is not a failed attempt.
    assert len(dingtalk_emulator.messages) == 20
    db.session.expire_all()
    waiting = Delivery.query.filter_by(status="pending").all()
    assert len(waiting) == 40
    assert all(d.attempts == 0 and d.attempt_log == [] for d in waiting)
    slot_frees = datetime.fromtimestamp(start + 60, UTC)
    assert all(abs((d.next_attempt_at - slot_frees).total_seconds()) < 1 for d in waiting)
    assert "20" in waiting[0].cause and "DingTalk" in waiting[0].cause

    _drain(app, clock)

    assert all(reply["errcode"] == 0 for reply in _replies(dingtalk_emulator))  # never 130101
    assert dingtalk_emulator.robot.throttled_until == 0
    assert _most_in_any_window(dingtalk_emulator.robot.accepted_at, 60) <= 20
    _each_title_once(dingtalk_emulator, titles)
    digests, merged = _accounted(dingtalk_emulator)
    assert len(digests) == 1 and merged
    assert f"/projects/{project.id}/activity" in dingtalk_emulator.messages[-1].text


def test_a_bulk_edit_of_60_cases_is_19_messages_and_a_digest_of_the_other_41(
    app, project, admin, dingtalk_emulator, clock, english
):
    dingtalk_emulator.clock = clock.now
    _robot(project, "dingtalk", dingtalk_emulator.url, events=["case.updated"])
    titles = _titles(60)
    _bulk_edit(project, admin, titles)

    messages = dingtalk_emulator.messages
    assert len(messages) == 20 and all(reply["errcode"] == 0 for reply in _replies(dingtalk_emulator))
    assert all(titles[i] in messages[i].text for i in range(19))
    digest = messages[19].text
    assert "And 41 more changes in Checkout" in digest
    # Listed in the order they happened.
    positions = [digest.index(title) for title in titles[19:]]
    assert positions == sorted(positions)
    _each_title_once(dingtalk_emulator, titles)
    [carrier], merged = _accounted(dingtalk_emulator)
    assert len(merged) == 40 and _open_rows() == 0
    assert f"#{carrier.id}" in merged[0].cause


def test_feishu_takes_five_a_second_all_delivered_within_five_seconds(
    app, project, admin, feishu_emulator, clock
):
    feishu_emulator.clock = clock.now
    _robot(project, "feishu", feishu_emulator.url, events=["case.created"])
    start, titles = clock.now(), _titles(20)
    for title in titles:  # as fast as people click: the clock moves only while pacing waits
        _create(project, admin, title)

    assert [reply["code"] for reply in _replies(feishu_emulator)] == [0] * 20  # never 11232
    assert _most_in_any_window(feishu_emulator.robot.accepted_at, 1) <= 5
    assert clock.now() - start < 5
    _each_title_once(feishu_emulator, titles)
    assert _accounted(feishu_emulator) == ([], [])  # each went alone: no digest was needed


def test_feishu_beyond_100_a_minute_the_last_slot_is_a_digest(app, project, admin, feishu_emulator, clock):
    feishu_emulator.clock = clock.now
    _robot(project, "feishu", feishu_emulator.url, events=["case.updated"])
    titles = _titles(110)
    _bulk_edit(project, admin, titles)

    assert all(reply["code"] == 0 for reply in _replies(feishu_emulator))
    accepted = feishu_emulator.robot.accepted_at
    assert len(accepted) == 100
    assert _most_in_any_window(accepted, 1) <= 5 and _most_in_any_window(accepted, 60) <= 100
    _each_title_once(feishu_emulator, titles)
    [carrier], merged = _accounted(feishu_emulator)
    assert len(merged) == 10


def test_two_workers_competing_for_the_last_slot_never_exceed_the_limit(
    app, project, dingtalk_emulator, clock
):
    dingtalk_emulator.clock = clock.now
    robot = _robot(project, "dingtalk", dingtalk_emulator.url, events=[])
    for round_ in range(5):
        for i in range(19):
            assert send_test_message(robot, f"Warm-up {round_}.{i}", "Herald").status == "sent"
        rivals = [
            Delivery(project_id=project.id, channel="dingtalk", target=str(robot.id), subject=f"Rival {i}")
            for i in range(2)
        ]
        db.session.add_all(rivals)
        db.session.commit()
        ids = [d.id for d in rivals]
        _race(app, [[i] for i in ids])

        db.session.expire_all()
        outcomes = sorted(db.session.get(Delivery, i).status for i in ids)
        assert outcomes == ["failed", "sent"]
        [loser] = [db.session.get(Delivery, i) for i in ids if db.session.get(Delivery, i).status == "failed"]
        assert "DingTalk" in loser.cause and "Try again in" in loser.fix
        assert len(dingtalk_emulator.messages) == 20 * (round_ + 1)
        clock.advance(61)
    assert all(reply["errcode"] == 0 for reply in _replies(dingtalk_emulator))


def test_two_workers_draining_a_burst_send_nothing_twice_and_stay_within_the_limit(
    app, project, admin, dingtalk_emulator, clock, monkeypatch
):
    dingtalk_emulator.clock = clock.now
    _robot(project, "dingtalk", dingtalk_emulator.url, events=["case.updated"])
    titles = _titles(60)
    # The bulk edit's messages stay in the outbox; then two workers take half of them each, at once.
    dispatcher = app.extensions["herald.dispatcher"]
    monkeypatch.setattr(dispatcher, "submit", lambda ids: None)
    _bulk_edit(project, admin, titles)
    ids = [d.id for d in Delivery.query.order_by(Delivery.id)]
    _race(app, [ids[0::2], ids[1::2]])

    assert len(dingtalk_emulator.messages) <= 20
    assert all(reply["errcode"] == 0 for reply in _replies(dingtalk_emulator))
    texts = [m.text for m in dingtalk_emulator.messages]
    assert all(sum(1 for text in texts if title in text) <= 1 for title in titles)
    monkeypatch.undo()
    _drain(app, clock)
    assert _most_in_any_window(dingtalk_emulator.robot.accepted_at, 60) <= 20
    _each_title_once(dingtalk_emulator, titles)
    _accounted(dingtalk_emulator)


def test_a_worker_taking_the_last_slot_holds_the_robot_until_it_commits(
    app, project, dingtalk_emulator, clock
):
    dingtalk_emulator.clock = clock.now
    robot = _robot(project, "dingtalk", dingtalk_emulator.url, events=[])
    for i in range(19):
        send_test_message(robot, f"Warm-up {i}", "Herald")
    rival = Delivery(project_id=project.id, channel="dingtalk", target=str(robot.id), subject="Rival")
    db.session.add(rival)
    db.session.commit()
    holding, second_started = threading.Event(), threading.Event()

    def first() -> None:
        # Another process, in the middle of taking the twentieth slot: held, not yet committed.
        with app.app_context():
            sends = pacing.take([robot.id], clock.now())[robot.id]
            pacing.put({robot.id: [*sends, [clock.now(), 0]]})  # written at the commit
            holding.set()
            second_started.wait(10)
            time.sleep(0.3)  # give the rival every chance to read the old count, were it not held
            db.session.commit()

    def second() -> None:
        holding.wait(10)
        with app.app_context():
            second_started.set()
            deliver([rival.id])

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    db.session.expire_all()
    assert db.session.get(Delivery, rival.id).status == "failed"  # it waited, then found no slot
    assert len(dingtalk_emulator.messages) == 19


def _race(app, batches: list[list[int]]) -> None:
    """Deliver each batch from its own thread and app context (its own connection), all starting together."""
    start = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def work(batch: list[int]) -> None:
        try:
            with app.app_context():
                start.wait()
                deliver(batch)
        except BaseException as error:  # reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_a_digest_lists_what_it_merged_within_the_channels_size_and_goes_again_on_resend(
    app, project, admin, wecom_emulator, clock, english
):
    wecom_emulator.clock = clock.now
    _robot(project, "wecom", wecom_emulator.url, events=["case.updated"])
    titles = _titles(120, prefix="A rather long case title about refunds to a card that expired, number")
    _bulk_edit(project, admin, titles)

    assert all(reply["errcode"] == 0 for reply in _replies(wecom_emulator))  # no 40058: it fits
    digest = wecom_emulator.messages[-1].text
    assert len(wecom_emulator.messages) == 20
    assert digest.startswith("And 101 more changes in Checkout")
    assert "WeCom" in digest and "20 messages a minute" in digest
    assert titles[19] in digest and titles[20] in digest and titles[-1] not in digest
    assert str(TRUNCATION_MARKER) in digest
    assert digest.rstrip().endswith(f"/projects/{project.id}/activity")
    [carrier], merged = _accounted(wecom_emulator)
    assert carrier.subject == "And 101 more changes in Checkout" and len(merged) == 100

    clock.advance(61)
    resend(carrier)
    assert wecom_emulator.messages[-1].text == digest
    db.session.expire_all()
    assert (carrier.status, carrier.attempts) == ("sent", 2)


def test_the_generic_webhook_is_not_paced(app, project, admin, webhook_receiver, clock):
    _robot(project, "webhook", webhook_receiver.url, events=["case.created"])
    for title in _titles(30):
        _create(project, admin, title)
    assert len(webhook_receiver.deliveries) == 30
    assert Delivery.query.filter_by(status="sent").count() == 30


def test_a_send_not_finished_counts_as_now_whatever_its_place_in_the_list():
    minute = (Window(2, 60),)
    # The send placed at 0 has not ended (its thread was held up); the one at 30 has.
    times = counted([[0.0, 1, 0], [30.0, 2]], now=50)
    assert times == [30.0, 50.0]
    # The next may go when the send at 30 leaves the window, not the one still on its way.
    assert wait_for_slot(times, minute, 50) == pytest.approx(40 + pacing.MARGIN)


def test_waiting_counts_every_window_by_its_oldest_send():
    minute = (Window(20, 60),)
    sends = [float(t) for t in range(20)]  # one a second
    assert wait_for_slot(sends[:19], minute, 19) == 0
    assert wait_for_slot(sends, minute, 30) == pytest.approx(30 + pacing.MARGIN)  # when the send at 0 leaves
    assert wait_for_slot(sends, minute, 60 + pacing.MARGIN) == 0
    feishu = (Window(5, 1), Window(100, 60))
    assert wait_for_slot([0.0] * 5, feishu, 0) == pytest.approx(1 + pacing.MARGIN)
    # Only the windows a message would be deferred for decide the digest.
    assert room_left([0.0] * 5, feishu, 0, horizon=2) == 95
    assert room_left(sends[:19], minute, 19, horizon=2) == 1


def test_a_process_whose_own_sends_fill_the_window_never_sleeps_through_it(clock):
    """Issue 11, point 6: a place pacing gave that this process's own sends leave no room for (starts counted
    for sends that were then given back) is answered at once with the wait, not slept on for a minute."""
    starts = pacing.Starts()
    windows = pacing.LIMITS["wecom"]
    assert [starts.go(7, windows) for _ in range(20)] == [0.0] * 20
    before = clock.now()
    wait = starts.go(7, windows)
    assert wait > pacing.LATE and wait == pytest.approx(60 + pacing.MARGIN)
    assert clock.now() == before  # answered at once: no sleep on the robot's window
    clock.advance(0.5)
    assert starts.go(8, windows) == 0.0  # another robot is not held up
