"""A template renders within a budget (loop steps, output size, time): none can stall a worker."""

import time

import pytest

from webapp.extensions import db
from webapp.models import Delivery, MessageTemplate, Robot
from webapp.notifications import rendering

NESTED_LOOPS = "{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}{% endfor %}"
FIVE_MEGABYTES = '{{ "x" * 5000000 }}'  # 20 bytes of template
GROWING = (  # doubles forty times: a terabyte
    '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}'
    "{{ ns.s }}"
)
COSTLY = [
    NESTED_LOOPS,
    FIVE_MEGABYTES,
    GROWING,
    '{{ "x"|center(1000000000) }}',
    '{{ "%99999999d" % 1 }}',
    '{{ "{:>99999999}".format(1) }}',
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
]


def _preview(client, project, body):
    started = time.monotonic()
    response = client.post(
        f"/projects/{project.id}/messages/templates/case.created/preview",
        data={"subject": "Case {{ case_title }}", "body": body},
    )
    return response, time.monotonic() - started


@pytest.mark.parametrize("body", COSTLY)
def test_a_costly_template_is_refused_at_once(app, body):
    started = time.monotonic()
    error = rendering.check_template(body)
    assert time.monotonic() - started < 0.5
    assert error and "too costly" in error


def test_the_built_in_templates_are_well_within_the_budget(app):
    rows = [(c, e) for c in ("email", "robot") for e in ("case.created", "case.updated", "case.deleted")]
    assert rows
    for channel, event in rows:
        for language in ("en", "zh"):
            subject, body = rendering.default_template(language, channel, event)
            assert rendering.check_template(subject) is None and rendering.check_template(body) is None


def test_a_member_previewing_nested_loops_gets_an_error_next_to_the_field_at_once(member_client, project):
    response, seconds = _preview(member_client, project, NESTED_LOOPS)
    assert response.status_code == 200 and seconds < 1
    page = response.get_data(as_text=True)
    assert "too costly" in page and "10,000" in page


def test_a_five_megabyte_template_is_refused_in_the_members_language(member_client, project, member):
    member.locale = "zh"
    db.session.commit()
    response, seconds = _preview(member_client, project, FIVE_MEGABYTES)
    page = response.get_data(as_text=True)
    assert seconds < 1 and len(page) < 100_000
    assert "模板开销过大" in page


def test_saving_a_costly_template_is_refused(admin_client, project):
    response = admin_client.post(
        f"/projects/{project.id}/messages/templates/case.created",
        data={"subject": "Case", "body": NESTED_LOOPS},
    )
    assert response.status_code == 200 and "too costly" in response.get_data(as_text=True)
    assert MessageTemplate.query.count() == 0


def test_at_delivery_a_costly_template_fails_for_good_with_cause_and_fix(
    member_client, project, wecom_emulator
):
    # A template stored before the budget existed (or written to the database directly).
    db.session.add(
        MessageTemplate(
            project_id=project.id, event="case.created", channel="robot", subject="x", body=GROWING
        )
    )
    robot = Robot(
        project_id=project.id,
        kind="wecom",
        name="QA",
        webhook_url=wecom_emulator.url,
        events=["case.created"],
    )
    db.session.add(robot)
    db.session.commit()
    started = time.monotonic()
    response = member_client.post(
        f"/projects/{project.id}/cases/new", data={"title": "Pay", "priority": "P1"}
    )
    assert response.status_code == 303 and time.monotonic() - started < 1  # the case is saved all the same
    [delivery] = Delivery.query.all()
    assert (delivery.status, delivery.code) == ("failed", "template_budget")
    assert "too costly" in delivery.cause and "Message settings" in delivery.fix
    assert wecom_emulator.messages == []
    page = member_client.get(f"/projects/{project.id}/deliveries/{delivery.id}").get_data(as_text=True)
    assert "too costly" in page
