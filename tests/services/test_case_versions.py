"""Issue 11, point 4: no edit is silently lost.

Several people save one case at once, each on the version they loaded, on SQLite and on PostgreSQL: a save
made on a version that is no longer the stored one is refused, and its author saves again on the newer one.
Every case.updated then starts from where the one before it ended, and every accepted save is in the history.
"""

import threading
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from tests.conftest import PASSWORD
from tests.notifications import helpers
from webapp.extensions import db
from webapp.models import Case, Delivery, Event, Project, User, case_followers
from webapp.notifications.events import case_snapshot
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.cases import CaseInput

database = helpers.database  # the test's app on SQLite, then on PostgreSQL

WRITERS = ["Ada Admin", "Mei Member", "Wu Writer", "Lu Writer"]

EDIT = st.fixed_dictionaries(
    {},
    optional={
        "title": st.sampled_from(["Pay", "Pay by card", "Pay by wallet"]),
        "module": st.sampled_from(["", "Checkout", "Checkout/Payment"]),
        "priority": st.sampled_from(["P0", "P1", "P2", "P3"]),
        "steps": st.sampled_from(["", "Open the cart", "Open the cart\nPay"]),
        "tags": st.sampled_from([[], ["smoke"], ["smoke", "card"]]),
        "maintainer": st.sampled_from([None, *WRITERS]),
        "followers": st.sampled_from([[], ["Ada Admin"], ["Wu Writer", "Mei Member"]]),
    },
).filter(bool)


def _team() -> dict[str, User]:
    """The four writers, members of the project Checkout; made once per database."""
    people = {u.name: u for u in db.session.scalars(select(User))}
    if len(people) < len(WRITERS):
        project, _admin = helpers.team()
        for number, name in enumerate(WRITERS[2:]):
            user = user_service.create_user(name, f"writer{number}@example.com", PASSWORD)
            project_service.add_member(project, user)
        people = {u.name: u for u in db.session.scalars(select(User))}
    return people


def _as_input(edit: dict[str, Any], people: dict[str, int]) -> dict[str, Any]:
    changes = dict(edit)
    if "maintainer" in changes:
        name = changes.pop("maintainer")
        changes["maintainer_id"] = people[name] if name else None
    if "followers" in changes:
        changes["follower_ids"] = [people[name] for name in changes.pop("followers")]
    return changes


def _writer(
    app, case_id: int, actor_id: int, edits, people, start: threading.Barrier, outcomes: list, tries: int
):
    """One person: loads the case, types their edits, saves; when refused, saves the form they are shown."""
    with app.app_context():
        for number, edit in enumerate(edits):
            case = db.session.get(Case, case_id)
            data = CaseInput.of(case, **_as_input(edit, people))
            if number == 0:
                start.wait(timeout=60)  # everyone has loaded the same version before anyone saves
            for _attempt in range(tries):
                try:
                    changes = case_service.update_case(case, db.session.get(User, actor_id), data)
                except case_service.StaleCase as refused:
                    data = refused.merged  # their values, on the newer version: as the form shows them
                    outcomes.append((actor_id, None))  # refused
                    continue
                outcomes.append((actor_id, changes))
                break
            else:
                raise AssertionError(f"gave up after {tries} refusals")


