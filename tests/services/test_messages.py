"""Saving the Message settings form: every event and every robot in one transaction, or nothing."""

import pytest
from sqlalchemy import event as sa_event

from webapp.extensions import db
from webapp.models import MessageSetting, Robot
from webapp.notifications.rules import message_setting
from webapp.services import messages as message_service
from webapp.services.messages import EventChoice


@pytest.fixture
def robot(project):
    robot = Robot(project_id=project.id, kind="wecom", name="QA", webhook_url="http://127.0.0.1:9/x?key=k")
    db.session.add(robot)
    db.session.commit()
    return robot


def _choices(robot, member):
    return {
        "case.created": EventChoice(True, ["maintainer"], [], [robot.id]),
        "case.updated": EventChoice(False, ["members"], [member.id], []),
        "case.deleted": EventChoice(True, ["creator"], [], [robot.id]),
    }


def test_the_whole_form_is_saved_in_one_commit(project, member, robot):
    commits = []
    session = db.session()

    def committed(_session):
        commits.append(1)

    sa_event.listen(session, "after_commit", committed)
    try:
        message_service.save_settings(project.id, _choices(robot, member))
    finally:
        sa_event.remove(session, "after_commit", committed)
    assert len(commits) == 1
    assert message_setting(project.id, "case.created").email
    assert message_setting(project.id, "case.updated").named_user_ids == [member.id]
    assert message_setting(project.id, "case.deleted").receivers == ["creator"]
    db.session.refresh(robot)
    assert robot.events == ["case.created", "case.deleted"]


def test_a_failure_in_the_middle_leaves_nothing_half_saved(project, member, robot, monkeypatch):
    robot.events = ["case.updated"]
    db.session.commit()

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    # The three events' settings are written to the session first; then the robots' part fails.
    monkeypatch.setattr(message_service, "_set_robot_events", broken)
    with pytest.raises(RuntimeError):
        message_service.save_settings(project.id, _choices(robot, member))
    assert MessageSetting.query.count() == 0
    db.session.refresh(robot)
    assert robot.events == ["case.updated"]
