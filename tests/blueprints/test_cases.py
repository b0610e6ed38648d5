"""Functional cases through the browser's eyes: list, search, paging, create, view, edit, delete."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from tests.conftest import HTMX, login
from webapp.extensions import db
from webapp.models import Case, Delivery, Event, case_followers
from webapp.notifications.events import case_snapshot
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services.cases import CaseInput


def events() -> list[Event]:
    return list(db.session.scalars(select(Event).order_by(Event.id)))


def case_count() -> int:
    return db.session.scalar(select(func.count(Case.id)))


def text(response) -> str:
    return response.get_data(as_text=True)


def rows(response) -> list[str]:
    """The case titles of the list's table, top to bottom."""
    return re.findall(r'<td><a href="/projects/\d+/cases/\d+">([^<]*)</a></td>', text(response))


def field_error(response, field: str) -> str | None:
    """The error shown right after the field, if any."""
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', text(response))
    return found.group(1) if found else None


@pytest.fixture
def url(project):
    return f"/projects/{project.id}/cases"


def form_of(case: Case, **changes) -> dict:
    """What the edit form posts back for the case, with some fields changed."""
    data = {
        "title": case.title,
        "module": case.module,
        "priority": case.priority,
        "precondition": case.precondition,
        "steps": case.steps.replace("\n", "\r\n"),  # as a browser sends a textarea
        "expected": case.expected,
        "tags": ", ".join(case.tag_list),
        "maintainer_id": str(case.maintainer_id or ""),
        "follower_ids": [str(u.id) for u in case.followers],
        "version": str(case.version),  # the hidden field: the version the form was loaded at
    }
    data.update(changes)
    return data


# The list: page and fragment, search, paging


def test_list_is_a_page_and_its_table_a_fragment_of_the_same_url(member_client, url, case):
    page = member_client.get(f"{url}/")
    fragment = member_client.get(f"{url}/", headers=HTMX)
    assert page.status_code == fragment.status_code == 200
    assert "<html" in text(page) and "<html" not in text(fragment)
    assert text(fragment).lstrip().startswith('<div id="cases-table">')
    assert 'id="cases-table"' in text(page)
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in page.headers["Vary"]
    assert rows(page) == rows(fragment) == ["Pay by card"]


def test_search_form_filters_as_you_type_and_works_without_javascript(member_client, url, case):
    page = text(member_client.get(f"{url}/"))
    form = re.search(r'<form class="toolbar"[^>]*>', page).group(0)
    assert f'method="get" action="{url}/"' in form
    assert f'hx-get="{url}/"' in form
    assert 'hx-trigger="input changed delay:300ms, search' in form
    assert 'hx-target="#cases-table"' in form and 'hx-push-url="true"' in form
    assert '<label for="q">' in page and '<label for="priority">' in page


def test_restoring_history_gets_the_whole_page(member_client, url, case):
    restore = member_client.get(f"{url}/?q=card", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in text(restore)


def test_list_shows_the_columns(member_client, url, case):
    page = text(member_client.get(f"{url}/"))
    for heading in ("ID", "Title", "Module", "Priority", "Tags", "Maintainer", "Updated"):
        assert f'<th scope="col">{heading}</th>' in page
    assert f'<a href="{url}/{case.id}">Pay by card</a>' in page
    assert "Checkout/Payment" in page
    assert '<span class="badge P1">P1</span>' in page
    assert '<span class="tag">smoke</span>' in page
    assert "<td>Mei Member</td>" in page


@pytest.fixture
def catalogue(project, member):
    for title, module, priority, tags in (
        ("Pay by card", "Checkout/Payment", "P0", ["smoke"]),
        ("Log in with SSO", "Login/SSO", "P1", ["sso"]),
        ("Log out", "Login", "P2", ["smoke", "session"]),
        ("Refund", "Orders", "P0", ["money"]),
    ):
        case_service.create_case(
            project, member, CaseInput(title=title, module=module, priority=priority, tags=tags)
        )


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("q=card", ["Pay by card"]),  # title
        ("q=login", ["Log out", "Log in with SSO"]),  # module
        ("q=SESSION", ["Log out"]),  # tag
        ("q=smoke+login", ["Log out"]),  # every word must match
        ("priority=P0", ["Refund", "Pay by card"]),
        ("q=smoke&priority=P0", ["Pay by card"]),
        ("priority=P9", ["Refund", "Log out", "Log in with SSO", "Pay by card"]),  # unknown: no filter
        ("q=%25", []),
    ],
)
def test_search_and_priority_filter(member_client, url, catalogue, query, titles):
    assert rows(member_client.get(f"{url}/?{query}", headers=HTMX)) == titles
    assert rows(member_client.get(f"{url}/?{query}")) == titles


