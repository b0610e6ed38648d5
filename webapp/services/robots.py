"""Project settings → Robots: the rules for a project's chat robots, their test message and their gateway."""

import dataclasses
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Delivery, Project, Robot
from webapp.models.notifications import DeliveryStatus
from webapp.notifications import delivery as delivery_service
from webapp.notifications import gateway
from webapp.notifications import guard as outbound
from webapp.notifications.channels.addresses import check_webhook_url
from webapp.notifications.channels.masking import SECRET_PATH, mask_url, scrub
from webapp.notifications.channels.message import RobotSettings, settings_secrets
from webapp.notifications.channels.registry import CHANNELS, KINDS
from webapp.services import ServiceError, audit
from webapp.services.network import outbound_guard

MAX_NAME = 100
MAX_URL = 2000
MAX_KEYWORDS = 10  # Feishu, Lark and DingTalk accept up to 10 custom keywords
MAX_KEYWORD = 64
MAX_SECRET = 256
MAX_ID = 2**63 - 1
# Control characters other than tab and newline: invisible, and PostgreSQL refuses NUL outright.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEYWORD_SEPARATORS = re.compile(r"[\n\r,，、]")


class RobotInvalid(ServiceError):
    """One or more fields are wrong; `errors` maps each form field to its message."""

    def __init__(self, errors: dict[str, str]):
        field_name, message = next(iter(errors.items()))
        super().__init__(message, field_name)
        self.errors = errors


class GatewayProblem(ServiceError):
    """The nginx configuration cannot be made from these addresses; `field` names the address at fault."""


@dataclass
class RobotInput:
    """What an administrator can set on a robot. A blank URL or secret on an edit keeps the stored one."""

    kind: str
    name: str
    webhook_url: str = ""
    keywords: list[str] | str = field(default_factory=list)
    secret: str = ""
    clear_secret: bool = False
    style: str = "text"
    at_all: bool = False
    enabled: bool = True
    secret_path: bool = False  # the whole path of the address is a credential
    secret_params: list[str] | str = field(default_factory=list)  # query parameters whose values are secret


@dataclass
class Saved:
    """A robot just stored, with the advice to show (an address that does not look like its kind's)."""

    robot: Robot
    warnings: list[str] = field(default_factory=list)


def uses_keywords(kind: str) -> bool:
    return kind in CHANNELS and CHANNELS[kind].keywords


def uses_secret(kind: str) -> bool:
    return kind in CHANNELS and CHANNELS[kind].secret


def styles(kind: str) -> tuple[str, ...]:
    return CHANNELS[kind].styles if kind in CHANNELS else ("text",)


def parse_keywords(value: list[str] | str) -> list[str]:
    """Keywords from lines or commas (ASCII or Chinese), trimmed, without repeats, in order."""
    items = _KEYWORD_SEPARATORS.split(value) if isinstance(value, str) else list(value)
    seen: dict[str, None] = {}
    for item in items:
        keyword = (item or "").strip()
        if keyword:
            seen.setdefault(keyword, None)
    return list(seen)


def list_robots(project: Project) -> list[Robot]:
    return list(
        db.session.scalars(
            select(Robot).where(Robot.project_id == project.id).order_by(func.lower(Robot.name), Robot.id)
        )
    )


def get_robot(project: Project, robot_id: int) -> Robot | None:
    """The project's robot with this id, or None (also for another project's robot)."""
    if not 0 < robot_id <= MAX_ID:
        return None
    robot = db.session.get(Robot, robot_id)
    return robot if robot is not None and robot.project_id == project.id else None


def create_robot(project: Project, data: RobotInput, by: audit.Actor | None = None) -> Saved:
    robot = Robot(project_id=project.id, webhook_url="", secret="", keywords=[], events=[])
    warnings = _apply(robot, data, project)
    db.session.add(robot)
    db.session.flush()
    audit.record("robot.created", by, robot.name, **_robot_params(robot))
    db.session.commit()
    return Saved(robot, warnings)


def update_robot(robot: Robot, data: RobotInput, by: audit.Actor | None = None) -> Saved:
    project = db.session.get(Project, robot.project_id)
    warnings = _apply(robot, data, project)
    audit.record("robot.changed", by, robot.name, **_robot_params(robot))
    db.session.commit()
    return Saved(robot, warnings)


