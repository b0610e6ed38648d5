"""Reading a provider's reply: the reply as a channel sees it, its tables' rows, and the shared hints.

A channel declares its replies as a table of rules (like the SMTP rules in diagnosis.py); the opening every
channel shares (raw text, the provider's code, falling back to the transport's reading) lives in spec.py.
"""

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.masking import scrub
from webapp.notifications.channels.message import RobotSettings
from webapp.notifications.outcome import Outcome, Status

RAW_MAX_CHARS = 4000  # how much of a reply the delivery record keeps


def parse_json(body_text: str) -> dict[str, Any] | None:
    """The reply as a JSON object, or None when it is not one."""
    try:
        document = json.loads(body_text)
    except (TypeError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def provider_code(reply: Mapping[str, Any], name: str) -> int | None:
    """The provider's own result code (errcode / code) as an int, or None when absent or odd."""
    try:
        return int(reply[name])
    except (KeyError, TypeError, ValueError):
        return None


def header(headers: Mapping[str, str] | None, name: str) -> str:
    """A header's value whatever the case of its name."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return ""


def is_html(headers: Mapping[str, str] | None, body_text: str) -> bool:
    start = body_text.lstrip()[:200].lower()
    return "html" in header(headers, "Content-Type").lower() or start.startswith(("<!doctype", "<html"))


def raw_reply(status_code: int, body_text: str, secrets: Sequence[str] = ()) -> str:
    text = body_text if len(body_text) <= RAW_MAX_CHARS else body_text[:RAW_MAX_CHARS] + " …"
    return scrub(f"HTTP {status_code}\n{text}", secrets)


def outcome(status: Status, cause: Any = "", fix: Any = "", code: Any = None, raw: str = "") -> Outcome:
    return Outcome(status=status, cause=cause, fix=fix, code=None if code is None else str(code), raw=raw)


def describe_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock_note(now: datetime | None, headers: Mapping[str, str] | None) -> str:
    """This server's time, and the provider's when its reply says, so a clock off by an hour shows."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    note = str(_l("server time: %(time)s", time=describe_time(now)))
    try:
        theirs = parsedate_to_datetime(header(headers, "Date"))
    except (TypeError, ValueError):
        return note
    if theirs.tzinfo is None:
        return note
    drift = round((now - theirs).total_seconds() / 60)
    note += str(_l("; the provider's time: %(time)s", time=describe_time(theirs)))
    if drift >= 1:
        note += str(_l("; this server is %(minutes)s minutes ahead", minutes=drift))
    elif drift <= -1:
        note += str(_l("; this server is %(minutes)s minutes behind", minutes=-drift))
    return note


def keywords_text(settings: RobotSettings | None) -> str:
    keywords = settings.active_keywords if settings else []
    return ", ".join(keywords) if keywords else str(_l("(none set in Herald)"))


@dataclass(frozen=True)
class Reply:
    """A provider's reply being read: as received, and the provider's own code and words when it has them."""

    status_code: int
    headers: Mapping[str, str] | None
    text: str
    raw: str  # what the delivery record keeps: cut to size, secrets masked
    code: Any = None  # the provider's own code (errcode, code, Slack's word); None: the reply has none
    message: str = ""  # the provider's own words about it (errmsg, msg), for matching and for showing
    settings: RobotSettings | None = None
    now: datetime | None = None


@dataclass(frozen=True)
class ReplyRule:
    """One row of a channel's reply table: the codes it covers, and the outcome it gives them.

    `words`: one of them must be in the provider's message (lowercased); `statuses`: the HTTP statuses it
    covers, when the code alone does not decide; `when`: any further condition on the reply.
    """

    codes: Collection[Any]
    explain: Callable[[Reply], Outcome]
    words: tuple[str, ...] = ()
    statuses: Collection[int] = ()
    when: Callable[[Reply], bool] | None = None

    def matches(self, reply: Reply) -> bool:
        if self.codes and reply.code not in self.codes:
            return False
        if self.statuses and reply.status_code not in self.statuses:
            return False
        if self.words and not any(word in reply.message.lower() for word in self.words):
            return False
        return self.when is None or self.when(reply)


def explain(reply: Reply, rules: Sequence[ReplyRule]) -> Outcome:
    """The outcome of the first rule the reply matches; a refusal in the provider's words if none does."""
    rule = next((rule for rule in rules if rule.matches(reply)), None)
    return rule.explain(reply) if rule is not None else refused(reply)


def sent(reply: Reply) -> Outcome:
    return outcome(Status.SENT, code=reply.code, raw=reply.raw)


# Shared plain-language hints, so one cause reads the same for every provider.


def keyword_missing(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "Keyword missing: the group's robot found none of its custom keywords in the message. "
            "The robot's keywords in Herald are: %(keywords)s.",
            keywords=keywords_text(reply.settings),
        ),
        _l(
            "Herald adds the first keyword to every message, so make the keywords here match the ones in "
            "the group's robot settings (security settings → custom keywords)."
        ),
        reply.code,
        reply.raw,
    )


def sign_mismatch(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "Signature refused: the signing secret is wrong, or this server's clock is off by more than an "
            "hour (%(clock)s).",
            clock=clock_note(reply.now, reply.headers),
        ),
        _l(
            "Copy the secret again from the group's robot settings (security settings → signature), and "
            "make sure this server's clock is synchronised (NTP)."
        ),
        reply.code,
        reply.raw,
    )


def stale_timestamp(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "Timestamp refused: this server's clock differs from the provider's by more than an hour "
            "(%(clock)s).",
            clock=clock_note(reply.now, reply.headers),
        ),
        _l("Synchronise this server's clock (NTP); Herald signs every message afresh."),
        reply.code,
        reply.raw,
    )


def robot_gone(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The robot was removed from the group, or the webhook address is wrong."),
        _l(
            "Copy the webhook address again from the group's robot settings; if the robot was removed, "
            "add a new one and update the address here."
        ),
        reply.code,
        reply.raw,
    )


def rate_limited(reply: Reply) -> Outcome:
    return outcome(
        Status.RETRY,
        _l("Too many messages: the provider limits how often a robot may post."),
        _l(
            "Herald will try again later. If this happens often, switch off events this robot does not "
            "need in Message settings."
        ),
        reply.code,
        reply.raw,
    )


def too_large(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The message is larger than the provider accepts."),
        _l("Shorten the robot template in Message settings; Herald trims messages to the known limits."),
        reply.code,
        reply.raw,
    )


def ip_not_allowed(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The robot refused this server's address: it is not on the robot's IP allowlist."),
        _l(
            "The robot's IP allowlist must contain the address Herald (or its proxy) sends from: add it in "
            "the group's robot settings (security settings → IP address), or remove the allowlist."
        ),
        reply.code,
        reply.raw,
    )


def herald_fault(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The provider did not accept the message's format: %(what)s.", what=reply.message),
        _l("This is Herald's fault, not yours: please report it with this delivery's details."),
        reply.code,
        reply.raw,
    )


def refused(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The provider refused the message: %(message)s", message=reply.message),
        _l("Check the robot's settings in the group, then use Send test message."),
        reply.code,
        reply.raw,
    )


def busy(cause: Any) -> Callable[[Reply], Outcome]:
    """The provider's own "system busy" (errcode -1): it passes, so try again later."""

    def explain_busy(reply: Reply) -> Outcome:
        return outcome(Status.RETRY, cause, _l("Herald will try again later."), reply.code, reply.raw)

    return explain_busy
