"""Accounts: the rules the users service keeps, whoever calls it."""

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import User
from webapp.models._types import utcnow
from webapp.services import ServiceError
from webapp.services import sessions as session_service
from webapp.services import users as user_service


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def text(message) -> str:
    """A lazily translated message as a page shows it (the language is chosen per request)."""
    with current_app.test_request_context():
        return str(message)


def stored(user: User) -> User:
    """The user as the database has it: unflushed changes are dropped, anything flushed would show."""
    db.session.expire_all()
    return db.session.get(User, user.id)


def test_create_user_stores_clean_values(app):
    user = user_service.create_user("  Li Lei ", " Li.Lei@ACME.cn ", PASSWORD, mobile="138 0013-8000")
    user = stored(user)
    assert (user.name, user.email, user.mobile, user.role, user.active) == (
        "Li Lei",
        "li.lei@acme.cn",
        "13800138000",
        "member",
        True,
    )
    assert user_service.authenticate("LI.LEI@acme.cn", PASSWORD) == user


def test_an_empty_mobile_is_stored_as_none(app):
    assert user_service.create_user("Li Lei", "li@acme.cn", PASSWORD, mobile="  ").mobile is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "li@localhost"}, "email"),
        ({"email": "MEI@example.COM"}, "email"),  # the member's address in other case
        ({"mobile": "call me"}, "mobile"),
        ({"mobile": "12345"}, "mobile"),
        ({"password": "short"}, "password"),
        ({"role": "owner"}, "role"),
    ],
)
def test_create_user_refuses_bad_input_and_saves_nothing(app, member, changes, field):
    values = {"name": "Li Lei", "email": "li@acme.cn", "password": PASSWORD, "role": "member", "mobile": None}
    values.update(changes)
    before = user_count()
    with pytest.raises(ServiceError) as caught:
        user_service.create_user(**values)
    assert caught.value.field == field
    assert user_count() == before


def test_update_user_changes_the_given_fields(app, member):
    user_service.update_user(member, name="Mei Li", email="Mei.Li@Acme.cn", mobile="+86 138 0013 8000")
    member = stored(member)
    assert (member.name, member.email, member.mobile) == ("Mei Li", "mei.li@acme.cn", "+8613800138000")


def test_a_user_may_keep_their_own_address_in_other_case(app, member):
    user_service.update_user(member, email="MEI@EXAMPLE.COM")
    assert stored(member).email == "mei@example.com"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"email": "mei@"}, "email"),
        ({"email": "Ada@Example.com"}, "email"),
        ({"mobile": "138-abc"}, "mobile"),
        ({"role": "root"}, "role"),
        ({"locale": "fr"}, "locale"),
    ],
)
def test_update_user_refuses_bad_input_and_changes_nothing(app, admin, member, changes, field):
    # A good change rides along, to show that one bad field stops the whole save.
    with pytest.raises(ServiceError) as caught:
        user_service.update_user(member, **{"name": "Renamed", "mobile": "13900139000", **changes})
    assert caught.value.field == field
    member = stored(member)
    assert (member.name, member.email, member.mobile, member.role, member.locale) == (
        "Mei Member",
        "mei@example.com",
        "13800138000",
        "member",
        None,
    )


def test_update_user_knows_only_account_fields(app, member):
    with pytest.raises(TypeError):
        user_service.update_user(member, password_hash="x")


def test_locale_is_one_of_the_languages_or_none(app, member):
    user_service.update_user(member, locale="zh")
    assert stored(member).locale == "zh"
    user_service.update_user(member, locale="")
    assert stored(member).locale is None


@pytest.mark.parametrize(("changes", "field"), [({"role": "member"}, "role"), ({"active": False}, "active")])
def test_the_last_active_admin_cannot_be_demoted_or_disabled(app, admin, member, changes, field):
    with pytest.raises(ServiceError) as caught:
        user_service.update_user(admin, **changes)
    assert caught.value.field == field
    assert "last" in text(caught.value.message)
    admin = stored(admin)
    assert admin.is_admin and admin.active


def test_a_disabled_admin_does_not_count_as_another_admin(app, admin, member):
    user_service.update_user(member, role="admin")
    user_service.update_user(member, active=False)
    assert user_service.is_last_active_admin(admin)
    with pytest.raises(ServiceError):
        user_service.update_user(admin, role="member")


def test_with_another_active_admin_an_admin_may_step_down(app, admin, member):
    user_service.update_user(member, role="admin")
    assert not user_service.is_last_active_admin(admin)
    user_service.update_user(admin, role="member")
    assert not stored(admin).is_admin
    assert user_service.is_last_active_admin(stored(member))
    with pytest.raises(ServiceError):
        user_service.update_user(member, active=False)


def test_other_fields_of_the_last_admin_can_change(app, admin):
    user_service.update_user(admin, name="Ada Lovelace", role="admin", active=True)
    assert stored(admin).name == "Ada Lovelace"


def test_set_password_refuses_a_short_one_and_keeps_the_old(app, member):
    with pytest.raises(ServiceError) as caught:
        user_service.set_password(member, "1234567")
    assert caught.value.field == "password"
    assert user_service.authenticate(member.email, PASSWORD) is not None


