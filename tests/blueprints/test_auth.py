"""Logging in and out, and a user's own profile."""

import html

import pytest

from tests.blueprints.test_system_users import field_error, stored
from tests.conftest import PASSWORD, login
from webapp.services import users as user_service


@pytest.mark.parametrize("path", ["/projects/{id}/cases/", "/profile", "/system/users"])
def test_every_page_but_login_needs_a_login(client, project, path):
    response = client.get(path.format(id=project.id))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_then_logout(client, member):
    login(client, member)
    assert client.get("/projects/").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/projects/").status_code == 302


def test_wrong_password_and_unknown_account_get_the_same_message(client, member):
    wrong = client.post("/login", data={"email": member.email, "password": "nope"})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 200
    message = "Wrong e-mail or password, or the account is disabled."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_disabled_user_cannot_log_in(client, member):
    from webapp.services.users import update_user

    update_user(member, active=False)
    response = client.post("/login", data={"email": member.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Wrong e-mail or password" in response.get_data(as_text=True)


def test_email_is_case_insensitive_at_login(client, member):
    response = client.post("/login", data={"email": "MEI@Example.com", "password": PASSWORD})
    assert response.status_code == 303


def test_login_refuses_to_redirect_elsewhere(client, member):
    response = client.post("/login?next=//evil.example/", data={"email": member.email, "password": PASSWORD})
    assert response.headers["Location"] == "/projects/"


def test_remember_me_sets_a_lasting_cookie(client, member):
    client.post("/login", data={"email": member.email, "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None


# --- the profile -------------------------------------------------------------------------------------------

PROFILE = {"name": "Mei Li", "email": "Mei.Li@Acme.cn", "mobile": "+86 139 0013 9000", "locale": "zh"}


def test_the_profile_shows_the_users_own_values(member_client):
    page = member_client.get("/profile").get_data(as_text=True)
    for expected in ('value="Mei Member"', 'value="mei@example.com"', 'value="13800138000"'):
        assert expected in page
    assert '<option selected value="">Follow the browser</option>' in page
    for field_id in ("name", "email", "mobile", "locale", "pw-current", "pw-password", "pw-confirm"):
        assert f'<label for="{field_id}">' in page


def test_a_user_saves_their_profile(member_client, member):
    response = member_client.post("/profile", data=PROFILE)
    assert response.status_code == 303 and response.headers["Location"] == "/profile"
    member = stored(member)
    assert (member.name, member.email, member.mobile, member.locale) == (
        "Mei Li",
        "mei.li@acme.cn",
        "+8613900139000",
        "zh",
    )
    # The chosen language wins over the browser's.
    page = member_client.get("/profile", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert '<option selected value="zh">' in page


def test_follow_the_browser_clears_the_language(member_client, member):
    user_service.update_user(member, locale="zh")
    member_client.post("/profile", data={**PROFILE, "locale": ""})
    assert stored(member).locale is None
    page = member_client.get("/profile", headers={"Accept-Language": "en-GB,en"}).get_data(as_text=True)
    assert '<html lang="en">' in page


def test_a_user_may_keep_their_address_or_change_its_case(member_client, member):
    response = member_client.post("/profile", data={**PROFILE, "email": "MEI@example.com"})
    assert response.status_code == 303
    assert stored(member).email == "mei@example.com"


def test_the_profile_cannot_change_role_or_status(member_client, member):
    member_client.post("/profile", data={**PROFILE, "role": "admin", "active": ""})
    member = stored(member)
    assert member.role == "member" and member.active


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "Enter a name."),
        ({"email": ""}, "email", "Enter an e-mail address."),
        ({"email": "mei at example"}, "email", "Enter a valid e-mail address"),
        ({"email": "ADA@example.com"}, "email", "Another user already has this e-mail address."),
        ({"mobile": "phone me"}, "mobile", "Enter a phone number"),
        ({"locale": "fr"}, "locale", "Not a valid choice"),
    ],
)
def test_bad_profile_input_is_shown_by_the_field_and_saves_nothing(
    member_client, admin, member, changes, field, message
):
    response = member_client.post("/profile", data={**PROFILE, **changes})
    assert response.status_code == 200
    assert message in (field_error(response, field) or "")
    member = stored(member)
    assert (member.name, member.email, member.mobile, member.locale) == (
        "Mei Member",
        "mei@example.com",
        "13800138000",
        None,
    )
    # The top bar still shows the stored name, not the refused one.
    assert '<a href="/profile">Mei Member</a>' in response.get_data(as_text=True)


NEW_PASSWORD = {
    "pw-current": PASSWORD,
    "pw-password": "a brand new secret",
    "pw-confirm": "a brand new secret",
}


def test_a_user_changes_their_password(app, member_client, member):
    response = member_client.post("/profile/password", data=NEW_PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/profile"
    assert "Your password is changed." in member_client.get("/profile").get_data(as_text=True)
    login(app.test_client(), member, "a brand new secret")
    assert (
        app.test_client().post("/login", data={"email": member.email, "password": PASSWORD}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"pw-current": "not my password"}, "pw-current", "This is not your current password."),
        ({"pw-current": ""}, "pw-current", "Enter your current password."),
        ({"pw-password": "short", "pw-confirm": "short"}, "pw-password", "Use 8 to 128 characters."),
        ({"pw-confirm": "another new secret"}, "pw-confirm", "The two passwords differ."),
    ],
)
def test_bad_password_change_is_shown_by_the_field_and_changes_nothing(
    app, member_client, member, changes, field, message
):
    response = member_client.post("/profile/password", data={**NEW_PASSWORD, **changes})
    assert response.status_code == 200
    assert message in (field_error(response, field) or "")
    page = response.get_data(as_text=True)
    assert 'value="Mei Member"' in page  # the profile form beside it is intact
    assert PASSWORD not in page and "a brand new secret" not in page
    login(app.test_client(), member)


def test_the_profile_warns_about_an_address_no_mail_reaches(member_client):
    page = html.unescape(member_client.get("/profile").get_data(as_text=True))
    assert "An example address: no mail can reach it. Enter the address you really read." in page
    member_client.post("/profile", data={**PROFILE, "locale": "en"})
    page = member_client.get("/profile").get_data(as_text=True)
    assert "no mail can reach it" not in page and "Notifications by e-mail go to this address." in page
    assert "Your role: member." in page


def test_profile_can_turn_off_mail_about_own_changes(client, member):
    login(client, member)
    assert '<input checked id="mail_own_changes"' in client.get("/profile").get_data(as_text=True)
    data = {"name": member.name, "email": member.email, "mobile": member.mobile or "", "locale": ""}
    assert client.post("/profile", data=data).status_code == 303
    assert member.mail_own_changes is False