def test_no_match_says_so_with_a_way_back(member_client, url, catalogue):
    nothing = text(member_client.get(f"{url}/?q=zebra", headers=HTMX))
    assert "No case matches this search." in nothing
    assert f'<a href="{url}/">Show all cases</a>' in nothing


def test_an_empty_project_invites_the_first_case(member_client, url):
    page = text(member_client.get(f"{url}/"))
    assert "This project has no functional case yet." in page
    assert page.count(f'href="{url}/new"') == 2  # the heading's button and the call to action


@pytest.fixture
def many(app, project, member):
    app.config["CASES_PER_PAGE"] = 5
    for n in range(1, 13):
        case_service.create_case(
            project, member, CaseInput(title=f"Case {n:02}", priority="P2" if n % 2 else "P3")
        )


def test_paging_newest_first(member_client, url, many):
    first = member_client.get(f"{url}/")
    assert rows(first) == ["Case 12", "Case 11", "Case 10", "Case 09", "Case 08"]
    assert "Page 1 of 3" in text(first)
    second = member_client.get(f"{url}/?page=2", headers=HTMX)
    assert rows(second) == ["Case 07", "Case 06", "Case 05", "Case 04", "Case 03"]
    assert "<html" not in text(second)


def test_pager_links_keep_the_search_and_swap_the_table_only(member_client, url, many):
    page = text(member_client.get(f"{url}/?priority=P2"))
    assert "Page 1 of 2" in page
    link = re.search(r'<a href="([^"]*page=2[^"]*)" hx-get="([^"]*)" hx-target="#cases-table"', page)
    assert link and "priority=P2" in link.group(1) and link.group(1) == link.group(2)
    assert rows(member_client.get(link.group(1).replace("&amp;", "&"))) == ["Case 01"]


@pytest.mark.parametrize("page", ["999", "-3", "0", "abc", "99999999999999999999999999"])
def test_a_page_out_of_range_is_not_an_error(member_client, url, many, page):
    response = member_client.get(f"{url}/?page={page}")
    assert response.status_code == 200
    assert len(rows(response)) in (2, 5)  # the last page, or the first


# Creating, viewing, editing, deleting


def test_new_case_form_has_labelled_fields_and_defaults(member_client, url, member, admin):
    page = text(member_client.get(f"{url}/new"))
    for name in ("title", "module", "priority", "precondition", "steps", "expected", "tags"):
        assert f'<label for="{name}">' in page
    assert '<label for="maintainer_id">' in page and '<label for="follower_ids">' in page
    assert '<option selected value="P2">P2</option>' in page
    assert f'<option value="{member.id}">Mei Member</option>' in page
    assert f'<option value="{admin.id}">Ada Admin</option>' in page


def test_create_through_the_form_records_one_event(member_client, url, project, member, admin):
    response = member_client.post(
        f"{url}/new",
        data={
            "title": "Log in with SSO",
            "module": "Login / SSO",
            "priority": "P0",
            "precondition": "An SSO account",
            "steps": "Open the login page\r\nChoose SSO",
            "expected": "Logged in",
            "tags": "sso, smoke",
            "maintainer_id": str(admin.id),
            "follower_ids": [str(member.id), str(admin.id)],
        },
    )
    case = db.session.scalars(select(Case)).one()
    assert response.status_code == 303
    assert response.headers["Location"] == f"{url}/{case.id}"
    assert (case.module, case.steps, case.tag_list) == (
        "Login/SSO",
        "Open the login page\nChoose SSO",
        ["sso", "smoke"],
    )
    [event] = events()
    assert (event.kind, event.actor_id, event.project_id, event.case_id) == (
        "case.created",
        member.id,
        project.id,
        case.id,
    )
    assert event.data["case"] == case_snapshot(case)
    assert event.data["case"]["maintainer"] == "Ada Admin"
    assert event.data["case"]["followers"] == ["Ada Admin", "Mei Member"]
    view = text(member_client.get(response.headers["Location"]))
    assert f"Case #{case.id} is created." in view


def test_view_shows_every_field_and_who_did_what_when(member_client, url, case, admin):
    case_service.update_case(
        case,
        admin,
        CaseInput(title=case.title, module=case.module, priority="P0", steps=case.steps, tags=["smoke"]),
    )
    page = text(member_client.get(f"{url}/{case.id}"))
    assert "<h1>Pay by card</h1>" in page
    for value in ("Checkout/Payment", '<span class="badge P0">P0</span>', '<span class="tag">smoke</span>'):
        assert value in page
    assert "<dd>Open the cart\nPay</dd>" in page
    created = re.search(r"<dt>Created</dt>\s*<dd>([^<]*)</dd>", page).group(1)
    updated = re.search(r"<dt>Updated</dt>\s*<dd>([^<]*)</dd>", page).group(1)
    assert created.endswith(" by Mei Member") and updated.endswith(" by Ada Admin")
    assert str(case.created_at.year) in created


