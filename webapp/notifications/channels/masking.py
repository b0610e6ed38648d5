"""Masking: credentials in webhook addresses and secrets in text, shown only by their ends."""

import functools
import re
from collections.abc import Sequence
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

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


def mask_header(name: str, value: str) -> str:
    return mask(value) if name.lower() in {"authorization", "proxy-authorization", "cookie"} else value
