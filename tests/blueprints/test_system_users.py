"""System settings → Users, through the test client: what an administrator sees and what a member may not."""

import html
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import HTMX, PASSWORD, login
from webapp import config, create_app
from webapp.extensions import db
from webapp.models import User
from webapp.services import users as user_service

NEW_USER = {
    "name": "Li Lei",
    "email": "li.lei@acme.cn",
    "mobile": "139 0013 9000",
    "role": "member",
    "password": "a long initial secret",
    "confirm": "a long initial secret",
}


def field_error(response, field_id: str) -> str | None:
    """The message shown next to one field of a form, as a reader sees it."""
    found = re.search(
        rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', response.get_data(as_text=True)
    )
    return html.unescape(found.group(1)) if found else None


def stored(user: User) -> User:
    """The user as the database has it, read afresh (requests run in sessions of their own)."""
    db.session.expire_all()
    return db.session.get(User, user.id)


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def row(response, user: User) -> str:
    """The table row of one user."""
    found = re.search(rf'<tr id="user-{user.id}".*?</tr>', response.get_data(as_text=True), re.S)
    assert found, f"no row for {user.email}"
    return html.unescape(found.group(0))


def system_urls(app, some_id: int) -> list[str]:
    """Every URL of the System settings blueprint, present and future, its parameters filled with an id."""
    rules = [rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("system.")]
    return sorted({re.sub(r"<[^>]+>", str(some_id), rule) for rule in rules})


# --- who may enter -----------------------------------------------------------------------------------------


def test_a_member_gets_403_on_every_system_url(app, member_client, admin):
    urls = system_urls(app, admin.id)
    assert "/system/users" in urls and len(urls) >= 5
    for url in urls:
        assert member_client.get(url).status_code in (403, 405), url
        assert member_client.post(url, data={"name": "x", "role": "admin"}).status_code in (403, 405), url
    assert stored(admin).name == "Ada Admin"


def test_a_member_may_not_make_themself_admin(app, member_client, member):
    response = member_client.post(
        f"/system/users/{member.id}", data={**NEW_USER, "role": "admin", "active": "y"}
    )
    assert response.status_code == 403
    assert stored(member).role == "member"


def test_someone_logged_out_is_sent_to_the_login(client):
    response = client.get("/system/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_top_bar_offers_system_settings_to_admins_only(admin_client, member_client):
    assert "System settings" in admin_client.get("/projects/").get_data(as_text=True)
    assert "System settings" not in member_client.get("/projects/").get_data(as_text=True)


# --- the list ----------------------------------------------------------------------------------------------


def test_the_users_page_lists_everyone_in_the_system_frame(admin_client, admin, member):
    response = admin_client.get("/system/users")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<title>Users · System settings · Herald</title>" in page
    assert 'aria-label="System settings"' in page and 'aria-current="page">Users</a>' in page
    mei = row(response, member)
    for text in ("Mei Member", "mei@example.com", "13800138000", "Member", "Active"):
        assert text in mei
    assert "Administrator" in row(response, admin)


def test_page_and_fragment_share_one_url(admin_client, member):
    page = admin_client.get("/system/users")
    fragment = admin_client.get("/system/users", headers=HTMX)
    assert "<html" in page.get_data(as_text=True)
    body = fragment.get_data(as_text=True).strip()
    assert body.startswith('<div id="users-table">') and "<html" not in body
    assert "mei@example.com" in body
    # The page holds the very fragment htmx swaps, so the markup exists once.
    assert body in page.get_data(as_text=True)
    assert "HX-Request" in page.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]


def test_search_narrows_the_list_on_page_and_fragment(admin_client, admin, member, outsider):
    fragment = admin_client.get("/system/users?q=OTTO", headers=HTMX).get_data(as_text=True)
    assert "otto@example.com" in fragment and "mei@example.com" not in fragment
    page = admin_client.get("/system/users?q=nobody-like-this").get_data(as_text=True)
    assert "No user has “nobody-like-this” in their name or e-mail." in page
    assert 'value="nobody-like-this"' in page


def test_the_email_column_marks_who_cannot_receive_mail(admin_client, member):
    real = user_service.create_user("Li Lei", "li@acme.cn", PASSWORD)
    gone = user_service.create_user("Gone Girl", "gone@acme.cn", PASSWORD)
    user_service.update_user(gone, active=False)
    response = admin_client.get("/system/users")
    assert "No mail" not in row(response, real)
    assert "No mail" in row(response, member) and "example address" in row(response, member)
    assert "No mail" in row(response, gone) and "Disabled" in row(response, gone)


