"""Project settings → Delivery log and the system-wide log: list, filters, paging, detail, Resend, polling."""

import re
from datetime import timedelta

import pytest
from markupsafe import escape

from tests import smtp_server as servers
from tests.conftest import HTMX, login
from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.models._types import utcnow
from webapp.notifications.delivery import deliver, send_test_message
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services.cases import CaseInput


def text(response) -> str:
    return response.get_data(as_text=True)


def subjects(response) -> list[str]:
    """The subjects in the log's table, top to bottom."""
    return re.findall(r'<td><a href="/[^"]*deliveries/\d+">([^<]*)</a></td>', text(response))


def statuses(response) -> list[str]:
    return re.findall(r'<span class="badge[^"]*" data-status="(\w+)"', text(response))


def field_error(response, field: str) -> str | None:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', text(response))
    return found.group(1) if found else None


def robot(project, kind, url, **fields) -> Robot:
    fields.setdefault("events", ["case.created", "case.updated", "case.deleted"])
    row = Robot(project_id=project.id, kind=kind, name=f"{kind} group", webhook_url=url, **fields)
    db.session.add(row)
    db.session.commit()
    return row


def new_case(project, actor, title):
    return case_service.create_case(project, actor, CaseInput(title=title, priority="P2"))


def pending(project, target: Robot, subject="Waiting") -> Delivery:
    """An outbox row not yet tried, as a test message looks before the worker takes it."""
    row = Delivery(
        project_id=project.id,
        channel=target.kind,
        target=str(target.id),
        recipient=target.name,
        subject=subject,
        body_text="Hello",
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def log_url(project):
    return f"/projects/{project.id}/deliveries"


@pytest.fixture
def keyword_failure(project, admin, dingtalk_emulator):
    """A DingTalk message refused for a missing keyword: failed for good, with a cause and a fix."""
    dingtalk_emulator.robot.keywords = ["Herald通知"]
    robot(project, "dingtalk", dingtalk_emulator.url, keywords=["wrong"], events=["case.created"])
    new_case(project, admin, "Refund to the card")
    delivery = Delivery.query.one()
    assert delivery.status == "failed"
    return delivery


# --- the list ---------------------------------------------------------------------------------------------


def test_the_log_lists_every_message_newest_first(member_client, project, admin, log_url, wecom_emulator):
    robot(project, "wecom", wecom_emulator.url)
    case = new_case(project, admin, "Pay by card")
    case_service.update_case(case, admin, CaseInput(title="Pay by card", priority="P0"))
    response = member_client.get(log_url)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = text(response)
    assert "<h1>Delivery log</h1>" in page
    assert re.search(r'aria-current="page">Delivery log</a>', page)  # the sidebar shows where we are
    created, updated = Delivery.query.order_by(Delivery.id).all()
    assert subjects(response) == [updated.subject, created.subject]  # the newest first
    assert statuses(response) == ["sent", "sent"]
    assert "WeCom" in page and "wecom group" in page
    assert "Case updated" in page and "Pay by card" in page


def test_the_fragment_is_the_table_alone(member_client, project, admin, log_url, wecom_emulator):
    robot(project, "wecom", wecom_emulator.url)
    new_case(project, admin, "Pay by card")
    response = member_client.get(log_url, headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    fragment = text(response)
    assert fragment.lstrip().startswith('<div id="deliveries-table">')
    assert "<html" not in fragment and "<aside" not in fragment
    assert len(subjects(response)) == 1


def test_the_filter_form_updates_the_table_and_the_address(member_client, log_url, project):
    page = text(member_client.get(log_url))
    form = re.search(r"<form[^>]*role=\"search\"[^>]*>", page).group(0)
    assert 'method="get"' in form and f'action="{log_url}"' in form
    assert 'hx-target="#deliveries-table"' in form and 'hx-push-url="true"' in form
    for name in ("status", "channel", "event", "since", "until"):
        assert f'<label for="{name}">' in page


def test_filters_by_status_channel_event_and_test_messages(
    member_client, project, admin, log_url, keyword_failure, wecom_emulator
):
    wecom = robot(project, "wecom", wecom_emulator.url, events=["case.updated"])
    case = db.session.get(Delivery, keyword_failure.id).event.case_id
    case_service.update_case(
        case_service.get_case(project, case), admin, CaseInput(title="Refund to the card", priority="P0")
    )
    send_test_message(wecom, "Herald test message", "Hello from Herald")
    everything = member_client.get(log_url)
    assert sorted(statuses(everything)) == ["failed", "sent", "sent"]

    failed = member_client.get(log_url, query_string={"status": "failed"})
    assert statuses(failed) == ["failed"] and "DingTalk" in text(failed)
    by_channel = member_client.get(log_url, query_string={"channel": "wecom"})
    assert statuses(by_channel) == ["sent", "sent"]
    updates = member_client.get(log_url, query_string={"event": "case.updated"})
    assert len(subjects(updates)) == 1 and "Case updated" in text(updates)
    tests = member_client.get(log_url, query_string={"event": "test"})
    assert subjects(tests) == ["Herald test message"]
    both = member_client.get(log_url, query_string={"channel": "wecom", "status": "failed"}, headers=HTMX)
    assert subjects(both) == [] and "No message matches these filters." in text(both)


def test_filters_by_day(member_client, project, admin, log_url, wecom_emulator):
    robot(project, "wecom", wecom_emulator.url)
    new_case(project, admin, "Today's case")
    old = Delivery.query.one()
    new_case(project, admin, "Last week's case")
    Delivery.query.filter(Delivery.id != old.id).one().created_at = utcnow() - timedelta(days=7)
    db.session.commit()
    today = utcnow().date()
    since_today = member_client.get(log_url, query_string={"since": today.isoformat()})
    assert len(subjects(since_today)) == 1 and "Today" in subjects(since_today)[0]
    until_yesterday = member_client.get(
        log_url, query_string={"until": (today - timedelta(days=1)).isoformat()}
    )
    assert len(subjects(until_yesterday)) == 1 and "Last week" in subjects(until_yesterday)[0]
    one_day = {"since": today.isoformat(), "until": today.isoformat()}
    assert len(subjects(member_client.get(log_url, query_string=one_day))) == 1


def test_bad_filters_are_explained_and_ignored(member_client, project, admin, log_url, wecom_emulator):
    robot(project, "wecom", wecom_emulator.url)
    new_case(project, admin, "Pay by card")
    response = member_client.get(
        log_url, query_string={"status": "lost", "channel": "pigeon", "since": "yesterday"}
    )
    assert response.status_code == 200
    assert field_error(response, "status") == "Choose a status from the list."
    assert field_error(response, "channel") == "Choose a channel from the list."
    assert field_error(response, "since") == "Enter a date like 2025-03-31."
    assert len(subjects(response)) == 1  # a wrong filter filters nothing
    backwards = {"since": "2025-03-31", "until": "2025-03-01"}
    assert field_error(member_client.get(log_url, query_string=backwards), "until") == (
        "The end date is before the start date."
    )
    fragment = member_client.get(log_url, query_string=backwards, headers=HTMX)
    assert "The end date is before the start date." in text(fragment) and 'role="alert"' in text(fragment)
    far = member_client.get(log_url, query_string={"since": "0001-01-01", "until": "9999-12-31", "page": "x"})
    assert far.status_code == 200 and len(subjects(far)) == 1


def test_paging_keeps_the_filters(app, member_client, project, admin, log_url, wecom_emulator):
    app.config["DELIVERIES_PER_PAGE"] = 2
    robot(project, "wecom", wecom_emulator.url)
    for number in range(1, 6):
        new_case(project, admin, f"Case {number}")
    first = member_client.get(log_url, query_string={"channel": "wecom"})
    assert [s[-6:] for s in subjects(first)] == ["Case 5", "Case 4"]
    assert "Page 1 of 3" in text(first)
    assert f"{log_url}?channel=wecom&amp;page=2" in text(first)
    last = member_client.get(log_url, query_string={"channel": "wecom", "page": 3}, headers=HTMX)
    assert [s[-6:] for s in subjects(last)] == ["Case 1"]
    assert 'hx-target="#deliveries-table"' in text(last) and 'hx-push-url="true"' in text(last)


def test_an_empty_log_says_where_messages_come_from(member_client, log_url):
    page = text(member_client.get(log_url))
    assert "No message yet." in page and "Message settings" in page


# --- the detail -------------------------------------------------------------------------------------------


def test_detail_shows_the_message_and_every_attempt(admin_client, project, keyword_failure, log_url):
    response = admin_client.get(f"{log_url}/{keyword_failure.id}")
    assert response.status_code == 200
    page = text(response)
    assert f"Message #{keyword_failure.id}" in page
    assert keyword_failure.subject in page and "Refund to the card" in page
    assert "dingtalk group" in page and "Case created" in page
    assert 'data-status="failed"' in page
    assert "code 310000" in page and "Attempt 1" in page
    assert escape(keyword_failure.cause) in page and escape(keyword_failure.fix) in page
    assert "wrong" in keyword_failure.cause + keyword_failure.fix  # the keyword Herald was given
    # The raw reply (to an administrator: it came from a host that is not DingTalk's) and the request are one
    # click away.
    assert re.search(r"<details><summary>Reply</summary><pre[^>]*>[^<]*310000", page)
    assert re.search(r"<details><summary>Request \(secrets masked\)</summary><pre[^>]*>POST http://127", page)
    assert f'href="/projects/{project.id}/cases/{keyword_failure.event.case_id}"' in page


def test_the_html_body_is_shown_in_a_sandbox_and_as_escaped_source(member_client, project, log_url):
    row = Delivery(
        project_id=project.id,
        channel="email",
        target="mei@example.com",
        recipient="Mei Member <mei@example.com>",
        subject="Case created: Pay",
        body_text="Plain words",
        body_html='<p>Hello</p><script>alert("x")</script>',
        status="sent",
        attempts=1,
    )
    db.session.add(row)
    db.session.commit()
    page = text(member_client.get(f"{log_url}/{row.id}"))
    assert '<script>alert("x")</script>' not in page
    iframe = re.search(r"<iframe[^>]*>", page).group(0)
    assert " sandbox " in iframe
    assert 'srcdoc="&lt;p&gt;Hello&lt;/p&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in iframe
    assert "<summary>HTML source</summary>" in page and "Plain words" in page
    assert "No attempt yet." in page  # the row says one attempt, but none was recorded


def test_secrets_never_reach_the_pages(admin_client, project, admin, dingtalk_emulator, feishu_emulator):
    secret = "SEC" + "5b1f0c3e9a7d" * 4
    dingtalk_emulator.robot.secret = secret
    dingtalk_emulator.robot.keywords = ["Herald通知"]
    robot(project, "dingtalk", dingtalk_emulator.url, secret=secret, keywords=["wrong"])
    feishu_secret = "feishu-signing-secret-7d1c"
    feishu_emulator.robot.secret = feishu_secret
    robot(project, "feishu", feishu_emulator.url, secret=feishu_secret)
    new_case(project, admin, "Pay by card")
    assert sorted(d.status for d in Delivery.query.all()) == ["failed", "sent"]
    tokens = [dingtalk_emulator.robot.token, feishu_emulator.robot.token]
    pages = [
        admin_client.get(f"/projects/{project.id}/deliveries"),
        admin_client.get("/system/deliveries"),
    ]
    for delivery in Delivery.query.all():
        pages.append(admin_client.get(f"/projects/{project.id}/deliveries/{delivery.id}"))
        pages.append(admin_client.get(f"/system/deliveries/{delivery.id}"))
        for attempt in delivery.attempt_log:
            assert attempt.request  # there is a request to show, masked
    for response in pages:
        assert response.status_code == 200
        for value in [secret, feishu_secret, *tokens]:
            assert value not in text(response)
    detail = text(pages[2])
    assert "access_token=" in detail or "/hook/" in detail  # the address is shown, its token masked


def test_a_test_mail_without_project_is_in_the_system_log(admin_client, plain_server):
    form = {
        "host": servers.HOST,
        "port": plain_server.port,
        "security": "none",
        "sender_address": "herald@example.com",
        "sender_name": "Herald",
        "timeout": "3",
        "verify_tls": "y",
        "language": "en",
        "test_to": "ada@example.com",
        "action": "send",
    }
    admin_client.post("/system/mail", data=form)
    delivery = Delivery.query.one()
    assert delivery.project_id is None and delivery.event_id is None
    response = admin_client.get("/system/deliveries")
    assert subjects(response) == [delivery.subject]
    assert "Test message" in text(response) and '<th scope="col">Project</th>' in text(response)
    detail = admin_client.get(f"/system/deliveries/{delivery.id}")
    assert detail.status_code == 200 and "ada@example.com" in text(detail)


# --- Resend -----------------------------------------------------------------------------------------------


def test_resend_after_the_fix_sends_it_again(admin_client, project, keyword_failure, dingtalk_emulator):
    dingtalk_emulator.robot.keywords = []  # the group's administrator removed the keyword
    url = f"/projects/{project.id}/deliveries/{keyword_failure.id}"
    assert 'action="' + url + '/resend"' in text(admin_client.get(url))
    response = admin_client.post(f"{url}/resend")
    assert response.status_code == 303 and response.headers["Location"] == url
    page = text(admin_client.get(url))
    assert "Sent again: the message was accepted." in page
    delivery = db.session.get(Delivery, keyword_failure.id)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(dingtalk_emulator.robot.messages) == 1
    assert "Attempt 2" in page and 'data-status="sent"' in page


def test_resend_that_fails_again_says_why(admin_client, project, keyword_failure, dingtalk_emulator):
    response = admin_client.post(f"/system/deliveries/{keyword_failure.id}/resend", follow_redirects=True)
    assert "Sent again, and it failed:" in text(response)
    assert db.session.get(Delivery, keyword_failure.id).attempts == 2


def test_members_see_no_resend_and_may_not_resend(member_client, project, keyword_failure, dingtalk_emulator):
    url = f"/projects/{project.id}/deliveries/{keyword_failure.id}"
    assert "Resend" not in text(member_client.get(url))
    dingtalk_emulator.robot.keywords = []
    assert member_client.post(f"{url}/resend").status_code == 403
    assert db.session.get(Delivery, keyword_failure.id).attempts == 1
    assert dingtalk_emulator.robot.messages == []


def test_a_message_in_flight_is_not_resent(admin_client, project, wecom_emulator):
    row = pending(project, robot(project, "wecom", wecom_emulator.url))
    url = f"/projects/{project.id}/deliveries/{row.id}"
    assert "Resend" not in text(admin_client.get(url))
    response = admin_client.post(f"{url}/resend", follow_redirects=True)
    assert "still being delivered" in text(response)
    assert wecom_emulator.messages == [] and db.session.get(Delivery, row.id).attempts == 0


# --- polling ----------------------------------------------------------------------------------------------


def test_open_messages_poll_until_settled(member_client, project, wecom_emulator):
    row = pending(project, robot(project, "wecom", wecom_emulator.url))
    base = f"/projects/{project.id}/deliveries"
    row_fragment = text(member_client.get(f"{base}/{row.id}/row", headers=HTMX))
    assert row_fragment.lstrip().startswith(f'<tr id="delivery-{row.id}"')
    assert f'hx-get="{base}/{row.id}/row" hx-trigger="every 2s"' in row_fragment
    status = text(member_client.get(f"{base}/{row.id}", headers=HTMX))
    assert '<section id="delivery-status"' in status and 'hx-trigger="every 2s"' in status
    assert "<html" not in status
    assert 'hx-trigger="every 2s"' in text(member_client.get(base))  # the row in the list, too

    deliver([row.id])
    settled_row = text(member_client.get(f"{base}/{row.id}/row", headers=HTMX))
    assert 'data-status="sent"' in settled_row and "hx-trigger" not in settled_row
    settled = text(member_client.get(f"{base}/{row.id}", headers=HTMX))
    assert 'data-status="sent"' in settled and "hx-trigger" not in settled and "Attempt 1" in settled


def test_a_retry_far_ahead_polls_slowly_and_says_when(member_client, project, admin, wecom_emulator):
    wecom_emulator.take_down()
    robot(project, "wecom", wecom_emulator.url)
    new_case(project, admin, "Pay by card")
    delivery = Delivery.query.one()
    assert delivery.status == "retrying"
    base = f"/projects/{project.id}/deliveries"
    fragment = text(member_client.get(f"{base}/{delivery.id}/row", headers=HTMX))
    assert 'hx-trigger="every 2s"' in fragment and "next try" in fragment  # due within half a minute
    delivery.next_attempt_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    assert 'hx-trigger="every 15s"' in text(member_client.get(f"{base}/{delivery.id}/row", headers=HTMX))


def test_the_row_address_opened_by_a_browser_leads_to_the_message(member_client, project, wecom_emulator):
    row = pending(project, robot(project, "wecom", wecom_emulator.url))
    response = member_client.get(f"/projects/{project.id}/deliveries/{row.id}/row")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/projects/{project.id}/deliveries/{row.id}"


# --- who may see what -------------------------------------------------------------------------------------


def test_outsiders_get_404_and_visitors_the_login(app, client, outsider_client, project, wecom_emulator):
    row = pending(project, robot(project, "wecom", wecom_emulator.url))
    base = f"/projects/{project.id}/deliveries"
    assert outsider_client.post(f"{base}/{row.id}/resend").status_code == 404  # not even "forbidden"
    for url in (base, f"{base}/{row.id}", f"{base}/{row.id}/row"):
        assert outsider_client.get(url).status_code == 404
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/system/deliveries").status_code == 302


def test_a_message_of_another_project_is_not_found_here(admin_client, project, admin, wecom_emulator):
    other = project_service.create_project("Payments", creator=admin)
    row = pending(other, robot(other, "wecom", wecom_emulator.url))
    assert admin_client.get(f"/projects/{project.id}/deliveries/{row.id}").status_code == 404
    assert admin_client.post(f"/projects/{project.id}/deliveries/{row.id}/resend").status_code == 404
    assert admin_client.get(f"/projects/{other.id}/deliveries/{row.id}").status_code == 200
    assert admin_client.get(f"/projects/{project.id}/deliveries/{2**70}").status_code == 404


def test_the_system_log_is_for_administrators(
    app, member_client, admin_client, project, admin, wecom_emulator
):
    other = project_service.create_project("Payments", creator=admin)
    robot(project, "wecom", wecom_emulator.url)
    robot(other, "wecom", wecom_emulator.url)
    new_case(project, admin, "In checkout")
    new_case(other, admin, "In payments")
    assert member_client.get("/system/deliveries").status_code == 403
    row = Delivery.query.first()
    assert member_client.get(f"/system/deliveries/{row.id}").status_code == 403
    assert len(subjects(member_client.get(f"/projects/{project.id}/deliveries"))) == 1
    everything = admin_client.get("/system/deliveries")
    assert len(subjects(everything)) == 2
    assert "<td>Checkout</td>" in text(everything) and "<td>Payments</td>" in text(everything)
    assert 'href="/system/deliveries"' in text(everything)  # the System settings sidebar


def test_a_member_who_left_sees_nothing(app, project, member, wecom_emulator):
    row = pending(project, robot(project, "wecom", wecom_emulator.url))
    client = login(app.test_client(), member)
    assert client.get(f"/projects/{project.id}/deliveries/{row.id}").status_code == 200
    project_service.remove_member(project, member)
    assert client.get(f"/projects/{project.id}/deliveries/{row.id}").status_code == 404


def test_a_message_merged_into_a_digest_points_at_it(admin_client, project, log_url, wecom_emulator):
    target = robot(project, "wecom", wecom_emulator.url)
    digest = pending(project, target, subject="And 1 more change in Checkout")
    digest.status = "sent"
    merged = pending(project, target, subject="Folded")
    merged.status, merged.merged_into_id = "merged", digest.id
    db.session.commit()
    page = text(admin_client.get(log_url))
    assert "Merged" in page and f"in digest #{digest.id}" in page
    row = admin_client.get(f"{log_url}/{merged.id}/row", headers=HTMX)
    assert "hx-trigger" not in row.get_data(as_text=True)  # settled: no polling
    refused = admin_client.post(f"{log_url}/{merged.id}/resend", follow_redirects=True)
    assert f"It went out in digest #{digest.id}" in text(refused)
    assert wecom_emulator.messages == []
