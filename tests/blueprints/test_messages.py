"""Project settings → Message settings, and the e-mail templates."""

from webapp.models import MessageSetting, MessageTemplate
from webapp.notifications.rules import message_setting


def _settings_form(**overrides):
    data = {
        "created-email": "y",
        "created-receivers": ["maintainer", "followers"],
        "updated-receivers": ["members"],
        "deleted-receivers": ["creator"],
    }
    data.update(overrides)
    return data


def test_defaults_before_anything_is_saved(member_client, project):
    page = member_client.get(f"/projects/{project.id}/messages").get_data(as_text=True)
    assert "Message settings" in page
    assert "Only administrators can change message settings." in page
    setting = message_setting(project.id, "case.created")
    assert not setting.email and setting.receivers == ["maintainer", "followers"]


def test_admin_saves_settings_per_event(admin_client, project, member):
    data = _settings_form(**{"deleted-named_user_ids": [member.id]})
    response = admin_client.post(f"/projects/{project.id}/messages", data=data)
    assert response.status_code == 303
    created = message_setting(project.id, "case.created")
    assert created.email and created.receivers == ["maintainer", "followers"]
    updated = message_setting(project.id, "case.updated")
    assert not updated.email and updated.receivers == ["members"]
    assert message_setting(project.id, "case.deleted").named_user_ids == [member.id]


def test_unknown_receiver_or_non_member_is_refused(admin_client, project, outsider):
    bad = _settings_form(**{"created-receivers": ["everyone"], "updated-named_user_ids": [outsider.id]})
    response = admin_client.post(f"/projects/{project.id}/messages", data=bad)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("is not a valid choice") == 2
    assert MessageSetting.query.count() == 0


def test_members_cannot_change_settings(member_client, project):
    assert member_client.post(f"/projects/{project.id}/messages", data=_settings_form()).status_code == 403
    assert MessageSetting.query.count() == 0


def test_outsiders_get_404(outsider_client, project):
    for url in ("/messages", "/messages/templates/case.created"):
        assert outsider_client.get(f"/projects/{project.id}{url}").status_code == 404


def test_template_defaults_and_preview(admin_client, project):
    page = admin_client.get(f"/projects/{project.id}/messages/templates/case.created").get_data(as_text=True)
    assert (
        "功能用例创建通知" in page
    )  # the default language of mail is Chinese until Mail settings say otherwise
    assert "Pay with a saved card" in page  # the preview's sample case


def test_saving_and_resetting_a_template(admin_client, project):
    url = f"/projects/{project.id}/messages/templates/case.updated"
    response = admin_client.post(
        url, data={"subject": "Changed: {{ case_title }}", "body": "{{ operator }} did it"}
    )
    assert response.status_code == 303
    assert MessageTemplate.query.one().subject == "Changed: {{ case_title }}"
    admin_client.post(url, data={"subject": "x", "body": "y", "action": "reset"})
    assert MessageTemplate.query.count() == 0


def test_a_broken_template_is_refused_with_the_reason(admin_client, project):
    url = f"/projects/{project.id}/messages/templates/case.updated"
    response = admin_client.post(url, data={"subject": "{{ case_title", "body": "{{ nope }}"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The template does not render" in body
    assert "nope" in body  # the unknown variable is named
    assert MessageTemplate.query.count() == 0


def test_preview_fragment(member_client, project):
    response = member_client.post(
        f"/projects/{project.id}/messages/templates/case.created/preview",
        data={"subject": "Hi {{ operator }}", "body": "<b>{{ case_title }}</b>\r\nline"},
    )
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "Hi Ada" in body
    assert "&lt;b&gt;Pay with a saved card&lt;/b&gt;" in body


def test_robots_are_switched_on_per_event(admin_client, project):
    from webapp.extensions import db
    from webapp.models import Robot

    wecom = Robot(project_id=project.id, kind="wecom", name="QA group", webhook_url="http://gw/wecom?key=k")
    dingtalk = Robot(project_id=project.id, kind="dingtalk", name="Dev group", webhook_url="http://gw/ding")
    db.session.add_all([wecom, dingtalk])
    db.session.commit()
    page = admin_client.get(f"/projects/{project.id}/messages").get_data(as_text=True)
    assert "QA group" in page and "Dev group" in page
    data = _settings_form(
        **{"updated-robot_ids": [wecom.id, dingtalk.id], "deleted-robot_ids": [dingtalk.id]}
    )
    assert admin_client.post(f"/projects/{project.id}/messages", data=data).status_code == 303
    assert wecom.events == ["case.updated"]
    assert dingtalk.events == ["case.updated", "case.deleted"]