# --- creating ----------------------------------------------------------------------------------------------


def test_the_create_form_has_labelled_fields(admin_client):
    page = admin_client.get("/system/users/new").get_data(as_text=True)
    for field_id in ("name", "email", "mobile", "role", "password", "confirm"):
        assert f'<label for="{field_id}">' in page and f'id="{field_id}"' in page
    assert '<option value="admin">Administrator</option>' in page


def test_an_admin_creates_a_user_who_can_then_log_in(app, admin_client):
    response = admin_client.post("/system/users/new", data=NEW_USER)
    assert response.status_code == 303
    assert response.headers["Location"] == "/system/users"
    assert "User Li Lei is created." in admin_client.get("/system/users").get_data(as_text=True)
    user = user_service.find_by_email("LI.LEI@acme.cn")
    assert (user.name, user.mobile, user.role, user.active) == ("Li Lei", "13900139000", "member", True)
    login(app.test_client(), user, NEW_USER["password"])


def test_an_admin_creates_another_admin(admin_client):
    admin_client.post("/system/users/new", data={**NEW_USER, "role": "admin"})
    assert user_service.find_by_email(NEW_USER["email"]).is_admin


BAD_ACCOUNT_INPUT = [
    ({"name": ""}, "name", "Enter a name."),
    ({"name": "   "}, "name", "Enter a name."),
    ({"email": ""}, "email", "Enter an e-mail address."),
    ({"email": "li.lei-at-acme.cn"}, "email", "Enter a valid e-mail address"),
    ({"email": "li@intranet"}, "email", "Enter a valid e-mail address"),
    ({"email": "MEI@Example.COM"}, "email", "Another user already has this e-mail address."),
    ({"mobile": "call me maybe"}, "mobile", "Enter a phone number"),
    ({"mobile": "123"}, "mobile", "Enter a phone number"),
    ({"role": "owner"}, "role", "Not a valid choice"),
]
BAD_PASSWORD_INPUT = [
    ({"password": "short", "confirm": "short"}, "password", "Use 8 to 128 characters."),
    ({"password": "", "confirm": ""}, "password", "Enter a password."),
    ({"confirm": "a different secret"}, "confirm", "The two passwords differ."),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_ACCOUNT_INPUT + BAD_PASSWORD_INPUT)
def test_bad_input_to_create_is_shown_by_the_field_and_saves_nothing(
    admin_client, member, changes, field, message
):
    before = user_count()
    response = admin_client.post("/system/users/new", data={**NEW_USER, **changes})
    assert response.status_code == 200
    assert message in (field_error(response, field) or "")
    assert user_count() == before
    # What was typed stays, except passwords.
    page = response.get_data(as_text=True)
    assert 'value="Li Lei"' in page or changes.get("name") is not None
    assert NEW_USER["password"] not in page


# --- editing -----------------------------------------------------------------------------------------------


