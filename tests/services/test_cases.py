"""The rules for changing cases, the one event each change records, and searching."""

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import Case, Event, case_followers
from webapp.notifications.events import case_snapshot
from webapp.services import ServiceError
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.cases import CaseInput


def events() -> list[Event]:
    return list(db.session.scalars(select(Event).order_by(Event.id)))


def case_count() -> int:
    return db.session.scalar(select(func.count(Case.id)))


def test_create_records_one_created_event_with_a_snapshot(project, member, case):
    [event] = events()
    assert (event.kind, event.project_id, event.actor_id, event.case_id) == (
        "case.created",
        project.id,
        member.id,
        case.id,
    )
    assert event.data == {"case": case_snapshot(case)}
    assert event.data["case"]["followers"] == ["Ada Admin"]
    assert case.created_by == case.updated_by == member
    assert case.created_at == case.updated_at


def test_create_tidies_the_input(project, member):
    case = case_service.create_case(
        project,
        member,
        CaseInput(
            title="  Log in\r\n with   SSO ",
            module=" Login / SSO/ ",
            steps="one\r\ntwo\rthree\x00\n",
            tags=[" smoke", "sso", "smoke", "a,b", ""],
        ),
    )
    assert case.title == "Log in with SSO"
    assert case.module == "Login/SSO"
    assert case.steps == "one\ntwo\nthree"
    assert case.tag_list == ["smoke", "sso", "a", "b"]
    assert case.priority == "P2"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": " \r\n\t"}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"module": "m" * 201}, "module"),
        ({"priority": "P4"}, "priority"),
        ({"priority": ""}, "priority"),
        ({"steps": "s" * 20_001}, "steps"),
        ({"tags": [f"tag{i}" for i in range(100)]}, "tags"),
        ({"maintainer_id": 10**30}, "maintainer_id"),
        ({"maintainer_id": -1}, "maintainer_id"),
        ({"follower_ids": [999]}, "follower_ids"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_saves_nothing(project, member, changes, field):
    data = CaseInput(title="A title")
    for name, value in changes.items():
        setattr(data, name, value)
    with pytest.raises(ServiceError) as error:
        case_service.create_case(project, member, data)
    assert error.value.field == field
    assert case_count() == 0
    assert events() == []


def test_maintainer_and_followers_must_be_members(app, project, member, outsider):
    for data, field in (
        (CaseInput(title="T", maintainer_id=outsider.id), "maintainer_id"),
        (CaseInput(title="T", follower_ids=[member.id, outsider.id]), "follower_ids"),
    ):
        with pytest.raises(ServiceError) as error:
            case_service.create_case(project, member, data)
        assert error.value.field == field
        with app.test_request_context():  # the message is translated lazily, for the reader's language
            assert str(error.value.message) == "Choose a member of this project."
    assert case_count() == 0
    assert events() == []


def test_update_records_old_and_new_of_each_changed_field(project, admin, member, case):
    changes = case_service.update_case(
        case,
        admin,
        CaseInput.of(
            case,
            title="Pay by card or wallet",
            priority="P0",
            expected="Paid",
            tags=["smoke", "wallet"],
            maintainer_id=admin.id,
            follower_ids=[admin.id, member.id],
        ),
    )
    expected = {
        "title": ["Pay by card", "Pay by card or wallet"],
        "priority": ["P1", "P0"],
        "expected": ["", "Paid"],
        "tags": [["smoke"], ["smoke", "wallet"]],
        "maintainer": ["Mei Member", "Ada Admin"],
        "followers": [["Ada Admin"], ["Ada Admin", "Mei Member"]],
    }
    assert changes == expected
    created, updated = events()
    assert (updated.kind, updated.actor_id, updated.case_id, updated.project_id) == (
        "case.updated",
        admin.id,
        case.id,
        project.id,
    )
    assert updated.data["changes"] == expected
    assert updated.data["case"] == case_snapshot(case)
    assert case.updated_by == admin
    assert case.updated_at >= created.created_at


def test_removing_the_maintainer_and_followers_is_a_change(member, case):
    changes = case_service.update_case(case, member, CaseInput.of(case, maintainer_id=None, follower_ids=[]))
    assert changes == {"maintainer": ["Mei Member", None], "followers": [["Ada Admin"], []]}


def test_saving_without_a_change_records_nothing(admin, member, case):
    before = case.updated_at
    same = CaseInput.of(
        case, steps="Open the cart\r\nPay", module="Checkout / Payment", tags=["smoke", "smoke"]
    )
    assert case_service.update_case(case, admin, same) == {}
    assert [e.kind for e in events()] == ["case.created"]
    assert case.updated_by == member
    assert case.updated_at == before


def test_follower_order_is_not_a_change(project, admin, member, case):
    case_service.update_case(case, member, CaseInput.of(case, follower_ids=[member.id, admin.id]))
    db.session.expire_all()
    # Loaded back sorted by name (Ada, Mei); given the other way round, they are still the same people.
    assert (
        case_service.update_case(case, member, CaseInput.of(case, follower_ids=[member.id, admin.id])) == {}
    )


def test_maintainer_is_compared_by_person_not_by_name(project, member, case):
    twin = user_service.create_user("Mei Member", "mei2@example.com", PASSWORD)
    project_service.add_member(project, twin)
    changes = case_service.update_case(case, member, CaseInput.of(case, maintainer_id=twin.id))
    assert changes == {"maintainer": ["Mei Member", "Mei Member"]}
    assert events()[-1].data["case"]["maintainer_id"] == twin.id


def test_a_failing_update_changes_nothing(project, member, outsider, case):
    with pytest.raises(ServiceError):
        case_service.update_case(
            case, member, CaseInput.of(case, title="New title", maintainer_id=outsider.id)
        )
    db.session.expire_all()
    assert case.title == "Pay by card"
    assert case.maintainer == member
    assert [e.kind for e in events()] == ["case.created"]


def test_someone_who_left_the_project_may_stay_but_not_be_added(project, admin, member, outsider, case):
    project_service.remove_member(project, admin)  # admin follows the case
    assert case_service.update_case(case, member, CaseInput.of(case, priority="P3")) == {
        "priority": ["P1", "P3"]
    }
    assert [u.id for u in case.followers] == [admin.id]
    with pytest.raises(ServiceError):
        case_service.update_case(case, member, CaseInput.of(case, maintainer_id=admin.id))


def test_delete_records_a_snapshot_and_removes_the_case(project, admin, case):
    snapshot = case_snapshot(case)
    case_id = case.id
    case_service.delete_case(case, admin)
    deleted = events()[-1]
    assert (deleted.kind, deleted.actor_id, deleted.case_id, deleted.project_id) == (
        "case.deleted",
        admin.id,
        case_id,
        project.id,
    )
    assert deleted.data == {"case": snapshot}
    assert case_count() == 0
    assert db.session.scalar(select(func.count()).select_from(case_followers)) == 0


def test_archived_projects_are_read_only(app, project, member, case):
    project_service.set_archived(project, True)
    for change in (
        lambda: case_service.create_case(project, member, CaseInput(title="New")),
        lambda: case_service.update_case(case, member, CaseInput.of(case, title="Changed")),
        lambda: case_service.delete_case(case, member),
    ):
        with pytest.raises(ServiceError) as error:
            change()
        with app.test_request_context():
            assert "archived" in str(error.value.message)
    db.session.expire_all()
    assert case.title == "Pay by card"
    assert case_count() == 1
    assert len(events()) == 1


def test_get_case_only_finds_the_projects_own_cases(project, admin, case):
    other = project_service.create_project("Other", creator=admin)
    assert case_service.get_case(project, case.id) == case
    assert case_service.get_case(other, case.id) is None
    assert case_service.get_case(project, 10**30) is None


def _titles(pagination) -> list[str]:
    return [c.title for c in pagination.items]


def test_search_matches_every_word_in_title_module_or_tags(project, member):
    for title, module, tags in (
        ("Pay by card", "Checkout/Payment", ["smoke"]),
        ("Log in", "Login/SSO", ["sso"]),
        ("Log out", "Login", ["smoke"]),
    ):
        case_service.create_case(project, member, CaseInput(title=title, module=module, tags=tags))
    assert _titles(case_service.search_cases(project, "card")) == ["Pay by card"]
    assert _titles(case_service.search_cases(project, "sso")) == ["Log in"]
    assert _titles(case_service.search_cases(project, "SMOKE")) == ["Log out", "Pay by card"]
    assert _titles(case_service.search_cases(project, "smoke login")) == ["Log out"]
    assert _titles(case_service.search_cases(project, "nothing")) == []


def test_search_takes_wildcards_literally(project, member):
    case_service.create_case(project, member, CaseInput(title="100% off"))
    case_service.create_case(project, member, CaseInput(title="1000 off"))
    case_service.create_case(project, member, CaseInput(title="a_b"))
    case_service.create_case(project, member, CaseInput(title="axb"))
    assert _titles(case_service.search_cases(project, "100%")) == ["100% off"]
    assert _titles(case_service.search_cases(project, "a_b")) == ["a_b"]


def test_priority_filter_and_other_projects(project, admin, member):
    other = project_service.create_project("Other", creator=admin)
    case_service.create_case(project, member, CaseInput(title="Urgent", priority="P0"))
    case_service.create_case(project, member, CaseInput(title="Later", priority="P3"))
    case_service.create_case(other, admin, CaseInput(title="Elsewhere", priority="P0"))
    assert _titles(case_service.search_cases(project, priority="P0")) == ["Urgent"]
    assert _titles(case_service.search_cases(project)) == ["Later", "Urgent"]


def test_pages_are_newest_first_and_a_page_past_the_end_shows_the_last(project, member):
    for n in range(1, 8):
        case_service.create_case(project, member, CaseInput(title=f"Case {n}"))
    page2 = case_service.search_cases(project, page=2, per_page=3)
    assert _titles(page2) == ["Case 4", "Case 3", "Case 2"]
    assert (page2.total, page2.pages) == (7, 3)
    last = case_service.search_cases(project, page=10**12, per_page=3)
    assert (last.page, _titles(last)) == (3, ["Case 1"])
    assert _titles(case_service.search_cases(project, page=-5, per_page=3)) == ["Case 7", "Case 6", "Case 5"]
