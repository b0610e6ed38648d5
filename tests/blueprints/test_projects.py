"""Projects, members and the activity page."""

from tests.conftest import HTMX
from webapp.models import Project
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services.cases import CaseInput


def test_admin_creates_a_project_and_becomes_its_member(admin_client, admin):
    response = admin_client.post("/projects/new", data={"name": "Payments", "description": "Cards"})
    assert response.status_code == 303
    project = Project.query.filter_by(name="Payments").one()
    assert response.headers["Location"] == f"/projects/{project.id}/cases/"
    assert [u.email for u in project.members] == [admin.email]


def test_project_name_is_required_and_unique(admin_client, project):
    blank = admin_client.post("/projects/new", data={"name": "  "})
    assert "This field is required." in blank.get_data(as_text=True)
    taken = admin_client.post("/projects/new", data={"name": "CHECKOUT"})
    assert "A project with this name already exists." in taken.get_data(as_text=True)
    assert Project.query.count() == 1


def test_members_cannot_create_projects(member_client):
    assert member_client.get("/projects/new").status_code == 403
    assert member_client.post("/projects/new", data={"name": "Mine"}).status_code == 403
    assert Project.query.count() == 1


def test_rename_and_archive(admin_client, project):
    response = admin_client.post(f"/projects/{project.id}/settings", data={"name": "Checkout v2"})
    assert response.status_code == 303
    assert project.name == "Checkout v2"
    admin_client.post(f"/projects/{project.id}/archive")
    assert project.archived
    assert "Checkout v2" not in admin_client.get("/projects/").get_data(as_text=True)
    assert "Checkout v2" in admin_client.get("/projects/?archived=1").get_data(as_text=True)
    admin_client.post(f"/projects/{project.id}/archive")
    assert not project.archived


def test_members_see_only_their_projects(member_client, outsider_client, project):
    project_service.create_project("Secret")
    page = member_client.get("/projects/").get_data(as_text=True)
    assert "Checkout" in page and "Secret" not in page
    assert "Checkout" not in outsider_client.get("/projects/").get_data(as_text=True)


def test_non_member_gets_404_for_project_pages(outsider_client, project):
    for url in (f"/projects/{project.id}/members", f"/projects/{project.id}/activity"):
        assert outsider_client.get(url).status_code == 404, url


def test_add_and_remove_member(admin_client, project, outsider):
    response = admin_client.post(f"/projects/{project.id}/members", data={"user_id": outsider.id})
    assert response.status_code == 303
    assert project_service.is_member(project, outsider)
    admin_client.post(f"/projects/{project.id}/members/{outsider.id}/remove")
    assert not project_service.is_member(project, outsider)


def test_adding_an_unknown_user_is_a_field_error(admin_client, project, outsider):
    response = admin_client.post(f"/projects/{project.id}/members", data={"user_id": 9999})
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)


def test_members_see_members_but_cannot_change_them(member_client, project, outsider):
    page = member_client.get(f"/projects/{project.id}/members")
    assert page.status_code == 200 and "Add a member" not in page.get_data(as_text=True)
    assert (
        member_client.post(f"/projects/{project.id}/members", data={"user_id": outsider.id}).status_code
        == 403
    )
    assert member_client.post(f"/projects/{project.id}/members/{outsider.id}/remove").status_code == 403
    assert not project_service.is_member(project, outsider)


def test_activity_lists_events_newest_first(member_client, project, member):
    case = case_service.create_case(project, member, CaseInput(title="Pay by card", priority="P1"))
    case_service.update_case(case, member, CaseInput(title="Pay by card", priority="P0"))
    case_service.delete_case(case, member)
    page = member_client.get(f"/projects/{project.id}/activity").get_data(as_text=True)
    deleted, updated, created = (
        page.index(f"Mei Member {verb} case #{case.id}") for verb in ("deleted", "updated", "created")
    )
    assert deleted < updated < created
    assert "<del>P1</del>" in page and "<ins>P0</ins>" in page


def test_activity_fragment_for_htmx(member_client, project):
    page = member_client.get(f"/projects/{project.id}/activity")
    fragment = member_client.get(f"/projects/{project.id}/activity", headers=HTMX)
    assert "<html" in page.get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<div id="events">')
    assert "HX-Request" in fragment.headers["Vary"]


def test_activity_links_only_to_cases_that_still_exist(member_client, project, member):
    kept = case_service.create_case(project, member, CaseInput(title="Kept"))
    gone = case_service.create_case(project, member, CaseInput(title="Gone"))
    case_service.update_case(gone, member, CaseInput(title="Gone", follower_ids=[member.id]))
    case_service.delete_case(gone, member)
    page = member_client.get(f"/projects/{project.id}/activity").get_data(as_text=True)
    assert f'href="/projects/{project.id}/cases/{kept.id}"' in page
    assert f"/cases/{gone.id}" not in page
    assert "<del>∅</del> → <ins>Mei Member</ins>" in page  # followers: none before