def delete_robot(robot: Robot, by: audit.Actor | None = None) -> None:
    audit.record("robot.deleted", by, robot.name, **_robot_params(robot))
    db.session.delete(robot)
    db.session.commit()


def set_enabled(robot: Robot, enabled: bool, by: audit.Actor | None = None) -> None:
    robot.enabled = enabled
    audit.record("robot.enabled" if enabled else "robot.disabled", by, robot.name, **_robot_params(robot))
    db.session.commit()


def _robot_params(robot: Robot) -> dict:
    """What the audit log keeps of a robot: where it is and what kind, never its address or secret."""
    return {"project_id": robot.project_id, "robot_id": robot.id, "kind": robot.kind}


def _apply(robot: Robot, data: RobotInput, project: Project) -> list[str]:
    """Check every field, then copy the input onto the robot; nothing is touched when one field is wrong."""
    errors: dict[str, str] = {}
    warnings: list[str] = []
    kind = data.kind if data.kind in KINDS else None
    if kind is None:
        errors["kind"] = str(_l("Choose the kind of robot."))
    name = _clean_name(data.name, errors)
    if name and _name_taken(project, name, robot):
        errors["name"] = str(_l("This project has a robot with this name already."))
    url = (data.webhook_url or "").strip() or robot.webhook_url
    if kind:
        url_warning = _check_url(kind, url, errors)
        if url_warning:
            warnings.append(url_warning)
    keywords = parse_keywords(data.keywords) if kind and uses_keywords(kind) else []
    _check_keywords(keywords, errors)
    secret = _new_secret(robot, data, kind, errors, warnings)
    if errors:
        raise RobotInvalid(errors)
    robot.kind, robot.name, robot.webhook_url = kind, name, url
    robot.keywords, robot.secret = keywords, secret
    robot.style = data.style if data.style in styles(kind) else "text"
    robot.at_all = bool(data.at_all)
    robot.enabled = bool(data.enabled)
    robot.secret_parts = secret_parts(data)
    return warnings


def secret_parts(data: RobotInput) -> list[str]:
    """What the administrator marked secret in the address: "/" for the path, then query parameter names."""
    names = data.secret_params
    if isinstance(names, str):
        names = [name for name in re.split(r"[\s,;，；、]+", names) if name]
    marked = [SECRET_PATH] if data.secret_path else []
    named = (name.strip() for name in names if name.strip() and name.strip() != SECRET_PATH)
    return marked + list(dict.fromkeys(named))


def _clean_name(value: str, errors: dict[str, str]) -> str:
    name = " ".join((value or "").split())
    if not name:
        errors["name"] = str(_l("Give the robot a name, e.g. the group it posts to."))
    elif len(name) > MAX_NAME:
        errors["name"] = str(_l("At most %(max)s characters.", max=MAX_NAME))
    elif _CONTROL.search(name):
        errors["name"] = str(_l("The name holds invisible control characters."))
    return name


def _name_taken(project: Project, name: str, robot: Robot) -> bool:
    other = db.session.scalar(
        select(Robot).where(Robot.project_id == project.id, func.lower(Robot.name) == name.lower())
    )
    return other is not None and other is not robot


def _check_url(kind: str, url: str, errors: dict[str, str]) -> str | None:
    """Refuse what cannot be an address (a key pasted alone, say); return the advice for an odd one."""
    problem = _unreadable(url)
    check = None if problem else check_webhook_url(kind, url)
    if check is not None:
        problem = check.error
    if not problem:
        problem = outbound.literal_problem(urlsplit(url).hostname or "", outbound_guard())
    if problem:
        errors["webhook_url"] = str(problem)
        return None
    return str(check.warning) if check.warning else None


