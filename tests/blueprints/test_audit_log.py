"""System settings → Audit log: who logged in and out, and what was done to accounts."""

import re

from sqlalchemy import select

from tests.conftest import PASSWORD, login
from webapp.extensions import db
from webapp.models import AuditEvent

NEW_USER = {
    "name": "Nick New",
    "email": "nick@example.com",
    "password": "a fine password",
    "confirm": "a fine password",
    "role": "member",
}


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def last() -> AuditEvent:
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()


def test_logins_and_logouts_are_recorded(app, member):
    browser = login(app.test_client(), member)
    browser.post("/logout")
    browser = login(app.test_client(), member)
    browser.post("/profile/logout-everywhere")
    assert actions()[-4:] == ["login", "logout", "login", "logout.everywhere"]
    assert last().actor_id == member.id and last().client_address == "127.0.0.1"


def test_account_changes_are_recorded_with_the_administrator_who_made_them(admin_client, admin, member):
    admin_client.post("/system/users/new", data=NEW_USER)
    created = last()
    assert (created.action, created.actor_id, created.target) == (
        "user.created",
        admin.id,
        "nick@example.com",
    )
    admin_client.post(
        f"/system/users/{member.id}",
        data={"name": "Mei Li", "email": member.email, "mobile": "13800138000", "role": "member"},
    )
    # The form without the Active box ticked: disabled, and renamed.
    assert actions()[-2:] == ["user.disabled", "user.changed"]
    assert last().params == {"user_id": member.id, "fields": ["name"]}
    admin_client.post(
        f"/system/users/{member.id}/password",
        data={"pw-password": "another secret", "pw-confirm": "another secret"},
    )
    assert (last().action, last().actor_id, last().target) == ("user.password_reset", admin.id, member.email)
    assert "another secret" not in repr(last().params)


def test_a_users_own_password_change_is_recorded(member_client, member):
    data = {"pw-current": PASSWORD, "pw-password": "a brand new secret", "pw-confirm": "a brand new secret"}
    assert member_client.post("/profile/password", data=data).status_code == 303
    assert actions()[-1] == "password.changed"
    changed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "password.changed")).one()
    assert changed.actor_id == member.id and changed.params == {"user_id": member.id}


def test_the_audit_log_lists_entries_newest_first_in_pages(app, admin_client, admin, member):
    for _ in range(3):
        app.test_client().post("/login", data={"email": "nobody@example.com", "password": "guess"})
    page = admin_client.get("/system/audit").get_data(as_text=True)
    assert "Audit log" in page and "Login failed" in page and "nobody@example.com" in page
    shown = re.findall(r'data-action="([^"]+)"', page)
    assert shown == ["login.failed"] * 3 + ["user.created", "login", "user.created"]
    app.config["AUDIT_PER_PAGE"] = 2
    page = admin_client.get("/system/audit?page=2").get_data(as_text=True)
    assert "Page 2 of" in page


def test_only_administrators_see_the_audit_log(member_client):
    assert member_client.get("/system/audit").status_code == 403


def test_settings_robots_messages_and_members_are_recorded_without_secrets(
    admin_client, admin, project, outsider
):
    """Issue 12: who changed Mail settings, Network, robots, message settings, templates and members."""
    from tests.blueprints.test_mail_settings import _form as mail_form
    from tests.blueprints.test_messages import _settings_form
    from tests.blueprints.test_robots import FEISHU_URL, SECRET, TOKEN
    from tests.blueprints.test_robots import form as robot_form

    before = len(actions())
    admin_client.post("/system/mail", data=mail_form(password="qq-authorization-code"))
    admin_client.post("/system/network", data={"proxy_url": "", "no_proxy": "", "outbound_allow": ""})
    robots = f"/projects/{project.id}/robots"
    assert admin_client.post(f"{robots}/new", data=robot_form()).status_code == 303
    robot_id = last().params["robot_id"]
    admin_client.post(f"{robots}/{robot_id}/disable")
    admin_client.post(f"{robots}/{robot_id}/delete")
    assert admin_client.post(f"/projects/{project.id}/messages", data=_settings_form()).status_code == 303
    template = {"subject": "Changed: {{ case_title }}", "body": "{{ operator }} did it"}
    url = f"/projects/{project.id}/messages/templates/case.updated"
    assert admin_client.post(url, data=template).status_code == 303
    admin_client.post(f"/projects/{project.id}/members", data={"user_id": outsider.id})
    admin_client.post(f"/projects/{project.id}/members/{outsider.id}/remove")

    entries = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[before:]
    assert [e.action for e in entries] == [
        "settings.mail",
        "settings.network",
        "robot.created",
        "robot.disabled",
        "robot.deleted",
        "messages.settings",
        "messages.template",
        "member.added",
        "member.removed",
    ]
    assert {e.actor_id for e in entries} == {admin.id}
    assert "password" in entries[0].params["fields"]
    assert entries[2].params == {"project_id": project.id, "robot_id": robot_id, "kind": "feishu"}
    recorded = repr([(e.target, e.params) for e in entries])
    for secret in ("qq-authorization-code", SECRET, TOKEN, FEISHU_URL):
        assert secret not in recorded
    page = admin_client.get("/system/audit").get_data(as_text=True)
    assert "Mail settings changed" in page and "Robot deleted" in page and "Member removed" in page
