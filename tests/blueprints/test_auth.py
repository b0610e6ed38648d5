"""Logging in and out."""

from tests.conftest import PASSWORD, login


def test_every_page_but_login_needs_a_login(client, project):
    response = client.get(f"/projects/{project.id}/cases/")
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
