"""What a channel is: one declared spec per kind of robot, and the opening of reading a reply that all share.

A channel module builds one `Channel` and the registry lists it; pacing, the gateway, the robot forms, the
services and the templates read the spec, never the module.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult

from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings, settings_secrets
from webapp.notifications.channels.replies import Reply, ReplyRule, explain, raw_reply
from webapp.notifications.channels.transport import transport
from webapp.notifications.outcome import Outcome

# The provider's own code and words in a reply, (None, "") when the reply carries none.
ReadReply = Callable[[int, str], tuple[Any, str]]
BuildRequest = Callable[[RobotMessage, RobotSettings, datetime], HttpRequest]


@dataclass(frozen=True)
class Window:
    """At most `limit` messages within any `seconds`."""

    limit: int
    seconds: float


def no_shape(parts: SplitResult) -> bool:
    """An address of any shape may be this kind's: nothing to recognise it by."""
    return False


def no_notice(settings: RobotSettings) -> Any:
    """@mentions work as one would think: nothing to warn about."""
    return None


@dataclass(frozen=True)
class Channel:
    """One kind of robot: who it is, what it can do, its limits, how to set it up, build and read."""

    kind: str  # as stored in the database: robots.kind, deliveries.channel
    label: Any  # a lazy string: the provider's name in the reader's language
    build_request: BuildRequest  # pure: the message and settings in, the request out (the clock injected)
    read_reply: ReadReply
    replies: tuple[ReplyRule, ...]  # the reply table, read in order; no row: refused in the provider's words
    escape_text: Callable[[str], str]  # what members wrote, made text in this kind's format
    official_hosts: tuple[str, ...] = ()  # none: the address is the user's own (generic webhook)
    example_url: str = ""
    matches_shape: Callable[[SplitResult], bool] = no_shape  # this kind's path, whatever the host (a gateway)
    api: str = ""  # the API it speaks, when another kind speaks the same (Lark speaks Feishu's)
    api_folder: str | None = None  # what an nginx gateway forwards; None: the address's own folder
    styles: tuple[str, ...] = ("text",)
    keywords: bool = False  # the group's robot may require custom keywords
    secret: bool = False  # requests may be signed with a secret
    mentions: bool = False  # receivers are @mentioned by their mobile
    at_all: bool = False  # the group may be @everyone'd
    secret_parts: bool = False  # the user says which parts of the address are secret (a generic address)
    rate_windows: tuple[Window, ...] = ()  # the provider's limits per robot; none: not paced
    hint: Any = ""  # where the webhook address (and its security settings) is found
    secret_hint: Any = ""  # where the signing secret is found
    mention_notice: Callable[[RobotSettings], Any] = no_notice  # when @mentions cannot work as one thinks
    # Statuses read as the transport's even when the body has a code (Feishu's 404 for a wrong path).
    transport_statuses: frozenset[int] = frozenset()

    @property
    def official_host(self) -> str:
        return self.official_hosts[0] if self.official_hosts else ""

    @property
    def same_api(self) -> str:
        return self.api or self.kind

    def classify(
        self,
        status_code: int,
        headers: Mapping[str, str] | None,
        body_text: str,
        *,
        settings: RobotSettings | None = None,
        now: datetime | None = None,
        gateway: str | None = None,
    ) -> Outcome:
        """Sent, retry later, or failed with a cause and a fix: a 200 is success only if the provider says so.

        `gateway`: the intranet gateway's host[:port] the robot's address names, if any (the registry knows).
        """
        raw = raw_reply(status_code, body_text, settings_secrets(settings))
        code, message = self.read_reply(status_code, body_text)
        reply = Reply(status_code, headers, body_text, raw, code, message, settings, now)
        if code is None or status_code >= 500 or status_code in self.transport_statuses:
            return transport(reply, gateway, self.label, self.official_host)
        return explain(reply, self.replies)
