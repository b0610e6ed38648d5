"""Logging in and out, and a user's own profile."""

import html
import re
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def remembered_browser(app, user, password=PASSWORD):
    """A browser logged in with "remember me" whose session cookie is gone, as after a browser restart."""
    browser = app.test_client()
    browser.post("/login", data={"email": user.email, "password": password, "remember": "y"})
    browser.delete_cookie("session")
    return browser


def sent_to_login(browser) -> bool:
    response = browser.get("/projects/")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_changing_the_password_logs_out_every_other_browser_but_this_one(app, member_client, member):
    other = login(app.test_client(), member)
    remembered = remembered_browser(app, member)
    assert other.get("/projects/").status_code == remembered.get("/projects/").status_code == 200

    assert member_client.post("/profile/password", data=NEW_PASSWORD).status_code == 303
    assert member_client.get("/projects/").status_code == 200
    assert sent_to_login(other)
    remembered.delete_cookie("session")
    assert sent_to_login(remembered)
    # Logging in afresh with the new password works as ever.
    login(other, member, "a brand new secret")
    assert other.get("/projects/").status_code == 200


def test_a_remembered_browser_stays_remembered_after_changing_its_own_password(app, member):
    browser = remembered_browser(app, member)
    old_cookie = browser.get_cookie("remember_token").value
    assert browser.post("/profile/password", data=NEW_PASSWORD).status_code == 303
    assert browser.get_cookie("remember_token").value != old_cookie
    browser.delete_cookie("session")
    assert browser.get("/projects/").status_code == 200


def test_a_browser_without_remember_me_gets_no_lasting_cookie_from_a_password_change(member_client):
    assert member_client.post("/profile/password", data=NEW_PASSWORD).status_code == 303
    assert member_client.get_cookie("remember_token") is None
    assert member_client.get("/projects/").status_code == 200


def test_a_failed_password_change_logs_nobody_out(app, member_client, member):
    other = login(app.test_client(), member)
    data = {**NEW_PASSWORD, "pw-current": "not my password"}
    assert member_client.post("/profile/password", data=data).status_code == 200
    assert other.get("/projects/").status_code == member_client.get("/projects/").status_code == 200


@pytest.mark.parametrize("stored_id", ["{id}", "{id}:", "{id}:not-the-token", "x:y", "", "\u00b2:token"])
def test_a_session_with_an_old_or_foreign_id_is_logged_out_cleanly(app, client, member, stored_id):
    with client.session_transaction() as session:
        session["_user_id"] = stored_id.format(id=member.id)
        session["_fresh"] = True
    assert sent_to_login(client)


def test_a_remember_cookie_with_a_bare_id_is_logged_out_cleanly(app, client, member):
    from flask_login.utils import encode_cookie

    with app.test_request_context():
        client.set_cookie("remember_token", encode_cookie(str(member.id)))
    assert sent_to_login(client)


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


# --- where a login leads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/path",  # a browser drops the tab: //evil.example/path
        "/%0a/evil.example",
        "/%0d/evil.example",
        "/%0d%0aSet-Cookie:%20a=b",
        "/%5Cevil.example",  # a browser reads the backslash as a slash
        "/\\evil.example",
        "//evil.example/",
        "///evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "%2F%2Fevil.example",
        "/%00",
        "/%7F",
        "",
    ],
)
def test_next_goes_only_to_a_path_on_this_site(client, member, target):
    response = client.post(f"/login?next={target}", data={"email": member.email, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/projects/"


def test_next_keeps_a_path_on_this_site(client, member, project):
    target = f"/projects/{project.id}/cases/?q=pay&page=2"
    response = client.post(
        "/login", query_string={"next": target}, data={"email": member.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == target


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.one_of(st.text(), st.from_regex(r"\A[/\\\t\n\r ]{1,4}[a-z.:@%0-9]{0,20}\Z")))
def test_any_next_leads_to_a_path_on_this_site_and_never_to_a_500(app, member, target):
    response = app.test_client().post(
        "/login", query_string={"next": target}, data={"email": member.email, "password": PASSWORD}
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    # What a browser would make of it: tabs and newlines dropped, backslashes read as slashes.
    as_browsers_read_it = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    assert location.startswith("/") and not as_browsers_read_it.startswith("//")
    assert not urlsplit(as_browsers_read_it).netloc


# --- logging out ends the session on the server ------------------------------------------------------------


def copy_of(browser, app, *cookies):
    """Another browser holding a copy of this one's cookies, as a thief of them would."""
    thief = app.test_client()
    for name in cookies:
        cookie = browser.get_cookie(name)
        thief.set_cookie(name, cookie.value)
    return thief


def test_a_copied_session_cookie_is_dead_after_log_out(app, member_client):
    thief = copy_of(member_client, app, "session")
    assert thief.get("/projects/").status_code == 200
    assert member_client.post("/logout").status_code == 303
    assert sent_to_login(thief)


def test_a_copied_remember_cookie_is_dead_after_log_out(app, member):
    browser = login(app.test_client(), member)
    browser.post("/logout")
    browser.post("/login", data={"email": member.email, "password": PASSWORD, "remember": "y"})
    thief = copy_of(browser, app, "remember_token")
    assert thief.get("/projects/").status_code == 200
    browser.post("/logout")
    thief.delete_cookie("session")
    assert sent_to_login(thief)


def test_logging_out_keeps_the_users_other_browsers_logged_in(app, member_client, member):
    other = login(app.test_client(), member)
    remembered = remembered_browser(app, member)
    member_client.post("/logout")
    assert other.get("/projects/").status_code == 200
    remembered.delete_cookie("session")
    assert remembered.get("/projects/").status_code == 200


def test_log_out_everywhere_ends_every_session_and_remember_cookie(app, member_client, member, outsider):
    other = login(app.test_client(), member)
    remembered = remembered_browser(app, member)
    someone_else = login(app.test_client(), outsider)
    page = member_client.get("/profile").get_data(as_text=True)
    assert "3 browsers are logged in to your account" in page and "Log out everywhere" in page

    response = member_client.post("/profile/logout-everywhere")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "You are logged out everywhere." in member_client.get("/login").get_data(as_text=True)
    remembered.delete_cookie("session")
    for browser in (member_client, other, remembered):
        assert sent_to_login(browser)
    assert someone_else.get("/projects/").status_code == 200
    login(other, member)  # logging in again works as ever
    assert other.get("/projects/").status_code == 200