def test_markup_in_a_case_is_shown_as_text(member_client, url, member):
    member_client.post(f"{url}/new", data={"title": "<script>alert(1)</script>", "tags": "<b>x</b>"})
    case = db.session.scalars(select(Case)).one()
    for page in (text(member_client.get(f"{url}/")), text(member_client.get(f"{url}/{case.id}"))):
        assert "<script>alert(1)</script>" not in page and "<b>x</b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_edit_form_shows_the_current_values(member_client, url, case, admin, member):
    page = text(member_client.get(f"{url}/{case.id}/edit"))
    assert 'value="Pay by card"' in page
    assert 'value="smoke"' in page
    assert "Open the cart\nPay</textarea>" in page
    assert f'<option selected value="{member.id}">Mei Member</option>' in page  # maintainer
    assert f'<option selected value="{admin.id}">Ada Admin</option>' in page  # follower


def test_edit_records_old_and_new_of_each_changed_field(member_client, url, project, case, admin, member):
    response = member_client.post(
        f"{url}/{case.id}/edit",
        data=form_of(
            case,
            title="Pay by card or wallet",
            module="Checkout",
            priority="P0",
            precondition="A cart",
            expected="Paid",
            tags="smoke, wallet",
            maintainer_id=str(admin.id),
            follower_ids=[str(member.id)],
        ),
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"{url}/{case.id}"
    created, updated = events()
    assert (updated.kind, updated.actor_id, updated.project_id, updated.case_id) == (
        "case.updated",
        member.id,
        project.id,
        case.id,
    )
    assert updated.data["changes"] == {
        "title": ["Pay by card", "Pay by card or wallet"],
        "module": ["Checkout/Payment", "Checkout"],
        "priority": ["P1", "P0"],
        "precondition": ["", "A cart"],
        "expected": ["", "Paid"],
        "tags": [["smoke"], ["smoke", "wallet"]],
        "maintainer": ["Mei Member", "Ada Admin"],
        "followers": [["Ada Admin"], ["Mei Member"]],
    }
    assert updated.data["case"] == case_snapshot(case)
    assert f"Case #{case.id} is saved." in text(member_client.get(f"{url}/{case.id}"))


def test_clearing_maintainer_and_followers_is_recorded(member_client, url, case):
    member_client.post(f"{url}/{case.id}/edit", data=form_of(case, maintainer_id="", follower_ids=[]))
    assert events()[-1].data["changes"] == {
        "maintainer": ["Mei Member", None],
        "followers": [["Ada Admin"], []],
    }


def test_saving_an_unchanged_case_says_nothing_changed_and_records_nothing(member_client, url, case):
    response = member_client.post(f"{url}/{case.id}/edit", data=form_of(case), follow_redirects=True)
    assert "Nothing changed." in text(response)
    assert [e.kind for e in events()] == ["case.created"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "   "}, "title", "A case needs a title."),
        ({"title": "x" * 201}, "title", "At most 200 characters."),
        ({"priority": "P7"}, "priority", "Choose a priority from P0 to P3."),
        ({"maintainer_id": "outsider"}, "maintainer_id", "Choose a member of this project."),
        ({"maintainer_id": "abc"}, "maintainer_id", "Choose a member of this project."),
        ({"follower_ids": ["outsider"]}, "follower_ids", "Choose a member of this project."),
        ({"follower_ids": ["1", "x"]}, "follower_ids", "Choose members of this project."),
    ],
)
def test_a_failing_save_shows_the_error_by_its_field_and_saves_nothing(
    member_client, url, case, outsider, changes, field, message
):
    def real(value):  # "outsider" stands for the id of a user outside the project
        return str(outsider.id) if value == "outsider" else value

    changes = {k: [real(x) for x in v] if isinstance(v, list) else real(v) for k, v in changes.items()}
    for target, data in (
        (f"{url}/new", {"title": "New", **changes}),
        (f"{url}/{case.id}/edit", form_of(case, **changes)),
    ):
        response = member_client.post(target, data=data)
        assert response.status_code == 200, target
        assert field_error(response, field) == message, target
        assert 'aria-invalid="true"' in text(response)
    db.session.expire_all()
    assert case_count() == 1
    assert case.title == "Pay by card" and case.maintainer is not None
    assert [e.kind for e in events()] == ["case.created"]