def edit_data(user: User, **changes) -> dict:
    data = {"name": user.name, "email": user.email, "mobile": user.mobile or "", "role": user.role}
    if user.active:
        data["active"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_edit_form_shows_the_user(admin_client, member):
    page = admin_client.get(f"/system/users/{member.id}").get_data(as_text=True)
    assert (
        'value="Mei Member"' in page and 'value="mei@example.com"' in page and 'value="13800138000"' in page
    )
    assert re.search(r'<input checked[^>]* id="active"', page)


def test_an_admin_edits_a_user(admin_client, member):
    data = edit_data(member, name="Mei Li", email="Mei.Li@Acme.cn", mobile="", role="admin")
    response = admin_client.post(f"/system/users/{member.id}", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/system/users"
    member = stored(member)
    assert (member.name, member.email, member.mobile, member.role) == (
        "Mei Li",
        "mei.li@acme.cn",
        None,
        "admin",
    )


def test_an_unknown_user_is_404(admin_client):
    assert admin_client.get("/system/users/9999").status_code == 404
    assert admin_client.post("/system/users/9999/password", data={"password": "x"}).status_code == 404


@pytest.mark.parametrize(("changes", "field", "message"), BAD_ACCOUNT_INPUT)
def test_bad_input_to_edit_is_shown_by_the_field_and_saves_nothing(
    admin_client, admin, member, changes, field, message
):
    outsider = user_service.create_user("Otto Outsider", "otto@example.com", PASSWORD, mobile="13700137000")
    response = admin_client.post(
        f"/system/users/{outsider.id}", data=edit_data(outsider, **{"name": "Otto", **changes})
    )
    assert response.status_code == 200
    assert message in (field_error(response, field) or "")
    outsider = stored(outsider)
    assert (outsider.name, outsider.email, outsider.mobile, outsider.role) == (
        "Otto Outsider",
        "otto@example.com",
        "13700137000",
        "member",
    )


def test_disable_then_enable_a_user(app, admin_client, member):
    admin_client.post(f"/system/users/{member.id}", data=edit_data(member, active=None))
    assert stored(member).active is False
    assert "Disabled" in row(admin_client.get("/system/users"), member)
    refused = app.test_client().post("/login", data={"email": member.email, "password": PASSWORD})
    assert refused.status_code == 200

    member = stored(member)
    admin_client.post(f"/system/users/{member.id}", data=edit_data(member, active="y"))
    assert stored(member).active is True
    login(app.test_client(), member)


def test_a_disabled_users_open_session_stops_working(admin_client, member_client, member, project):
    assert member_client.get(f"/projects/{project.id}/activity").status_code == 200
    admin_client.post(f"/system/users/{member.id}", data=edit_data(member, active=None))
    response = member_client.get(f"/projects/{project.id}/activity")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_disabled_users_remember_cookie_stops_working(app, admin_client, member):
    remembered = app.test_client()
    remembered.post("/login", data={"email": member.email, "password": PASSWORD, "remember": "y"})
    remembered.delete_cookie("session")
    assert remembered.get("/projects/").status_code == 200
    admin_client.post(f"/system/users/{member.id}", data=edit_data(member, active=None))
    remembered.delete_cookie("session")
    assert remembered.get("/projects/").status_code == 302


def test_enabling_again_does_not_bring_back_the_old_sessions(app, admin_client, member, project):
    browser = login(app.test_client(), member)
    remembered = app.test_client()
    remembered.post("/login", data={"email": member.email, "password": PASSWORD, "remember": "y"})
    admin_client.post(f"/system/users/{member.id}", data=edit_data(member, active=None))
    admin_client.post(f"/system/users/{member.id}", data=edit_data(stored(member), active="y"))
    assert stored(member).active is True
    assert browser.get("/projects/").headers["Location"].startswith("/login")
    remembered.delete_cookie("session")
    assert remembered.get("/projects/").headers["Location"].startswith("/login")


# --- the last administrator --------------------------------------------------------------------------------

LAST_ADMIN = "Herald needs an active administrator, and this is the last one"


def test_the_edit_page_warns_the_last_admin(admin_client, admin):
    page = admin_client.get(f"/system/users/{admin.id}").get_data(as_text=True)
    assert "You are the last active administrator" in page


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "member"}, "role"),
        ({"active": None}, "active"),
        ({"role": "member", "active": None}, "role"),
    ],
)
def test_the_last_admin_cannot_demote_or_disable_themself(admin_client, admin, changes, field):
    response = admin_client.post(
        f"/system/users/{admin.id}", data=edit_data(admin, name="Ada Lovelace", **changes)
    )
    assert response.status_code == 200
    assert LAST_ADMIN in (field_error(response, field) or "")
    admin = stored(admin)
    assert (admin.name, admin.role, admin.active) == ("Ada Admin", "admin", True)
    assert admin_client.get("/system/users").status_code == 200


def test_an_admin_may_step_down_when_another_admin_remains(admin_client, admin, member):
    user_service.update_user(member, role="admin")
    page = admin_client.get(f"/system/users/{admin.id}").get_data(as_text=True)
    assert "You are the last active administrator" not in page
    response = admin_client.post(f"/system/users/{admin.id}", data=edit_data(admin, role="member"))
    assert response.status_code == 303 and response.headers["Location"] == "/projects/"
    assert stored(admin).role == "member"
    assert admin_client.get("/system/users").status_code == 403


# --- password reset ----------------------------------------------------------------------------------------


def test_an_admin_resets_a_password(app, admin_client, member):
    new = {"pw-password": "a fresh secret", "pw-confirm": "a fresh secret"}
    response = admin_client.post(f"/system/users/{member.id}/password", data=new)
    assert response.status_code == 303 and response.headers["Location"] == f"/system/users/{member.id}"
    assert "The password of Mei Member is changed." in admin_client.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    login(app.test_client(), member, "a fresh secret")
    assert (
        app.test_client().post("/login", data={"email": member.email, "password": PASSWORD}).status_code
        == 200
    )


