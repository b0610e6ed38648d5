"""What a channel works on: a robot's settings, a rendered message, and the HTTP request built from them."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from webapp.notifications.channels.masking import mask_header, mask_url, scrub, url_tokens


@dataclass(frozen=True)
class RobotSettings:
    """A robot as the channel needs it: where to post and how to pass its security checks."""

    kind: str
    webhook_url: str
    keywords: Sequence[str] = ()
    secret: str = ""
    style: str = "text"  # 'text' or 'markdown' (rich text where the kind has it)
    at_all: bool = False
    secret_parts: tuple[str, ...] = ()  # "/" (the whole path), or names of query parameters that are secret

    @property
    def active_keywords(self) -> list[str]:
        return [k.strip() for k in self.keywords if k and k.strip()]


@dataclass(frozen=True)
class RobotMessage:
    """A rendered message: what the group reads, plus the event facts the generic webhook sends as data."""

    title: str
    body: str
    link: str = ""
    mention_mobiles: Sequence[str] = ()
    event: str = ""  # e.g. "case.updated"
    project: Mapping[str, Any] = field(default_factory=dict)  # {"id": 1, "name": "Checkout"}
    case: Mapping[str, Any] = field(default_factory=dict)  # {"id": 7, "title": "...", "link": "..."}
    actor: Mapping[str, Any] = field(default_factory=dict)  # {"id": 2, "name": "Mei Member"}
    changes: Sequence[Mapping[str, Any]] = ()  # [{"field": "priority", "old": "P2", "new": "P1"}]
    delivery_id: str = ""  # unique per delivery: lets a receiver drop duplicates

    @property
    def mobiles(self) -> list[str]:
        """The mobiles to mention, cleaned and without repeats, in order."""
        seen: dict[str, None] = {}
        for mobile in self.mention_mobiles:
            if mobile and mobile.strip():
                seen.setdefault(mobile.strip(), None)
        return list(seen)


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request ready to send: the body is the exact bytes (a signature may cover them)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    json: Any = None
    secrets: tuple[str, ...] = ()  # values that must never reach a record or a page

    @property
    def body_text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def masked(self) -> "HttpRequest":
        """A copy fit for the delivery record: tokens in the URL and every secret masked."""
        body = scrub(self.body_text, self.secrets)
        headers = {
            name: mask_header(name, scrub(value, self.secrets)) for name, value in self.headers.items()
        }
        return replace(
            self,
            url=mask_url(scrub(self.url, self.secrets)),
            headers=headers,
            body=body.encode("utf-8"),
            json=None,  # a record keeps the text alone
            secrets=(),
        )


@dataclass(frozen=True)
class UrlCheck:
    """The verdict on a webhook address: an error refuses it, a warning only advises."""

    error: str | None = None
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def settings_secrets(settings: RobotSettings | None) -> tuple[str, ...]:
    """Everything of a robot's settings that must not be shown: its secret and the token in its address."""
    if settings is None:
        return ()
    tokens = url_tokens(settings.webhook_url, tuple(settings.secret_parts))
    return tuple(s for s in (settings.secret, *tokens) if s)
