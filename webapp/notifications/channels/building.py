"""Building a request: compact JSON, the signing clock, and fitting a message within a provider's limits."""

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.message import HttpRequest

TRUNCATION_MARKER = _l("… (truncated)")
TITLE_MAX_BYTES = 512  # a title longer than this is a template mistake; keep room for the body
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def text_lines(*parts: str) -> str:
    """The non-empty parts, one a line."""
    return "\n".join(p for p in parts if p)
