"""What every robot channel shares: settings, message, request, fitting, masking, URL checks."""

import functools
import hashlib
import hmac
import importlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit, urlunsplit

import orjson
from flask_babel import lazy_gettext as _l

# The registry: adding a channel is one module plus one name here.
KINDS = ("wecom", "feishu", "lark", "dingtalk", "webhook")
STYLES = ("text", "markdown")

TRUNCATION_MARKER = _l("… (truncated)")
TITLE_MAX_BYTES = 512  # a title longer than this is a template mistake; keep room for the body
RAW_MAX_CHARS = 4000  # how much of a reply the delivery record keeps
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Query parameters and path segments that carry a robot's credential in a webhook address.
# A DingTalk "sign" stays visible: it expires within the hour, and seeing its encoding helps diagnosis.
TOKEN_PARAMS = {"key", "access_token", "token", "secret", "signature", "sig", "apikey", "api_key", "password"}
TOKEN_AFTER = ("hook",)  # Feishu / Lark: /open-apis/bot/v2/hook/<token>
# Hosts whose path after a prefix is one credential (Slack: /services/T…/B…/<secret>, the three together).
SECRET_PATHS = {"hooks.slack.com": "/services/"}
VISIBLE_PARAMS = {"sign", "timestamp"}  # a signature of the hour and its time: readable, for diagnosis
SECRET_PATH = "/"  # in a robot's secret_parts: the whole path is secret; other entries name query parameters
# A segment, value or user name that looks like a credential: long, URL-safe characters, and mixing
# letters with digits (or very long). Words such as "notifications-endpoint" stay readable.
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_.~+=%-]{16,}$")
BARE_TOKEN = re.compile(r"^(?:key=|access_token=)?[A-Za-z0-9_-]{16,}$")  # a key pasted alone


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
            name: _mask_header(name, scrub(value, self.secrets)) for name, value in self.headers.items()
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


class _Registry(Mapping[str, ModuleType]):
    """The channel modules by kind, imported on first use (they import this module themselves)."""

    def __getitem__(self, kind: str) -> ModuleType:
        if kind not in KINDS:
            raise KeyError(kind)
        return importlib.import_module(f"{__package__}.{kind}")

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


CHANNELS: Mapping[str, ModuleType] = _Registry()


# --- building ---------------------------------------------------------------------------------------------


def to_json_bytes(document: Any) -> bytes:
    """Compact UTF-8 JSON: Chinese text costs 3 bytes a character, not 6, against the size limits.

    The bytes json.dumps(document, ensure_ascii=False, separators=(",", ":")) would give, written by orjson
    several times faster (a message is measured against its size limit, then built).
    """
    return orjson.dumps(document)


def json_request(url: str, document: Any, secrets: Sequence[str] = (), **headers: str) -> HttpRequest:
    """A POST of a JSON document."""
    return HttpRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
        body=to_json_bytes(document),
        json=document,
        secrets=tuple(s for s in secrets if s),
    )


def epoch_seconds(now: datetime) -> int:
    return epoch_millis(now) // 1000


def epoch_millis(now: datetime) -> int:
    """Whole milliseconds since the epoch, in integers (float timestamps round badly)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return (now - EPOCH) // timedelta(milliseconds=1)


def hmac_sha256(key: str | bytes, message: str | bytes) -> bytes:
    key = key.encode("utf-8") if isinstance(key, str) else key
    message = message.encode("utf-8") if isinstance(message, str) else message
    return hmac.new(key, message, hashlib.sha256).digest()


def truncate_utf8(text: str, max_bytes: int) -> str:
    """At most max_bytes of UTF-8, ending with the truncation marker, never cutting a character in half."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    marker = str(TRUNCATION_MARKER)
    room = max_bytes - len(marker.encode("utf-8"))
    if room <= 0:
        return data[: max(max_bytes, 0)].decode("utf-8", errors="ignore")
    return data[:room].decode("utf-8", errors="ignore").rstrip() + marker


def has_keyword(text: str, keywords: Sequence[str]) -> bool:
    """Whether the text contains one of the keywords, exactly as the providers compare (case counts)."""
    return any(k in text for k in keywords if k)


def with_keyword(title: str, body: str, keywords: Sequence[str]) -> str:
    """The title, with the first keyword put in front when neither title nor body has any."""
    if not keywords or has_keyword(f"{title}\n{body}", keywords):
        return title
    return f"[{keywords[0]}] {title}"


def fit(
    title: str, body: str, keywords: Sequence[str], size: Callable[[str, str], int], limit: int
) -> tuple[str, str]:
    """Title and body that carry a keyword and whose rendering, measured by size(), is within limit bytes."""
    title = truncate_utf8(with_keyword(title, body, keywords), TITLE_MAX_BYTES)
    title, body = _shrink(title, body, size, limit)
    if keywords and not has_keyword(f"{title}\n{body}", keywords):
        # The only keyword was in the part of the body that had to go: put one in the title after all.
        title, body = _shrink(with_keyword(title, body, keywords), body, size, limit)
    return title, body


