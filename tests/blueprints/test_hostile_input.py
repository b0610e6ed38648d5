"""Whatever a client sends (ids too large for any column, any text in any field), no page answers 500."""

import re
import socket
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tests.conftest import HTMX
from tests.notifications import helpers
from webapp.ids import MAX_ID
from webapp.services import sessions as session_service

HUGE = ["99999999999999999999", str(MAX_ID + 1), "9" * 5000]
ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def log_in_directly(client, user):
    """A login without the form (the form's throttle would count the fuzzer's failed logins)."""
    token = session_service.start_session(user)
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:{token}"
        session["_fresh"] = True
    return client


def rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def url_for_rule(rule, values: dict) -> str:
    return ARGUMENT.sub(lambda m: quote(str(values[m.group(2)]), safe=""), rule.rule)


@pytest.mark.parametrize("huge", HUGE)
def test_a_huge_user_id_is_not_found(admin_client, huge):
    assert admin_client.get(f"/system/users/{huge}").status_code == 404
    assert admin_client.post(f"/system/users/{huge}/password").status_code == 404


@pytest.mark.parametrize("huge", HUGE)
def test_removing_a_member_by_a_huge_id_is_not_found(admin_client, project, huge):
    assert admin_client.post(f"/projects/{project.id}/members/{huge}/remove").status_code == 404
    assert admin_client.post(f"/projects/{huge}/members/1/remove").status_code == 404


def test_every_route_with_an_id_answers_404_for_a_huge_one(app, admin_client, project, case):
    checked = 0
    for rule in rules(app):
        if not any(converter == "int" for converter, _ in _arguments(rule)):
            continue
        values = {
            name: HUGE[0] if converter == "int" else "case.created" for converter, name in _arguments(rule)
        }
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = admin_client.open(url_for_rule(rule, values), method=method)
            assert response.status_code == 404, (method, rule.rule, response.status_code)
            checked += 1
    assert checked > 30


def test_a_posted_id_too_large_for_the_database_is_refused_as_a_choice(admin_client, project, outsider):
    response = admin_client.post(f"/projects/{project.id}/members", data={"user_id": HUGE[0]})
    assert response.status_code == 200  # the form again, with its error
    assert len(project.memberships) == 2


def test_a_huge_page_number_shows_the_first_page(admin_client, project, case):
    for path in (f"/projects/{project.id}/cases/", f"/projects/{project.id}/activity", "/system/deliveries"):
        assert admin_client.get(path, query_string={"page": HUGE[0]}).status_code == 200


def _arguments(rule) -> list[tuple[str, str]]:
    return [(converter or "default", name) for converter, name in ARGUMENT.findall(rule.rule)]


# --- the fuzzer --------------------------------------------------------------------------------------------

# Query arguments some page reads; form fields are read from the pages themselves.
QUERY_NAMES = ["page", "q", "priority", "archived", "next", "status", "channel", "event", "since", "until"]
NAMED = re.compile(r'\bname="([^"]+)"')
ODD_VALUES = ["", "0", "-1", "None", "y", "on", "1e9", "١٢", " 1", *HUGE, "2025-02-30", "\x00", "\r\n", "%00"]


@pytest.fixture
def world(app, admin, member, project, case, monkeypatch):
    """Something of each kind to point at, and no network: anything Herald would connect to fails at once."""
    robot = helpers.add_robot(project, "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k3y")

    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    ids = {
        "project_id": [project.id],
        "case_id": [case.id],
        "user_id": [admin.id, member.id],
        "robot_id": [robot.id],
        "delivery_id": [1],
        "event": ["case.created", "case.updated", "case.deleted"],
    }
    client = log_in_directly(app.test_client(), admin)
    names = set()
    for rule in rules(app):
        if "GET" in rule.methods:
            url = url_for_rule(rule, {name: ids[name][0] for _, name in _arguments(rule)})
            names.update(NAMED.findall(client.get(url).get_data(as_text=True)))
    return {"ids": ids, "fields": sorted(names | {"action", "csrf_token"}), "admin": admin}


def _value():
    return st.one_of(st.text(max_size=300), st.sampled_from(ODD_VALUES), st.integers().map(str))


def _path_value(converter: str, known: list):
    if converter == "int":
        edges = [0, MAX_ID, MAX_ID + 1, 10**20]
        return st.one_of(
            st.sampled_from(known), st.sampled_from(edges), st.integers(min_value=0, max_value=2**80)
        )
    return st.one_of(st.sampled_from(known), st.text(min_size=1, max_size=50))


def test_no_input_to_any_route_gives_a_500(app, world):
    """Every route, every method, any values in its path, query and form fields (CSRF is off in tests)."""
    failures = []
    for rule in rules(app):
        try:
            _fuzz(app, world, rule)
        except Exception as error:  # an exception is what a 500 is in testing mode; collect them all
            failures.append(f"{rule.rule}: {type(error).__name__}: {str(error)[:300]}")
    assert not failures, failures


def _fuzz(app, world, rule) -> None:
    """Post (or get) 25 random requests to one route, logged in as an administrator each time."""
    path = st.fixed_dictionaries(
        {name: _path_value(conv, world["ids"][name]) for conv, name in _arguments(rule)}
    )
    form_data = st.lists(st.tuples(st.sampled_from(world["fields"]), _value()), max_size=12).map(MultiDict)
    query = st.dictionaries(st.sampled_from(QUERY_NAMES), _value(), max_size=4)

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.sampled_from(sorted(rule.methods & {"GET", "POST"})), path, query, form_data, st.booleans())
    def fuzz(method, values, args, data, htmx):
        client = log_in_directly(app.test_client(), world["admin"])
        response = client.open(
            url_for_rule(rule, values),
            method=method,
            query_string=args,
            data=data if method == "POST" else None,
            headers=HTMX if htmx else {},
        )
        assert response.status_code < 500, (method, rule.rule, values, args, data)

    fuzz()
