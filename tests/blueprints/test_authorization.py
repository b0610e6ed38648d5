"""The authorization matrix: every route, for anonymous, outsider, member and administrator. Nothing leaks."""

import pytest

from tests.conftest import login
from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput

# Project routes that only administrators may use, even as members of the project (GET and POST).
ADMIN_ONLY_PAGES = {"projects.create", "projects.edit", "projects.archive", "projects.remove_member"}
# Routes anyone logged in may use.
PERSONAL = {
    "auth.home",
    "auth.profile",
    "auth.change_password",
    "auth.logout",
    "auth.logout_everywhere",
    "projects.index",
}
# Routes that end the session the test goes on with.
LOGOUTS = ("auth.logout", "auth.logout_everywhere")
PUBLIC = {"auth.login", "static"}


@pytest.fixture
def world(app, project, admin, member, outsider):
    """One of everything a URL can name."""
    case = case_service.create_case(project, member, CaseInput(title="Matrix"))
    robot = Robot(project_id=project.id, kind="wecom", name="QA", webhook_url="http://127.0.0.1:9/x?key=k")
    db.session.add(robot)
    db.session.flush()
    delivery = Delivery(
        project_id=project.id, channel="wecom", target=str(robot.id), subject="s", status="sent"
    )
    db.session.add(delivery)
    db.session.commit()
    return {
        "project_id": project.id,
        "case_id": case.id,
        "user_id": member.id,
        "robot_id": robot.id,
        "delivery_id": delivery.id,
        "event": "case.created",
        "filename": "app.css",
    }


def _routes(app, world):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        missing = set(rule.arguments) - set(world)
        assert not missing, f"teach this test a value for {missing} in {rule.rule}"
        url = rule.build({name: world[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def _call(client, method, url):
    return client.open(url, method=method, data={})


def test_anonymous_is_sent_to_the_login_everywhere(app, world, client):
    for endpoint, method, url in _routes(app, world):
        response = _call(client, method, url)
        if endpoint in PUBLIC:
            assert response.status_code < 400, (endpoint, method)
        else:
            assert response.status_code == 302, (endpoint, method, response.status_code)
            assert response.headers["Location"].startswith("/login"), (endpoint, method)


def test_outsider_learns_nothing_of_the_project(app, world, outsider):
    client = login(app.test_client(), outsider)
    for endpoint, method, url in _routes(app, world):
        if endpoint in LOGOUTS:
            continue
        status = _call(client, method, url).status_code
        if url.startswith("/system"):
            assert status == 403, (endpoint, method, status)
        elif url.startswith(f"/projects/{world['project_id']}"):
            # 404, never 403: no hint that the project exists (403 only for an administrator's page).
            assert status in (404, 403) if endpoint in ADMIN_ONLY_PAGES else status == 404, (
                endpoint,
                method,
                status,
            )
        else:
            assert status < 500, (endpoint, method, status)


def test_member_reads_the_project_but_not_system_settings(app, world, member):
    client = login(app.test_client(), member)
    for endpoint, method, url in _routes(app, world):
        if endpoint in LOGOUTS:
            continue
        status = _call(client, method, url).status_code
        assert status < 500, (endpoint, method, status)
        if url.startswith("/system") or endpoint in ADMIN_ONLY_PAGES:
            assert status == 403, (endpoint, method, status)
        elif method == "GET":
            assert status in (200, 302, 303), (endpoint, method, status)


def test_administrator_reaches_every_page(app, world, admin):
    client = login(app.test_client(), admin)
    for endpoint, method, url in _routes(app, world):
        if endpoint in LOGOUTS or method != "GET":
            continue
        status = _call(client, method, url).status_code
        assert status in (200, 302, 303), (endpoint, method, status)


def test_no_post_is_a_server_error_for_anyone(app, world, admin, member, outsider):
    for user in (admin, member, outsider):
        client = login(app.test_client(), user)
        for endpoint, method, url in _routes(app, world):
            if method == "POST" and endpoint not in LOGOUTS:
                assert _call(client, method, url).status_code < 500, (user.email, endpoint)