def _shrink(title: str, body: str, size: Callable[[str, str], int], limit: int) -> tuple[str, str]:
    if size(title, body) <= limit:  # most messages: measured once
        return title, body
    body = _cut_to_fit(body, lambda b: size(title, b), limit)
    title = _cut_to_fit(title, lambda t: size(t, body), limit)
    return title, body


def _cut_to_fit(text: str, measure: Callable[[str], int], limit: int) -> str:
    """The longest cut of text whose rendering fits; searched, since JSON escaping makes sizes uneven."""
    if measure(text) <= limit:
        return text
    fits, too_big = 0, len(text.encode("utf-8"))
    while too_big - fits > 1:
        middle = (fits + too_big) // 2
        if measure(truncate_utf8(text, middle)) <= limit:
            fits = middle
        else:
            too_big = middle
    return truncate_utf8(text, fits)


# --- members' text -----------------------------------------------------------------------------------------

ZERO_WIDTH_SPACE = "\u200b"
# Where what a member wrote could open markup in a chat: a tag or mention ("<at", "<@", "<font", "<http"),
# a link or image ("](", "![", "][", "]:"), an entity ("&lt;"), a run of emphasis or code ("**", "__", "``");
# also at the value's end, since the next value or the template's text may complete it.
_OPENERS = re.compile(r"<(?=[A-Za-z/@!?]|$)|\](?=\s*[(\[:]|$)|!(?=\[|$)|&(?=#?\w+;|$)|([*_~`])(?=\1|$)")
_LINE_MARKERS = re.compile(r"^(?=[#>])", re.MULTILINE)  # a heading or a quote


def inert_markup(text: str) -> str:
    """Member text made inert in a chat robot's message (Feishu <at> tags, WeCom and DingTalk markdown).

    A zero-width space goes after each character that could open markup, and before a heading or quote
    marker: the text reads the same, and no provider's parser sees a tag, mention, link or image in it.
    Whether a provider honours backslash escapes is not documented; this holds with or without them.
    """
    if not text:
        return text
    text = _OPENERS.sub(lambda match: match.group(0) + ZERO_WIDTH_SPACE, text)
    return _LINE_MARKERS.sub(ZERO_WIDTH_SPACE, text)


def text_lines(*parts: str) -> str:
    """The non-empty parts, one a line."""
    return "\n".join(p for p in parts if p)


# --- masking ----------------------------------------------------------------------------------------------


def mask(secret: str) -> str:
    """A secret shown only by its ends, enough to tell two apart."""
    if len(secret) < 12:
        return "****"
    return f"{secret[:4]}****{secret[-4:]}"


def scrub(text: str, secrets: Sequence[str]) -> str:
    """The text with every occurrence of each secret masked."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, mask(secret))
    return text


def looks_like_token(value: str) -> bool:
    """Whether a path segment, query value or user name looks like a credential rather than a word."""
    if not _TOKEN_CHARS.match(value):
        return False
    letters, digits = any(c.isalpha() for c in value), any(c.isdigit() for c in value)
    mixed_case = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return (letters and digits) or len(value) >= 32 or (mixed_case and len(value) >= 20 and value.isalpha())


@functools.lru_cache(maxsize=1024)  # the same few addresses, for every message recorded
def mask_url(url: str, secret_parts: tuple[str, ...] = ()) -> str:
    """An address fit for display: every credential in it masked (user info, token-like path segments and
    query values, the parts its robot marks secret), the rest verbatim."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        user = mask(user) if looks_like_token(user) else user
        netloc = f"{user}:****@{host}" if ":" in userinfo else f"{user}@{host}"
    path = parts.path
    secret_path = _secret_path(parts, secret_parts)
    if secret_path:
        path = path[: len(path) - len(secret_path)] + mask(secret_path)
    else:
        segments = path.split("/")
        for i in range(1, len(segments)):
            if segments[i] and (segments[i - 1] in TOKEN_AFTER or looks_like_token(segments[i])):
                segments[i] = mask(segments[i])
        path = "/".join(segments)
    names = {name.lower() for name in secret_parts if name != SECRET_PATH}
    pairs = []
    for pair in parts.query.split("&") if parts.query else []:
        name, sep, value = pair.partition("=")
        secret = name.lower() in TOKEN_PARAMS or name.lower() in names or _token_value(name, value)
        pairs.append(f"{name}={mask(value)}" if sep and value and secret else pair)
    return urlunsplit((parts.scheme, netloc, path, "&".join(pairs), parts.fragment))


def _token_value(name: str, value: str) -> bool:
    return name.lower() not in VISIBLE_PARAMS and looks_like_token(value)


def _secret_path(parts: SplitResult, secret_parts: Sequence[str]) -> str:
    """The part of the path that is one credential as a whole: marked by the robot, or known for the host."""
    if SECRET_PATH in secret_parts:
        return parts.path.lstrip("/")
    prefix = SECRET_PATHS.get((parts.hostname or "").lower())
    if prefix and parts.path.startswith(prefix) and len(parts.path) > len(prefix):
        return parts.path[len(prefix) :]
    return ""