def _unreadable(url: str):
    """Why an address cannot be sent to whatever its kind (too long, spaces, a bad port), or None."""
    if len(url) > MAX_URL:
        return _l("At most %(max)s characters.", max=MAX_URL)
    if _CONTROL.search(url) or any(c.isspace() for c in url):
        return _l("The address holds spaces or invisible characters: paste it again.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (reading it checks it: a port that is not a number, or out of range)
    except ValueError:
        return _l("This address cannot be read: check the host and port.")
    return None


def _check_keywords(keywords: list[str], errors: dict[str, str]) -> None:
    if len(keywords) > MAX_KEYWORDS:
        errors["keywords"] = str(
            _l("At most %(max)s keywords (you gave %(count)s).", max=MAX_KEYWORDS, count=len(keywords))
        )
    elif any(len(k) > MAX_KEYWORD for k in keywords):
        errors["keywords"] = str(_l("A keyword may have at most %(max)s characters.", max=MAX_KEYWORD))
    elif any(_CONTROL.search(k) for k in keywords):
        errors["keywords"] = str(_l("A keyword holds invisible control characters."))


def _new_secret(
    robot: Robot, data: RobotInput, kind: str | None, errors: dict[str, str], warnings: list[str]
) -> str:
    """The secret to store: the one typed, else the stored one (a "set / replace" field), none if unused."""
    if not kind or not uses_secret(kind) or data.clear_secret:
        return ""
    typed = (data.secret or "").strip()
    if not typed:
        return robot.secret or ""
    if len(typed) > MAX_SECRET:
        errors["secret"] = str(_l("At most %(max)s characters.", max=MAX_SECRET))
    elif _CONTROL.search(typed) or any(c.isspace() for c in typed):
        errors["secret"] = str(_l("The secret holds spaces or invisible characters: copy it again."))
    elif kind == "dingtalk" and not typed.startswith("SEC"):
        warnings.append(
            str(_l("DingTalk signing secrets start with “SEC”: check that you copied the whole secret."))
        )
    return typed


# --- showing ----------------------------------------------------------------------------------------------


def kinds() -> list[tuple[str, str]]:
    """Each kind of robot with its name as people read it, in the order the form lists them."""
    return [(kind, kind_label(kind)) for kind in KINDS]


def kind_label(kind: str) -> str:
    """A kind's name as people read it; an unknown kind (a robot of a kind since removed) as stored."""
    return CHANNELS[kind].label if kind in KINDS else kind


def example_urls() -> dict[str, str]:
    """Per kind, what its webhook address looks like (the form's placeholder)."""
    return {kind: CHANNELS[kind].example_url for kind in KINDS}


def masked_address(url: str) -> str:
    """Any webhook address as a page may show it: the key or token inside masked."""
    return mask_url(url or "")


def secret_choices(robot: Robot) -> tuple[bool, list[str]]:
    """Whether the robot's whole path is secret, and the query parameters whose values are."""
    parts = robot.secret_parts or []
    return SECRET_PATH in parts, [part for part in parts if part != SECRET_PATH]


def shown_url(robot: Robot) -> str:
    """The robot's address as a page may show it: the key or token inside masked."""
    return mask_url(robot.webhook_url or "", tuple(robot.secret_parts or ()))


def kind_hints() -> list[tuple[str, str]]:
    """(kind, hint): where each kind's webhook address and security settings are found."""
    return [(kind, str(channel.hint)) for kind, channel in CHANNELS.items() if channel.hint]


def secret_hints() -> list[tuple[str, str]]:
    """(kinds, hint): where the signing secret is found, each hint once with the kinds it serves."""
    found: dict[str, list[str]] = {}
    for kind, channel in CHANNELS.items():
        if channel.secret and channel.secret_hint:
            found.setdefault(str(channel.secret_hint), []).append(kind)
    return [(" ".join(kinds), hint) for hint, kinds in found.items()]


def form_kinds() -> dict[str, str]:
    """For each part of the robot form, the kinds that use it (the form's data-kinds attribute)."""
    return {
        "keywords": " ".join(kind for kind in KINDS if CHANNELS[kind].keywords),
        "secret": " ".join(kind for kind in KINDS if CHANNELS[kind].secret),
        "style": " ".join(kind for kind in KINDS if len(CHANNELS[kind].styles) > 1),
        "at_all": " ".join(kind for kind in KINDS if CHANNELS[kind].at_all),
        "secret_parts": " ".join(kind for kind in KINDS if CHANNELS[kind].secret_parts),
    }


def mention_notice(robot: Robot) -> str | None:
    """What to tell about @mentions for this robot when they cannot work as one would think (Feishu)."""
    if robot.kind not in KINDS:
        return None
    notice = CHANNELS[robot.kind].mention_notice(delivery_service.robot_settings(robot))
    return str(notice) if notice else None


def mention_notices() -> list[tuple[str, str, str]]:
    """(kinds, style or "", notice): where @mentions do not work as one would think, each notice once."""
    found: dict[tuple[str, str], list[str]] = {}
    for kind in KINDS:
        channel = CHANNELS[kind]
        by_style = {
            style: channel.mention_notice(RobotSettings(kind=kind, webhook_url="", style=style))
            for style in channel.styles
        }
        if len(set(by_style.values())) == 1:  # the same whatever the style
            by_style = {"": next(iter(by_style.values()))}
        for style, notice in by_style.items():
            if notice:
                found.setdefault((style, str(notice)), []).append(kind)
    return [(" ".join(kinds), style, notice) for (style, notice), kinds in found.items()]


def robot_secrets(robot: Robot) -> tuple[str, ...]:
    """The robot's secret and the token inside its address: what must never reach a page."""
    return settings_secrets(delivery_service.robot_settings(robot))


# --- the test message -------------------------------------------------------------------------------------


@dataclass
class SendResult:
    """A test message's outcome as the page shows it: every text scrubbed of the robot's secrets."""

    status: str  # sent, failed, retrying, pending
    code: str | None
    cause: str
    fix: str
    reply: str
    request: str
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status == DeliveryStatus.SENT


def probe_text(robot: Robot, project: Project, sender: str) -> tuple[str, str]:
    """A test message's title and body, with the robot's first keyword so that the group accepts it."""
    keywords = robot.keywords or []
    title = _("Herald test message")
    if keywords and keywords[0] not in title:
        title = f"{keywords[0]} · {title}"
    body = _(
        "The robot “%(robot)s” of project %(project)s is set up correctly: this group will receive "
        "Herald's messages. Sent by %(sender)s.",
        robot=robot.name,
        project=project.name,
        sender=sender,
    )
    return title, body


def send_test(robot: Robot, project: Project, sender: str) -> SendResult:
    """Send a test message now through the one delivery path; whatever happens, an outcome to show."""
    title, body = probe_text(robot, project, sender)
    secrets = robot_secrets(robot)
    try:
        record: Delivery = delivery_service.send_test_message(robot, title, body)
    except Exception:  # a bug below must not become a 500 on a button meant to diagnose problems
        db.session.rollback()
        current_app.logger.exception("test message to robot %s", robot.id)
        return SendResult(
            status=DeliveryStatus.FAILED,
            code=None,
            cause=_("Herald could not send the test message because of an internal error."),
            fix=_("The error is in the server's log; please report it."),
            reply="",
            request="",
        )
    attempt = record.attempt_log[-1] if record.attempt_log else None
    return SendResult(
        status=record.status,
        code=record.code,
        cause=scrub(record.cause or "", secrets),
        fix=scrub(record.fix or "", secrets),
        reply=scrub(record.reply or "", secrets),
        request=scrub(attempt.request if attempt else "", secrets),
        duration_ms=attempt.duration_ms if attempt else 0,
    )


# --- the nginx gateway ------------------------------------------------------------------------------------


def nginx_forward(robot: Robot, gateway_url: str) -> gateway.Forward:
    """The nginx configuration forwarding this robot's traffic; GatewayProblem when it cannot be made."""
    official = gateway.official_address(robot.kind, robot.webhook_url)
    if official is None:
        raise GatewayProblem(
            _l(
                "This robot's address is neither the official one nor a Herald gateway's, so the provider's "
                "address cannot be worked out: put the official webhook address in the robot first."
            ),
            "official_url",
        )
    try:
        return gateway.nginx_forward(robot.kind, official, gateway_url)
    except gateway.GatewayError as error:
        raise GatewayProblem(error.message, error.field) from error


def shown_forward(robot: Robot, gateway_url: str) -> gateway.Forward:
    """The nginx configuration as a page shows it: every credential of the address masked (a path marked
    secret too: the administrator writes that part into nginx.conf by hand)."""
    forward, secrets = nginx_forward(robot, gateway_url), robot_secrets(robot)
    return gateway.Forward(*(scrub(value, secrets) for value in dataclasses.astuple(forward)))


def use_gateway(robot: Robot, gateway_url: str) -> gateway.Forward:
    """Make the robot post through the gateway: its webhook field gets the gateway's address, token kept."""
    forward = nginx_forward(robot, gateway_url)
    robot.webhook_url = forward.herald_url
    db.session.commit()
    return forward
