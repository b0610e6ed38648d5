"""What the Delivery log decides for its templates: whether Resend is offered, and what a badge notes."""

from datetime import timedelta

import pytest

from webapp.models import Delivery
from webapp.models._types import utcnow
from webapp.services import deliveries as delivery_service
from webapp.services.deliveries import State


def _delivery(status, **fields) -> Delivery:
    return Delivery(channel="wecom", target="1", subject="s", status=status, **{"attempts": 0, **fields})


@pytest.mark.parametrize(
    ("status", "offered"),
    [("sent", True), ("failed", True), ("pending", False), ("retrying", False), ("merged", False)],
)
def test_resend_is_offered_to_administrators_once_a_message_is_sent_or_failed(admin, status, offered):
    assert delivery_service.can_resend(_delivery(status), admin) is offered


def test_resend_is_never_offered_to_members_nor_to_a_disabled_administrator(member, admin):
    assert not delivery_service.can_resend(_delivery("failed"), member)
    admin.active = False
    assert not delivery_service.can_resend(_delivery("failed"), admin)


def test_a_pending_row_given_a_time_by_its_robots_pace_waits_for_it(app):
    due = utcnow() + timedelta(seconds=40)
    paced = _delivery("pending", next_attempt_at=due, cause="The robot's pace is full")
    assert delivery_service.state(paced) == State("pending", "paced", at=due)


@pytest.mark.parametrize(
    "fields",
    [
        {},  # not yet sent: nothing to note
        {"next_attempt_at": "due"},  # a time but no reason: not held by the pace
        {"next_attempt_at": "due", "cause": "x", "attempts": 1},  # tried already: not a pace slot
    ],
)
def test_a_pending_row_is_only_paced_when_all_says_so(app, fields):
    fields = {k: (utcnow() if v == "due" else v) for k, v in fields.items()}
    assert delivery_service.state(_delivery("pending", **fields)) == State("pending")


def test_a_retry_notes_its_next_try_and_a_merged_row_its_digest(app):
    due = utcnow() + timedelta(minutes=2)
    assert delivery_service.state(_delivery("retrying", next_attempt_at=due)) == State(
        "retrying", "next_try", at=due
    )
    assert delivery_service.state(_delivery("merged", merged_into_id=7)) == State(
        "merged", "in_digest", digest_id=7
    )
    assert delivery_service.state(_delivery("sent")) == State("sent")
    assert delivery_service.state(_delivery("failed")) == State("failed")