@functools.lru_cache(maxsize=1024)  # asked for each message a robot sends and each reply it gets
def url_tokens(url: str, secret_parts: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The credentials inside an address, as written and decoded: what mask_url hides, for scrubbing text."""
    try:
        parts = urlsplit((url or "").strip())
        password = parts.password
    except ValueError:
        return ()
    tokens = [password or ""]
    if parts.username and looks_like_token(parts.username):
        tokens.append(parts.username)
    secret_path = _secret_path(parts, secret_parts)
    if secret_path:
        tokens += [secret_path, *secret_path.split("/")]
    segments = parts.path.split("/")
    tokens += [
        segments[i]
        for i in range(1, len(segments))
        if segments[i] and (segments[i - 1] in TOKEN_AFTER or looks_like_token(segments[i]))
    ]
    names = {name.lower() for name in secret_parts if name != SECRET_PATH}
    for pair in parts.query.split("&") if parts.query else []:
        name, _, value = pair.partition("=")
        if value and (name.lower() in TOKEN_PARAMS or name.lower() in names or _token_value(name, value)):
            tokens += [value, unquote(value)]
    return tuple(dict.fromkeys(t for t in tokens if t))


def settings_secrets(settings: RobotSettings | None) -> tuple[str, ...]:
    """Everything of a robot's settings that must not be shown: its secret and the token in its address."""
    if settings is None:
        return ()
    tokens = url_tokens(settings.webhook_url, tuple(settings.secret_parts))
    return tuple(s for s in (settings.secret, *tokens) if s)


def _mask_header(name: str, value: str) -> str:
    return mask(value) if name.lower() in {"authorization", "proxy-authorization", "cookie"} else value


# --- URL checks -------------------------------------------------------------------------------------------


def query_params(parts: SplitResult) -> dict[str, str]:
    return dict(parse_qsl(parts.query, keep_blank_values=True))


def host_is(parts: SplitResult, hosts: Sequence[str]) -> bool:
    return (parts.hostname or "").lower() in hosts


def check_webhook_url(kind: str, url: str) -> UrlCheck:
    """Refuse what cannot be an address; warn when an address does not look like a robot of this kind."""
    url = (url or "").strip()
    channel = CHANNELS[kind]
    if not url:
        return UrlCheck(error=_l("Enter the robot's webhook address."))
    if "://" not in url:
        if BARE_TOKEN.match(url):
            return UrlCheck(
                error=_l(
                    "This looks like the robot's key or token alone. Paste the whole webhook address, "
                    "e.g. %(example)s (or your intranet gateway's address).",
                    example=channel.EXAMPLE_URL,
                )
            )
        return UrlCheck(error=_l("Enter a full address starting with http:// or https://."))
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return UrlCheck(error=_l("Enter a full address starting with http:// or https://."))
    return UrlCheck(warning=_shape_warning(kind, parts))


def _shape_warning(kind: str, parts: SplitResult) -> str | None:
    channel = CHANNELS[kind]
    if channel.matches_shape(parts):
        if host_is(parts, channel.OFFICIAL_HOSTS) and parts.scheme.lower() != "https":
            return _l("The official address starts with https://; plain http may be refused.")
        return _other_official_kind(kind, parts)
    if host_is(parts, channel.OFFICIAL_HOSTS):
        return _l(
            "This is %(provider)s's server, but the path or token is not that of a robot webhook. "
            "A webhook address looks like %(example)s.",
            provider=channel.LABEL,
            example=channel.EXAMPLE_URL,
        )
    other = _other_official_kind(kind, parts) or _other_shape(kind, parts)
    if other or kind == "webhook":
        return other
    return _l(
        "This is not an official %(provider)s address. That is fine for an intranet gateway (nginx): "
        "use Send test message to check that it reaches the robot.",
        provider=channel.LABEL,
    )


def _other_official_kind(kind: str, parts: SplitResult) -> str | None:
    for other in KINDS:
        module = CHANNELS[other]
        if other != kind and host_is(parts, getattr(module, "OFFICIAL_HOSTS", ())):
            return _mismatch(kind, module)
    return None


def _other_shape(kind: str, parts: SplitResult) -> str | None:
    own = CHANNELS[kind]
    for other in KINDS:
        module = CHANNELS[other]
        if other != kind and module.matches_shape(parts) and not _same_api(own, module):
            return _mismatch(kind, module)
    return None


def _same_api(one: ModuleType, other: ModuleType) -> bool:
    """Feishu and Lark share one API: behind a gateway their addresses cannot be told apart."""
    return getattr(one, "API", one.KIND) == getattr(other, "API", other.KIND)


def _mismatch(kind: str, other: ModuleType) -> str:
    return _l(
        "This looks like a %(other)s address, but the kind chosen is %(kind)s.",
        other=other.LABEL,
        kind=CHANNELS[kind].LABEL,
    )