def test_a_former_member_may_stay_on_a_case(member_client, url, project, case, admin):
    project_service.remove_member(project, admin)  # admin follows the case
    page = text(member_client.get(f"{url}/{case.id}/edit"))
    assert f'<option selected value="{admin.id}">Ada Admin (no longer a member)</option>' in page
    response = member_client.post(f"{url}/{case.id}/edit", data=form_of(case, priority="P3"))
    assert response.status_code == 303
    assert events()[-1].data["changes"] == {"priority": ["P1", "P3"]}


def test_delete_without_javascript_asks_first(member_client, url, project, case, member):
    view = text(member_client.get(f"{url}/{case.id}"))
    delete_form = re.search(r'<form method="get" action="([^"]*)" class="inline">\s*<button([^>]*)>', view)
    assert delete_form.group(1) == f"{url}/{case.id}/delete"
    assert f'hx-post="{url}/{case.id}/delete"' in delete_form.group(2) and "hx-confirm=" in delete_form.group(
        2
    )
    confirm = member_client.get(f"{url}/{case.id}/delete")
    assert confirm.status_code == 200
    assert '<button type="submit" class="danger">Delete</button>' in text(confirm)
    assert case_count() == 1 and len(events()) == 1
    snapshot, case_id = case_snapshot(case), case.id
    response = member_client.post(f"{url}/{case.id}/delete")
    assert response.status_code == 303 and response.headers["Location"] == f"{url}/"
    assert case_count() == 0
    created, deleted = events()
    assert (deleted.kind, deleted.actor_id, deleted.project_id, deleted.case_id) == (
        "case.deleted",
        member.id,
        project.id,
        case_id,
    )
    assert deleted.data == {"case": snapshot}
    assert "Pay by card" in text(member_client.get(f"{url}/"))  # the flash names what was deleted
    gone = member_client.get(f"{url}/{case_id}")  # the case's address says it was deleted, and by whom
    assert gone.status_code == 410 and "This case was deleted by Mei Member on" in text(gone)


def test_delete_through_htmx_sends_the_browser_to_the_list(member_client, url, case):
    response = member_client.post(f"{url}/{case.id}/delete", headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"{url}/"
    assert case_count() == 0 and [e.kind for e in events()] == ["case.created", "case.deleted"]


# Who may do what


def all_urls(url: str, case_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"{url}/"),
        ("GET", f"{url}/new"),
        ("POST", f"{url}/new"),
        ("GET", f"{url}/{case_id}"),
        ("GET", f"{url}/{case_id}/edit"),
        ("POST", f"{url}/{case_id}/edit"),
        ("GET", f"{url}/{case_id}/delete"),
        ("POST", f"{url}/{case_id}/delete"),
    ]


def test_non_members_get_404_on_every_cases_url(outsider_client, url, case):
    for method, target in all_urls(url, case.id):
        for headers in ({}, HTMX):
            response = outsider_client.open(target, method=method, data={"title": "Mine"}, headers=headers)
            assert response.status_code == 404, (method, target)
    assert case_count() == 1 and len(events()) == 1


def test_anonymous_visitors_are_sent_to_log_in(client, url, case):
    for method, target in all_urls(url, case.id):
        response = client.open(target, method=method, data={"title": "Mine"})
        assert response.status_code == 302, (method, target)
        assert response.headers["Location"].startswith("/login?next=")
    assert case_count() == 1 and len(events()) == 1


def test_unknown_project_or_case_is_404(member_client, url, project, admin, case):
    other = project_service.create_project("Other", creator=admin)
    elsewhere = case_service.create_case(other, admin, CaseInput(title="Elsewhere"))
    for target in (
        f"{url}/{elsewhere.id}",  # another project's case through this project
        f"{url}/{elsewhere.id}/edit",
        f"{url}/999999",
        f"{url}/99999999999999999999999999",
        "/projects/99999999999999999999999999/cases/",
        "/projects/424242/cases/",
    ):
        assert member_client.get(target).status_code == 404, target


def test_archived_projects_show_cases_but_refuse_changes(member_client, url, project, case):
    project_service.set_archived(project, True)
    listing = text(member_client.get(f"{url}/"))
    assert "This project is archived: its cases are read-only." in listing
    assert f'href="{url}/new"' not in listing
    view = text(member_client.get(f"{url}/{case.id}"))
    assert f'href="{url}/{case.id}/edit"' not in view and "/delete" not in view
    for method, target in all_urls(url, case.id)[1:]:
        if target.endswith(f"/{case.id}"):
            continue
        response = member_client.open(target, method=method, data=form_of(case, title="Changed"))
        assert response.status_code == 303, (method, target)
        page = text(member_client.get(response.headers["Location"]))
        assert "Nothing was changed: this project is archived." in page
    htmx = member_client.post(f"{url}/{case.id}/delete", headers=HTMX)
    assert htmx.headers["HX-Redirect"] == f"{url}/{case.id}"
    db.session.expire_all()
    assert case_count() == 1 and case.title == "Pay by card" and len(events()) == 1


