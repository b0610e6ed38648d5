"""Reading a webhook address: its query parameters and whether its host is one of a list."""

from collections.abc import Sequence
from urllib.parse import SplitResult, parse_qsl


def query_params(parts: SplitResult) -> dict[str, str]:
    return dict(parse_qsl(parts.query, keep_blank_values=True))


def host_is(parts: SplitResult, hosts: Sequence[str]) -> bool:
    return (parts.hostname or "").lower() in hosts