def test_a_password_reset_ends_the_users_sessions(app, admin_client, member):
    browser = login(app.test_client(), member)
    remembered = app.test_client()
    remembered.post("/login", data={"email": member.email, "password": PASSWORD, "remember": "y"})
    remembered.delete_cookie("session")
    assert browser.get("/projects/").status_code == remembered.get("/projects/").status_code == 200

    new = {"pw-password": "a fresh secret", "pw-confirm": "a fresh secret"}
    assert admin_client.post(f"/system/users/{member.id}/password", data=new).status_code == 303
    assert browser.get("/projects/").headers["Location"].startswith("/login")
    remembered.delete_cookie("session")
    assert remembered.get("/projects/").headers["Location"].startswith("/login")
    assert admin_client.get("/system/users").status_code == 200


def test_an_admin_resetting_their_own_password_stays_logged_in_here_only(app, admin_client, admin):
    elsewhere = login(app.test_client(), admin)
    new = {"pw-password": "a fresh secret", "pw-confirm": "a fresh secret"}
    response = admin_client.post(f"/system/users/{admin.id}/password", data=new)
    assert response.status_code == 303
    assert "The password of Ada Admin is changed." in admin_client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert elsewhere.get("/system/users").headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"pw-password": "short", "pw-confirm": "short"}, "pw-password", "Use 8 to 128 characters."),
        (
            {"pw-password": "a fresh secret", "pw-confirm": "a stale secret"},
            "pw-confirm",
            "The two passwords differ.",
        ),
        ({"pw-password": "", "pw-confirm": ""}, "pw-password", "Enter a password."),
    ],
)
def test_bad_password_reset_is_shown_by_the_field_and_changes_nothing(
    app, admin_client, member, data, field, message
):
    response = admin_client.post(f"/system/users/{member.id}/password", data=data)
    assert response.status_code == 200
    assert message in (field_error(response, field) or "")
    # The account form beside it still shows the stored values.
    assert 'value="mei@example.com"' in response.get_data(as_text=True)
    login(app.test_client(), member)


# --- CSRF --------------------------------------------------------------------------------------------------


def csrf_token(response) -> str:
    return re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', response.get_data(as_text=True)
    ).group(1)


def test_with_csrf_on_a_post_needs_the_token_and_the_htmx_header_carries_it(app, admin):
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    guarded = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=database, WTF_CSRF_ENABLED=True)
    client = guarded.test_client()
    try:
        token = csrf_token(client.get("/login"))
        refused_login = client.post("/login", data={"email": admin.email, "password": PASSWORD})
        assert refused_login.status_code == 400
        logged_in = client.post(
            "/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token}
        )
        assert logged_in.status_code == 303

        page = client.get("/system/users").get_data(as_text=True)
        header_token = html.unescape(re.search(r"hx-headers='([^']+)'", page).group(1))
        token = re.search(r'"X-CSRFToken": "([^"]+)"', header_token).group(1)

        refused = client.post("/system/users/new", data=NEW_USER)
        assert refused.status_code == 400
        assert user_service.find_by_email(NEW_USER["email"]) is None

        accepted = client.post("/system/users/new", data=NEW_USER, headers={"X-CSRFToken": token})
        assert accepted.status_code == 303
        assert user_service.find_by_email(NEW_USER["email"]) is not None
    finally:
        with guarded.app_context():
            db.engine.dispose()


def test_every_mistake_is_reported_at_once(admin_client, member):
    data = {**NEW_USER, "email": "Mei@Example.com", "mobile": "12ab", "password": "short", "confirm": "other"}
    response = admin_client.post("/system/users/new", data=data)
    assert field_error(response, "email") == "Another user already has this e-mail address."
    assert field_error(response, "mobile").startswith("Enter a phone number")
    assert field_error(response, "password") == "Use 8 to 128 characters."
    assert field_error(response, "confirm") == "The two passwords differ."


def test_the_edit_page_says_why_a_user_gets_no_mail(admin_client, member):
    page = html.unescape(admin_client.get(f"/system/users/{member.id}").get_data(as_text=True))
    assert "An example address: no mail can reach it. Enter the address the user really reads." in page
    real = user_service.create_user("Li Lei", "li@acme.cn", PASSWORD)
    page = admin_client.get(f"/system/users/{real.id}").get_data(as_text=True)
    assert "no mail can reach it" not in page and "Notifications by e-mail go to this address." in page