# Whatever is typed into the form: a saved case with its event, or a field error and nothing saved

WEIRD_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "\r\n",
            "line one\r\nline two\rthree\n",
            "<script>alert('x')</script>",
            "&amp; &lt;b&gt;",
            "{{ 7 * 7 }} {% raw %}",
            "Ünïcödé 测试用例 🚀 \u202e",
            "\x00\x01\x1f\x7f",
            "a" * 200,
            "a" * 201,
            "界" * 20_000,
            "x" * 100_000,
            "%_\\",
        ]
    ),
)
PEOPLE = st.one_of(
    st.sampled_from(["member", "admin", "outsider", "", "0", "-1", "abc", "１", "9" * 30, "None"]),
    st.integers().map(str),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=WEIRD_TEXT,
    module=WEIRD_TEXT,
    priority=st.one_of(st.sampled_from(["P0", "P1", "P2", "P3"]), st.text(max_size=4)),
    steps=WEIRD_TEXT,
    expected=WEIRD_TEXT,
    tags=WEIRD_TEXT,
    maintainer=PEOPLE,
    followers=st.lists(PEOPLE, max_size=4),
)
def test_any_input_saves_a_case_with_its_event_or_shows_a_field_error(
    app,
    project,
    member,
    admin,
    outsider,
    title,
    module,
    priority,
    steps,
    expected,
    tags,
    maintainer,
    followers,
):
    ids = {"member": str(member.id), "admin": str(admin.id), "outsider": str(outsider.id)}
    client = login(app.test_client(), member)  # a fresh client each example
    data = {
        "title": title,
        "module": module,
        "priority": priority,
        "steps": steps,
        "expected": expected,
        "tags": tags,
        "maintainer_id": ids.get(maintainer, maintainer),
        "follower_ids": [ids.get(f, f) for f in followers],
    }
    try:
        response = client.post(f"/projects/{project.id}/cases/new", data=data)
        assert response.status_code in (200, 303), response.status_code
        saved = list(db.session.scalars(select(Case)))
        if response.status_code == 303:
            [case] = saved
            [event] = events()
            assert event.kind == "case.created" and event.case_id == case.id
            assert event.data["case"] == case_snapshot(case)
            assert 0 < len(case.title) <= 200 and case.priority == priority
            assert text(client.get(response.headers["Location"])).count(f"#{case.id}") >= 1
        else:
            assert saved == [] and events() == []
            assert '<p class="error" id="' in text(response)
    finally:
        db.session.execute(delete(Delivery))
        db.session.execute(delete(case_followers))
        db.session.execute(delete(Event))
        db.session.execute(delete(Case))
        db.session.commit()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=WEIRD_TEXT, steps=WEIRD_TEXT, priority=st.text(max_size=3), maintainer=PEOPLE)
def test_any_edit_records_one_event_nothing_or_an_error(
    app, project, member, admin, outsider, title, steps, priority, maintainer
):
    ids = {"member": str(member.id), "admin": str(admin.id), "outsider": str(outsider.id)}
    case = case_service.create_case(project, member, CaseInput(title="Start", steps="One\nTwo"))
    client = login(app.test_client(), member)
    try:
        data = form_of(
            case, title=title, steps=steps, priority=priority, maintainer_id=ids.get(maintainer, maintainer)
        )
        response = client.post(f"/projects/{project.id}/cases/{case.id}/edit", data=data)
        assert response.status_code in (200, 303), response.status_code
        kinds = [e.kind for e in events()]
        if response.status_code == 303:
            assert kinds in (["case.created"], ["case.created", "case.updated"])
            if len(kinds) == 2:
                assert events()[-1].data["case"] == case_snapshot(case)
                assert events()[-1].data["changes"]
        else:
            assert kinds == ["case.created"]
            assert '<p class="error" id="' in text(response)
            db.session.expire_all()
            assert (case.title, case.steps, case.priority) == ("Start", "One\nTwo", "P2")
    finally:
        db.session.execute(delete(Delivery))
        db.session.execute(delete(case_followers))
        db.session.execute(delete(Event))
        db.session.execute(delete(Case))
        db.session.commit()