def _run(app, case_id: int, plan: list[list[dict]], people: dict[str, User]) -> list:
    """The writers at once, each in a thread with its own app context: each save's author and changes."""
    ids = {name: user.id for name, user in people.items()}
    start = threading.Barrier(len(plan))
    outcomes: list = []
    errors: list[BaseException] = []
    tries = sum(len(edits) for edits in plan) + 1  # each refusal means another save got in first

    def run(index: int, edits: list[dict]):
        try:
            _writer(app, case_id, ids[WRITERS[index]], edits, ids, start, outcomes, tries)
        except BaseException as error:  # reported by the test, not lost in the thread
            start.abort()
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, edits)) for i, edits in enumerate(plan)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.lists(EDIT, min_size=1, max_size=3), min_size=2, max_size=len(WRITERS)))
def test_concurrent_saves_make_a_history_where_each_old_value_is_the_previous_new_one(database, plan):
    people = _team()
    project = db.session.scalars(select(Project)).one()
    case = case_service.create_case(project, people["Ada Admin"], CaseInput(title="Pay", tags=["smoke"]))
    case_id = case.id
    try:
        outcomes = _run(database, case_id, plan, people)

        db.session.expire_all()
        history = list(db.session.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.id)))
        created, updates = history[0], history[1:]
        assert created.kind == "case.created" and all(e.kind == "case.updated" for e in updates)
        # Every accepted save with a change is one event, in the order the saves committed, by its author.
        refused = [actor for actor, changes in outcomes if changes is None]
        hypothesis.event("some saves refused" if refused else "no save refused")
        saved = [(actor, changes) for actor, changes in outcomes if changes]
        assert len(saved) == len(updates)
        for actor_id in {actor for actor, _changes in saved}:
            mine = [changes for actor, changes in saved if actor == actor_id]
            assert mine == [e.data["changes"] for e in updates if e.actor_id == actor_id]
        # Each event starts where the one before it ended, and changes nothing it does not record.
        state = dict(created.data["case"])
        for event in updates:
            assert event.data["changes"]
            for name, (old, new) in event.data["changes"].items():
                assert old == state[name], (event.id, name, old, state[name])
                state[name] = new
            after = event.data["case"]
            for name in case_service.COMPARED_FIELDS + ("maintainer", "followers"):
                assert after[name] == state[name], (event.id, name)
            state = dict(after)
        # What is stored is where the history ends; the version counts the saves.
        case = db.session.get(Case, case_id)
        assert case_snapshot(case) == state
        assert case.version == 1 + len(updates)
    finally:
        db.session.rollback()
        db.session.execute(delete(Delivery))
        db.session.execute(delete(Event).where(Event.case_id == case_id))
        db.session.execute(delete(case_followers).where(case_followers.c.case_id == case_id))
        db.session.execute(delete(Case).where(Case.id == case_id))
        db.session.commit()


def test_a_case_deleted_during_an_edit_is_reported_not_saved(app, project, case, admin, member):
    data = CaseInput.of(case, title="Too late")
    with db.engine.begin() as elsewhere:  # another person deletes it meanwhile
        elsewhere.execute(delete(Case).where(Case.id == case.id))
    with pytest.raises(case_service.CaseGone):
        case_service.update_case(case, admin, data)
    assert [e.kind for e in db.session.scalars(select(Event))] == ["case.created"]


def test_a_stale_save_is_refused_and_its_values_merged_with_the_newer_ones(project, case, admin, member):
    mine = CaseInput.of(case, priority="P3", expected="Paid")  # loaded at version 1
    case_service.update_case(case, member, CaseInput.of(case, title="Pay by card or wallet", priority="P0"))
    with pytest.raises(case_service.StaleCase) as refused:
        case_service.update_case(case, admin, mine)
    conflict = refused.value
    assert conflict.merged.version == 2 and conflict.taken == ["title"]
    assert (conflict.merged.title, conflict.merged.priority, conflict.merged.expected) == (
        "Pay by card or wallet",
        "P3",
        "Paid",
    )
    fields = {m.field: (m.theirs, m.yours, m.outcome, m.by) for m in conflict.fields}
    assert fields == {
        "title": ("Pay by card or wallet", "Pay by card", "taken", "Mei Member"),
        "priority": ("P0", "P3", "clash", "Mei Member"),
    }
    assert [(s.by, s.fields) for s in conflict.saves] == [("Mei Member", ["title", "priority"])]
    db.session.expire_all()
    assert (case.priority, case.expected, case.version) == ("P0", "", 2)
    assert case_service.update_case(case, admin, conflict.merged) == {
        "priority": ["P0", "P3"],
        "expected": ["", "Paid"],
    }
