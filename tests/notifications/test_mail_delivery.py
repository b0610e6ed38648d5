"""SEED.md 1.5–1.6: mail on case events, from the message settings to the SMTP server's inbox."""

from tests import smtp_server as servers
from webapp.extensions import db
from webapp.models import Delivery
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput
from webapp.services.messages import save_message_setting
from webapp.services.settings import save_mail_settings
from webapp.services.users import create_user, update_user


def _mail_through(server, certificate, language="zh"):
    save_mail_settings(
        {
            "host": servers.HOST,
            "port": server.port,
            "security": server.mode,
            "username": server.account[0],
            "sender_address": server.account[0],
            "sender_name": "Herald",
            "timeout": 3,
            "ca_bundle": certificate.pem,
            "language": language,
        },
        new_password=server.account[1],
    )


def test_case_created_mails_the_receivers_in_one_session(
    app, project, admin, member, ssl_server, certificate
):
    from webapp.services.projects import add_member

    follower = create_user("Fei Follower", "fei@example.com", "password123")
    add_member(project, follower)
    _mail_through(ssl_server, certificate)
    save_message_setting(project.id, "case.created", True, ["maintainer", "followers"], [])
    case_service.create_case(
        project,
        admin,
        CaseInput(
            title="Login <b>works</b>\r\nBcc: x@evil.example",
            maintainer_id=member.id,
            follower_ids=[follower.id],
        ),
    )
    received = ssl_server.received
    assert sorted(r.rcpt_tos[0] for r in received) == ["fei@example.com", "mei@example.com"]
    assert len({r.peer for r in received}) == 1  # one SMTP session served both
    message = received[0].message
    assert message["Subject"] == "[Herald] 功能用例创建通知: Login <b>works</b> Bcc: x@evil.example"
    assert message["Bcc"] is None
    assert received[0].mail_from == servers.ACCOUNT[0]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Ada Admin" in text and "/projects/" in text
    assert "&lt;b&gt;works&lt;/b&gt;" in html and "<b>works</b>" not in html
    assert [d.status for d in Delivery.query.all()] == ["sent", "sent"]


def test_english_templates_and_the_changed_fields(app, project, admin, member, starttls_server, certificate):
    _mail_through(starttls_server, certificate, language="en")
    save_message_setting(project.id, "case.updated", True, ["maintainer"], [])
    case = case_service.create_case(
        project, admin, CaseInput(title="Refund", priority="P2", maintainer_id=member.id)
    )
    case_service.update_case(case, admin, CaseInput(title="Refund", priority="P0", maintainer_id=member.id))
    [mail] = starttls_server.received
    assert mail.message["Subject"] == "[Herald] Case updated: Refund"
    assert "- Priority: P2 → P0" in mail.message.get_body(("plain",)).get_content()


def test_the_actor_is_mailed_unless_they_opted_out(app, project, member, ssl_server, certificate):
    _mail_through(ssl_server, certificate)
    save_message_setting(project.id, "case.created", True, ["creator"], [])
    case_service.create_case(project, member, CaseInput(title="One"))
    assert [r.rcpt_tos for r in ssl_server.received] == [["mei@example.com"]]
    update_user(member, mail_own_changes=False)
    case_service.create_case(project, member, CaseInput(title="Two"))
    assert len(ssl_server.received) == 1


def test_a_disabled_event_sends_nothing(app, project, admin, member, ssl_server, certificate):
    _mail_through(ssl_server, certificate)
    save_message_setting(project.id, "case.created", False, ["members"], [])
    case_service.create_case(project, admin, CaseInput(title="Quiet"))
    assert ssl_server.received == [] and Delivery.query.count() == 0
    save_message_setting(project.id, "case.created", True, ["members"], [])  # on: each member is told
    case_service.create_case(project, admin, CaseInput(title="Heard"))
    assert len(ssl_server.received) == Delivery.query.count() == 2


def test_named_members_and_all_members(app, project, admin, member, outsider, ssl_server, certificate):
    _mail_through(ssl_server, certificate)
    save_message_setting(project.id, "case.deleted", True, ["members"], [outsider.id])
    case = case_service.create_case(project, admin, CaseInput(title="Gone"))
    case_service.delete_case(case, admin)
    # The outsider is not a member: named or not, they get nothing about the project.
    assert sorted(r.rcpt_tos[0] for r in ssl_server.received) == ["ada@example.com", "mei@example.com"]


def test_disabled_users_get_no_mail(app, project, admin, member, ssl_server, certificate):
    _mail_through(ssl_server, certificate)
    save_message_setting(project.id, "case.created", True, ["members"], [])
    update_user(member, active=False)
    case_service.create_case(project, admin, CaseInput(title="x"))
    assert [r.rcpt_tos for r in ssl_server.received] == [["ada@example.com"]]


def test_server_down_means_retrying_then_delivered_by_the_sweeper(app, project, admin, member, certificate):
    from tests.smtp_server import smtp_server

    with smtp_server("ssl", certificate) as server:
        port = server.port
        _mail_through(server, certificate)
    save_message_setting(project.id, "case.created", True, ["members"], [])
    case_service.create_case(project, admin, CaseInput(title="Later"))
    assert {d.status for d in Delivery.query.all()} == {"retrying"}
    with smtp_server("ssl", certificate, port=port) as server:
        for delivery in Delivery.query.all():
            delivery.next_attempt_at = None  # the retry is due now
        db.session.commit()
        app.extensions["herald.dispatcher"].sweep()
        assert sorted(r.rcpt_tos[0] for r in server.received) == ["ada@example.com", "mei@example.com"]
    assert {d.status for d in Delivery.query.all()} == {"sent"}
