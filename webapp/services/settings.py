"""System settings: Mail settings (one row), and their translation into what the SMTP code takes."""

import time
from dataclasses import dataclass

from flask_babel import force_locale, gettext

from webapp.extensions import db
from webapp.models import Delivery, MailSettings
from webapp.models._types import utcnow
from webapp.models.notifications import DeliveryStatus
from webapp.notifications import guard as outbound
from webapp.notifications import smtp
from webapp.notifications.delivery import record
from webapp.notifications.outcome import Outcome
from webapp.notifications.smtp import SmtpSettings
from webapp.services import ServiceError, audit
from webapp.services.network import outbound_guard

# Fields a Mail settings form may set; the password is handled apart (blank keeps the stored one).
MAIL_FIELDS = (
    "host",
    "port",
    "security",
    "username",
    "sender_address",
    "sender_name",
    "timeout",
    "verify_tls",
    "ca_bundle",
    "language",
)


def mail_settings() -> MailSettings:
    """The stored Mail settings, or unsaved defaults (QQ Mail's SSL port) before the first save."""
    return db.session.get(MailSettings, 1) or MailSettings(
        id=1,
        host="",
        port=465,
        security="ssl",
        username="",
        password="",
        sender_address="",
        sender_name="Herald",
        timeout=10,
        verify_tls=True,
        ca_bundle="",
        language="zh",
    )


def save_mail_settings(
    values: dict,
    new_password: str | None = None,
    clear_password: bool = False,
    by: audit.Actor | None = None,
) -> MailSettings:
    """Store the settings; the password changes only when a new one is given or clearing is asked for.

    A host written as a loopback, link-local or metadata address that is not allowed is refused (a name that
    leads there is refused when Herald connects).
    """
    problem = outbound.literal_problem(values.get("host", ""), outbound_guard())
    if problem:
        raise ServiceError(problem, "host")
    settings = mail_settings()
    changed = [name for name in MAIL_FIELDS if name in values and getattr(settings, name) != values[name]]
    for name in MAIL_FIELDS:
        if name in values:
            setattr(settings, name, values[name])
    if clear_password:
        settings.password = ""
        changed.append("password")
    elif new_password:
        settings.password = new_password
        changed.append("password")
    db.session.add(settings)
    audit.record("settings.mail", by, fields=changed)  # the names of what changed, never a value
    db.session.commit()
    return settings


def smtp_settings(values: dict | None = None, new_password: str | None = None) -> SmtpSettings:
    """What the SMTP code takes: the stored settings, overlaid with a form's unsaved values if given.

    A blank password in the form means "the stored one", so a test can run before or after saving.
    """
    stored = mail_settings()
    merged = {name: getattr(stored, name) for name in MAIL_FIELDS}
    merged.update({k: v for k, v in (values or {}).items() if k in MAIL_FIELDS})
    merged.pop("language")
    return SmtpSettings(password=new_password or stored.password, guard=outbound_guard(), **merged)


@dataclass(frozen=True)
class Check:
    """The result of Test connection or Send test mail, with how long it took."""

    outcome: Outcome
    seconds: float


def test_connection(values: dict, new_password: str | None = None) -> Check:
    """Connect, secure and log in with these (possibly unsaved) settings; nothing is sent."""
    started = time.monotonic()
    outcome = smtp.test_connection(smtp_settings(values, new_password))
    return Check(outcome, time.monotonic() - started)


test_connection.__test__ = False  # not a pytest test, though its name says so


def _test_subject(language: str) -> str:
    with force_locale(language):
        return gettext("Herald test mail")


def send_test_mail(values: dict, new_password: str | None, to_address: str) -> Check:
    """Really send a test message, and keep it in the delivery record like any other mail."""
    settings = smtp_settings(values, new_password)
    started_at, started = utcnow(), time.monotonic()
    outcome = smtp.send_test_mail(settings, to_address, locale=values.get("language", "en"))
    seconds = time.monotonic() - started
    delivery = Delivery(
        channel="email",
        target=to_address,
        recipient=to_address,
        subject=_test_subject(values.get("language", "en")),
        status=DeliveryStatus.PENDING,
        attempts=0,
    )
    db.session.add(delivery)
    record(
        delivery, outcome, started_at, int(seconds * 1000), request=f"SMTP {settings.host}:{settings.port}"
    )
    return Check(outcome, seconds)
