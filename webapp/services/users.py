"""Accounts: creating, editing, authenticating, and who can receive mail."""

import re
import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models import User
from webapp.models.users import ROLES
from webapp.services import ServiceError, audit
from webapp.services.audit import Actor

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_NAME_LENGTH = 80
MAX_EMAIL_LENGTH = 254
# Stored without spaces or dashes: DingTalk only renders an @mention whose text matches the number exactly.
_MOBILE = re.compile(r"\+?[0-9]{6,20}")
_MOBILE_SEPARATORS = re.compile(r"[\s-]")
# Domains kept for documentation (RFC 2606): an address there passes every syntax check but reaches nobody.
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org", "example")
EMAIL_INVALID = _l("Enter a valid e-mail address, such as li.mei@yourcompany.com.")
EMAIL_TAKEN = _l("Another user already has this e-mail address.")
MOBILE_INVALID = _l("Enter a phone number of 6 to 20 digits, such as 13800138000 or +86 138 0013 8000.")
_EDITABLE = {"name", "email", "mobile", "role", "active", "locale", "mail_own_changes"}

# A hash to compare against when the account does not exist, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("herald-timing-equaliser")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    """The address as stored (lower-cased), or a ServiceError if it cannot be an e-mail address."""
    try:
        address = validate_email((email or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ServiceError(EMAIL_INVALID, field="email") from error
    if len(address) > MAX_EMAIL_LENGTH:
        raise ServiceError(_l("This e-mail address is too long."), field="email")
    return normalise_email(address)


def normalise_mobile(mobile: str | None) -> str | None:
    """The number as stored (digits, maybe a leading +), None when empty; ServiceError if not a number."""
    compact = _MOBILE_SEPARATORS.sub("", mobile or "")
    if not compact:
        return None
    if not _MOBILE.fullmatch(compact):
        raise ServiceError(MOBILE_INVALID, field="mobile")
    return compact


def _check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError(_l("Enter a name."), field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(_l("Use at most %(n)s characters.", n=MAX_NAME_LENGTH), field="name")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ServiceError(_l("Choose administrator or member."), field="role")
    return role


def _check_locale(locale: str | None) -> str | None:
    if locale and locale not in current_app.config["LANGUAGES"]:
        raise ServiceError(_l("Choose a language from the list."), field="locale")
    return locale or None


def check_password_strength(password: str | None, field: str = "password") -> str:
    """The password if it is long enough to keep, else a ServiceError."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ServiceError(_l("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH), field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError(_l("Use at most %(n)s characters.", n=MAX_PASSWORD_LENGTH), field=field)
    return password


def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def is_administrator(user) -> bool:
    """Whether this user (the logged-in one, or anonymous) may do what only administrators may: one rule."""
    return bool(getattr(user, "is_authenticated", False) and user.is_admin and user.active)


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def email_taken(email: str, user_id: int | None = None) -> bool:
    """True when someone other than user `user_id` has this address (in any case)."""
    other = find_by_email(email)
    # Compare ids, not objects: a view may hand us Flask-Login's proxy of the same user.
    return other is not None and other.id != user_id


def _check_email_free(email: str, user: User | None = None) -> None:
    if email_taken(email, user.id if user is not None else None):
        raise ServiceError(EMAIL_TAKEN, field="email")


def create_user(
    name: str,
    email: str,
    password: str,
    role: str = "member",
    mobile: str | None = None,
    by: Actor | None = None,
) -> User:
    """Create an active user; the e-mail address must be free (case-insensitively)."""
    user = User(
        name=_check_name(name),
        email=check_email(email),
        mobile=normalise_mobile(mobile),
        role=_check_role(role),
        password_hash=_hash(check_password_strength(password)),
    )
    _check_email_free(user.email)
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", by, user.email, user_id=user.id, role=user.role)
    db.session.commit()
    return user


def _clean(user: User, fields: dict) -> dict:
    """The given fields checked and in their stored form; raises ServiceError at the first bad one."""
    unknown = set(fields) - _EDITABLE
    if unknown:
        raise TypeError(f"update_user() cannot change {', '.join(sorted(unknown))}")
    cleaners = {
        "name": _check_name,
        "email": check_email,
        "mobile": normalise_mobile,
        "role": _check_role,
        "active": bool,
        "locale": _check_locale,
        "mail_own_changes": bool,
    }
    clean = {key: cleaners[key](value) for key, value in fields.items()}
    if "email" in clean:
        _check_email_free(clean["email"], user)
    return clean


def update_user(user: User, by: Actor | None = None, **fields) -> User:
    """Change the given fields of a user (name, email, mobile, role, active, locale); disabling logs out."""
    clean = _clean(user, fields)
    losing = _admin_losing_field(user, clean)
    if losing:
        _lock_active_admins()
    disabling = user.active and clean.get("active") is False
    changed = sorted(key for key, value in clean.items() if getattr(user, key) != value)
    for key, value in clean.items():
        setattr(user, key, value)
    if disabling:
        user.end_sessions()
        audit.record("user.disabled", by, user.email, user_id=user.id)
    changed = [key for key in changed if not (disabling and key == "active")]  # recorded as user.disabled
    if changed:
        audit.record("user.changed", by, user.email, user_id=user.id, fields=changed)
    if losing:
        _keep_an_admin(field=losing)
    db.session.commit()
    return user


def _admin_losing_field(user: User, clean: dict) -> str | None:
    """The field whose new value makes an active administrator stop being one, if any."""
    if not (user.is_admin and user.active):
        return None
    if clean.get("role", "admin") != "admin":
        return "role"
    if not clean.get("active", True):
        return "active"
    return None


def _active_admins():
    return select(User.id).where(User.role == "admin", User.active)


def _lock_active_admins() -> None:
    """On PostgreSQL, make two administrators demoting each other at once take turns (SQLite ignores this)."""
    db.session.execute(_active_admins().order_by(User.id).with_for_update())


def _keep_an_admin(field: str) -> None:
    """Refuse a change that leaves no active administrator; counted after the write, in its transaction."""
    db.session.flush()
    if db.session.scalars(_active_admins()).first() is None:
        db.session.rollback()
        raise ServiceError(
            _l(
                "Herald needs an active administrator, and this is the last one: "
                "make another user an administrator first."
            ),
            field=field,
        )


def is_last_active_admin(user: User) -> bool:
    """True when this user is the only active administrator (the form uses it to explain the rule)."""
    if not (user.is_admin and user.active):
        return False
    return db.session.scalars(_active_admins().where(User.id != user.id)).first() is None


def set_password(user: User, password: str, by: Actor | None = None) -> None:
    """Replace a password and end all the user's sessions (an administrator's reset, or their own change)."""
    user.password_hash = _hash(check_password_strength(password))
    user.end_sessions()
    own = by is not None and by.user_id == user.id
    audit.record("password.changed" if own else "user.password_reset", by, user.email, user_id=user.id)
    db.session.commit()


def change_own_password(user: User, current: str, new: str, by: Actor | None = None) -> None:
    """A user's own change: the current password must be right."""
    if not check_password(user, current):
        raise ServiceError(_l("This is not your current password."), field="current")
    set_password(user, new, by=by or Actor(user.id))


def check_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password or "")


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None (no hint as to which part was wrong)."""
    user = find_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password(user, password) or not user.active:
        return None
    return user


def ensure_first_admin(email: str, password: str | None) -> tuple[User, str | None] | None:
    """Create the first administrator when there is no user yet; returns it and a generated password."""
    if db.session.scalar(select(func.count(User.id))):
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    user = create_user("Administrator", email, password, role="admin")
    return user, generated


def list_users(search: str = "") -> list[User]:
    """Every user by name, or those whose name or e-mail contains `search` (case-insensitively)."""
    query = select(User).order_by(func.lower(User.name), User.id)
    search = (search or "").strip().lower()
    if search:
        query = query.where(
            or_(
                func.lower(User.name).contains(search, autoescape=True),
                User.email.contains(search, autoescape=True),
            )
        )
    return list(db.session.scalars(query))


def mail_problem(user: User) -> str | None:
    """Why mail to this user would reach nobody (disabled, or an address no server accepts), else None."""
    if not user.active:
        return _l("Disabled: gets no mail.")
    try:
        validate_email(user.email, check_deliverability=False)
    except EmailNotValidError:
        return _l("Not a valid address: no mail can reach it.")
    domain = user.email.rsplit("@", 1)[-1]
    if any(domain == d or domain.endswith("." + d) for d in _EXAMPLE_DOMAINS):
        return _l("An example address: no mail can reach it.")
    return None
