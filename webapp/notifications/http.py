"""Posting a robot's request over HTTP: one pooled session, bounded timeouts, network failures explained."""

import threading
from dataclasses import dataclass

import requests
from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.base import HttpRequest
from webapp.notifications.outcome import Outcome, Status

_local = threading.local()


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: dict[str, str]
    text: str


def _session() -> requests.Session:
    """A keep-alive session per worker thread (requests.Session is not thread-safe to share)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def post(
    request: HttpRequest, timeout: tuple[float, float] = (5, 10), proxies: dict[str, str] | None = None
) -> Reply:
    """Send the request exactly as built: URL untouched, body bytes as signed."""
    session = _session()
    response = session.request(
        request.method,
        request.url,
        headers=dict(request.headers),
        data=request.body,
        timeout=timeout,
        proxies=proxies,
        allow_redirects=False,
    )
    return Reply(response.status_code, dict(response.headers), response.text)


def network_failure(error: requests.RequestException) -> Outcome:
    """What a failure before any reply means, in plain words; all are temporary but a bad address."""
    raw = f"{type(error).__name__}: {error}"
    if isinstance(error, requests.exceptions.ProxyError):
        return Outcome(
            Status.RETRY,
            _l("The outbound proxy refused the connection or could not be reached."),
            _l("Check the proxy address in System settings → Network, and that the proxy is running."),
            "proxy",
            raw,
        )
    if isinstance(error, requests.exceptions.SSLError):
        return Outcome(
            Status.FAILED,
            _l("The secure connection failed: the certificate was not trusted or TLS did not agree."),
            _l("Use https only where the server speaks TLS, and check the server's certificate."),
            "tls",
            raw,
        )
    if isinstance(error, requests.exceptions.Timeout):
        return Outcome(
            Status.RETRY,
            _l("The server did not answer in time."),
            _l("Herald will try again. If it keeps happening, check the network path to the address."),
            "timeout",
            raw,
        )
    if isinstance(error, requests.exceptions.ConnectionError):
        text = str(error)
        if "Name or service not known" in text or "NameResolutionError" in text or "getaddrinfo" in text:
            cause = _l("The host name in the address cannot be resolved.")
            fix = _l("Check the spelling of the address; in an intranet, use the gateway's address.")
        else:
            cause = _l("Nothing answers at this address: the connection was refused or the network is down.")
            fix = _l("Check the address and port; behind a gateway, check that the gateway is running.")
        return Outcome(Status.RETRY, cause, fix, "connection", raw)
    if isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return Outcome(
            Status.FAILED,
            _l("The webhook address is not a valid URL."),
            _l("Copy the address again."),
            "url",
            raw,
        )
    return Outcome(Status.RETRY, _l("The request failed: %(error)s", error=str(error)), "", "network", raw)