def test_change_own_password_needs_the_current_one(app, member):
    with pytest.raises(ServiceError) as caught:
        user_service.change_own_password(member, "not my password", "a brand new secret")
    assert caught.value.field == "current"
    assert user_service.authenticate(member.email, "a brand new secret") is None

    user_service.change_own_password(member, PASSWORD, "a brand new secret")
    assert user_service.authenticate(member.email, "a brand new secret") is not None
    assert user_service.authenticate(member.email, PASSWORD) is None


def logins(user: User) -> int:
    return session_service.session_count(user)


def test_each_login_has_a_token_of_its_own(app, member, outsider):
    first = session_service.start_session(member)
    user_id, token = member.get_id().split(":")
    assert user_id == str(member.id) and token == first and len(token) >= 32
    second = session_service.start_session(member)
    assert second != first and session_service.start_session(outsider) not in (first, second)
    assert session_service.user_for(f"{member.id}:{first}") == member
    assert session_service.user_for(f"{outsider.id}:{first}") is None  # a token is for its own user only
    assert session_service.user_for(f"{member.id}:not-a-token") is None
    assert session_service.user_for(str(member.id)) is None


def test_ending_one_login_keeps_the_others(app, member):
    first = session_service.start_session(member)
    second = session_service.start_session(member)
    session_service.end_session(session_service.user_for(f"{member.id}:{first}"))
    assert session_service.user_for(f"{member.id}:{first}") is None
    assert session_service.user_for(f"{member.id}:{second}") is not None


def test_a_login_older_than_a_remember_cookie_is_refused(app, member):
    then = utcnow() - current_app.config["REMEMBER_COOKIE_DURATION"] - timedelta(minutes=1)
    token = session_service.start_session(member, now=then)
    assert session_service.user_for(f"{member.id}:{token}") is None
    session_service.start_session(member)
    assert logins(member) == 1  # the old one is cleared away by the next login


def test_setting_a_password_ends_every_login(app, member):
    token = session_service.start_session(member)
    user_service.set_password(member, "a fresh secret")
    assert session_service.user_for(f"{member.id}:{token}") is None and logins(member) == 0


def test_change_own_password_ends_the_logins_only_when_it_succeeds(app, member):
    session_service.start_session(member)
    with pytest.raises(ServiceError):
        user_service.change_own_password(member, "not my password", "a brand new secret")
    assert logins(member) == 1
    user_service.change_own_password(member, PASSWORD, "a brand new secret")
    assert logins(member) == 0


def test_disabling_ends_the_logins_and_other_edits_do_not(app, member):
    token = session_service.start_session(member)
    user_service.update_user(member, name="Mei Li", mobile="13900139000", locale="zh", active=True)
    assert logins(member) == 1
    user_service.update_user(member, active=False)
    assert logins(member) == 0
    # Enabling the user again does not bring the ended login back.
    user_service.update_user(member, active=True)
    assert session_service.user_for(f"{member.id}:{token}") is None


def test_refusing_to_disable_the_last_admin_keeps_their_sessions(app, admin):
    session_service.start_session(admin)
    with pytest.raises(ServiceError):
        user_service.update_user(admin, active=False)
    assert logins(admin) == 1


def test_a_disabled_user_cannot_authenticate(app, member):
    user_service.update_user(member, active=False)
    assert user_service.authenticate(member.email, PASSWORD) is None


def test_list_users_searches_name_and_email(app, admin, member, outsider):
    assert [u.name for u in user_service.list_users()] == ["Ada Admin", "Mei Member", "Otto Outsider"]
    assert [u.name for u in user_service.list_users("MEMBER")] == ["Mei Member"]
    assert [u.name for u in user_service.list_users("otto@")] == ["Otto Outsider"]
    # LIKE wildcards are searched for literally.
    assert user_service.list_users("%") == []
    assert user_service.list_users("_") == []


def test_mail_problem_names_who_cannot_receive_mail(app, member):
    real = user_service.create_user("Li Lei", "li@acme.cn", PASSWORD)
    assert user_service.mail_problem(real) is None
    assert "example" in text(user_service.mail_problem(member))
    user_service.update_user(real, active=False)
    assert "Disabled" in text(user_service.mail_problem(real))


def test_mail_problem_spots_an_address_stored_before_the_rules(app):
    user = user_service.create_user("Old Timer", "old@acme.cn", PASSWORD)
    # Rows written by an older version or by hand never went through the checks.
    db.session.execute(update(User).where(User.id == user.id).values(email="old@intranet"))
    db.session.commit()
    assert "valid" in text(user_service.mail_problem(stored(user)))


def test_ensure_first_admin_only_on_an_empty_database(app):
    user, generated = user_service.ensure_first_admin("root@acme.cn", None)
    assert user.is_admin and generated
    assert user_service.authenticate("root@acme.cn", generated) == user
    assert user_service.ensure_first_admin("second@acme.cn", PASSWORD) is None
    assert user_count() == 1
