"""Reading a webhook address: its parts and host, its query parameters, whether its host is one of a list."""

from collections.abc import Sequence
from urllib.parse import SplitResult, parse_qsl, urlsplit


def split(url: str | None) -> tuple[SplitResult, str] | None:
    """The address's parts and its host in lower case; None when it cannot be read (a bad port, brackets)."""
    try:
        parts = urlsplit((url or "").strip())
        return parts, (parts.hostname or "").lower()
    except ValueError:
        return None


def query_params(parts: SplitResult) -> dict[str, str]:
    return dict(parse_qsl(parts.query, keep_blank_values=True))


def host_is(parts: SplitResult, hosts: Sequence[str]) -> bool:
    return (parts.hostname or "").lower() in hosts
