"""Password guessing is slowed down per account name and per client address, in every worker process alike,
and recorded in the audit log."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from webapp import config, create_app
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.models._types import utcnow
from webapp.services import throttle

THROTTLED = "Too many failed logins. Try again in"
WRONG = "Wrong e-mail or password, or the account is disabled."


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, which the test moves forward."""
    now = [utcnow()]
    monkeypatch.setattr(throttle, "utcnow", lambda: now[0])

    class Clock:
        def advance(self, **delta):
            now[0] += timedelta(**delta)

    return Clock()


def try_login(client, email, password="wrong password", address="192.0.2.10"):
    return client.post(
        "/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def test_thirty_wrong_passwords_then_the_right_one_is_refused_with_429(client, member, clock):
    statuses = [try_login(client, member.email).status_code for _ in range(30)]
    assert statuses[:4] == [200] * 4 and set(statuses[4:]) == {429}
    response = try_login(client, member.email, PASSWORD)
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert f"{THROTTLED} 30 seconds." in page and WRONG not in page
    assert response.headers["Retry-After"] == "30"
    assert client.get("/projects/").status_code == 302  # not logged in


def test_the_wait_doubles_after_each_further_failure_and_then_the_right_password_works(client, member, clock):
    for _ in range(5):
        try_login(client, member.email)
    clock.advance(seconds=31)
    assert try_login(client, member.email).headers["Retry-After"] == "60"
    clock.advance(seconds=61)
    assert try_login(client, member.email).headers["Retry-After"] == "120"
    clock.advance(minutes=2, seconds=1)
    assert try_login(client, member.email, PASSWORD).status_code == 303
    # A right password clears the account's count: a slip afterwards is not held against it.
    other = client.application.test_client()
    assert try_login(other, member.email).status_code == 200


def test_the_longest_wait_is_fifteen_minutes(client, member, clock):
    for _ in range(12):
        try_login(client, member.email)
        clock.advance(minutes=16)
    response = try_login(client, member.email)
    assert response.headers["Retry-After"] == str(15 * 60)
    assert f"{THROTTLED} 15 minutes." in response.get_data(as_text=True)


def test_an_unknown_account_gets_exactly_the_same_answers(app, member, clock):
    def answers(email):
        client = app.test_client()
        responses = [try_login(client, email, address="198.51.100.7") for _ in range(8)]
        db.session.execute(db.delete(throttle.LoginThrottle))  # the address starts afresh for the other run
        db.session.commit()
        return [(r.status_code, r.headers.get("Retry-After"), _message(r)) for r in responses]

    assert answers(member.email) == answers("nobody@example.com")


def _message(response) -> str:
    page = response.get_data(as_text=True)
    return THROTTLED if THROTTLED in page else WRONG if WRONG in page else "?"


def test_one_address_guessing_many_accounts_is_throttled_but_not_others(app, member, admin, clock):
    client = app.test_client()
    for n in range(20):
        assert try_login(client, f"guess{n}@example.com").status_code == (429 if n == 19 else 200)
    assert try_login(client, member.email, PASSWORD).status_code == 429
    # The same account from another address is not held up by this one.
    elsewhere = app.test_client()
    assert try_login(elsewhere, member.email, PASSWORD, address="203.0.113.5").status_code == 303


def test_the_count_is_shared_by_every_worker_process(app, member, clock):
    # A second app on the same database stands for another gunicorn worker: it has its own memory.
    other_worker = create_app(
        config.TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"]
    )
    first, second = app.test_client(), other_worker.test_client()
    for client in (first, second, first, second):
        assert try_login(client, member.email).status_code == 200
    with other_worker.app_context():
        assert try_login(other_worker.test_client(), member.email).status_code == 429
        assert try_login(other_worker.test_client(), member.email, PASSWORD).status_code == 429
        db.session.remove()
        db.engine.dispose()
    assert try_login(first, member.email, PASSWORD).status_code == 429


def test_failed_and_refused_logins_are_in_the_audit_log_without_the_password(client, member, clock):
    for _ in range(6):
        try_login(client, member.email, "s3cret-guess")
    try_login(client, member.email, PASSWORD)
    logins = select(AuditEvent).where(AuditEvent.action.startswith("login")).order_by(AuditEvent.id)
    entries = db.session.scalars(logins).all()
    assert [e.action for e in entries] == ["login.failed"] * 5 + ["login.throttled"] * 2
    assert {e.client_address for e in entries} == {"192.0.2.10"}
    assert {e.target for e in entries} == {member.email} and {e.actor_id for e in entries} == {None}
    assert entries[4].params == {"retry_after": 30} and entries[-1].params["retry_after"] <= 30
    assert "s3cret-guess" not in repr([(e.target, e.params) for e in entries])
    assert PASSWORD not in repr([(e.target, e.params) for e in entries])


def test_the_throttle_message_is_translated(client, member, clock):
    for _ in range(5):
        try_login(client, member.email)
    response = client.post(
        "/login",
        data={"email": member.email, "password": PASSWORD},
        headers={"Accept-Language": "zh-CN"},
        environ_base={"REMOTE_ADDR": "192.0.2.10"},
    )
    assert response.status_code == 429
    assert "登录失败次数过多" in response.get_data(as_text=True)


def test_behind_a_proxy_the_forwarded_client_address_is_counted(app, member, clock):
    behind = create_app(
        config.TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], PROXY_COUNT=1
    )
    with behind.app_context():
        client = behind.test_client()
        for n in range(20):
            client.post(
                "/login",
                data={"email": f"guess{n}@example.com", "password": "x"},
                headers={"X-Forwarded-For": "198.51.100.20"},
            )
        refused = client.post(
            "/login",
            data={"email": member.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.20"},
        )
        other = client.post(
            "/login",
            data={"email": member.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.21"},
        )
        db.session.remove()
        db.engine.dispose()
    assert refused.status_code == 429 and other.status_code == 303
    entry = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.throttled")).first()
    assert entry.client_address == "198.51.100.20"
