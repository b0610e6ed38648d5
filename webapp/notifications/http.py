"""Posting a robot's request over HTTP: pooled connections, bounded timeouts, network failures explained."""

import functools
import os
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests
from flask_babel import lazy_gettext as _l
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from webapp.notifications import guard as outbound
from webapp.notifications.channels.masking import scrub
from webapp.notifications.channels.message import HttpRequest
from webapp.notifications.channels.registry import gateway_address
from webapp.notifications.outcome import Outcome, Status

_local = threading.local()
# How urllib3 reports a proxy's refusal of a CONNECT: "Tunnel connection failed: 407 Proxy Authentication ..."
TUNNEL_STATUS = re.compile(r"Tunnel connection failed: (\d{3})")


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: dict[str, str]
    text: str


# The variables that decide the environment's proxy for an http or https address (urllib ignores HTTP_PROXY
# when REQUEST_METHOD says it runs as a CGI script).
_ENVIRONMENT = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
)
# What a requests.Session sends with every request (User-Agent, Accept, Accept-Encoding, Connection).
_DEFAULT_HEADERS = requests.utils.default_headers()


class GuardRefused(NewConnectionError):
    """urllib3's form of the guard's refusal: a connection that was not opened."""

    def __init__(self, conn, error: outbound.AddressRefused) -> None:
        super().__init__(conn, str(error))
        self.refusal = error.refusal


class _Guarded:
    """A connection that resolves its host itself and opens a socket only to an address the guard allows.

    Behind a proxy the host is the proxy's: the proxy is what Herald connects to.
    """

    guard: outbound.Guard = outbound.STRICT

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        try:
            addresses = self.guard.addresses(host, self.port, allowed_gai_family())
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        except outbound.AddressRefused as error:
            raise GuardRefused(self, error) from error
        failure = None
        for address in addresses:  # as create_connection would: the next address when one fails
            self._dns_host = address
            try:
                return super()._new_conn()
            except ConnectTimeoutError as error:
                failure = error
            finally:
                self._dns_host = host
        raise failure


@functools.cache
def _pool_classes(guard: outbound.Guard) -> dict[str, type]:
    """urllib3's pool classes whose connections are checked by this guard."""
    plain = type("GuardedHTTPConnection", (_Guarded, HTTPConnection), {"guard": guard})
    secure = type("GuardedHTTPSConnection", (_Guarded, HTTPSConnection), {"guard": guard})
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": secure}),
    }


class GuardedAdapter(HTTPAdapter):
    """requests' transport adapter whose every new connection, direct or to a proxy, passes the guard."""

    def __init__(self, guard: outbound.Guard = outbound.STRICT, **kwargs) -> None:
        self.guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.guard)

    def proxy_manager_for(self, proxy: str, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _pool_classes(self.guard)
        return manager


def guarded_session(guard: outbound.Guard) -> requests.Session:
    """A requests Session whose connections pass the guard (System settings → Network's Test)."""
    session = requests.Session()
    adapter = GuardedAdapter(guard)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def check_target(url: str, guard: outbound.Guard, proxy: str | None) -> None:
    """Refuse a request whose host is a refused IP address (or, through the proxy, the proxy's own machine)
    before anything is connected; the connection itself (to the host or the proxy) is the adapter's check."""
    refusal = guard.target_refusal(urlsplit(url).hostname or "", bool(proxy))
    if refusal is not None:
        raise requests.exceptions.ConnectionError(outbound.AddressRefused(refusal))


def _adapter(guard: outbound.Guard) -> HTTPAdapter:
    """This thread's connection pools for this guard (requests' transport adapter is not meant to be shared
    by threads).

    Herald posts through requests' transport adapter itself, not a Session: a Session would read every proxy
    variable and look for a netrc login on every request, keep cookies between robots, run hooks and look for
    redirects, a quarter of the time of a post to a nearby server. post() reads the environment itself, once
    per address and state of the proxy variables. Another allowlist gets new pools: no connection opened
    under a wider one is used after it has been narrowed.
    """
    adapter = getattr(_local, "adapter", None)
    if adapter is None or (adapter.guard is not guard and adapter.guard != guard):
        if adapter is not None:
            adapter.close()
        adapter = _local.adapter = GuardedAdapter(guard)
    return adapter


def post(
    request: HttpRequest,
    timeout: tuple[float, float] = (5, 10),
    proxies: dict[str, str] | None = None,
    guard: outbound.Guard = outbound.STRICT,
) -> Reply:
    """Send the request exactly as built: URL untouched, body bytes as signed; no redirect is followed.

    proxies: Herald's own (System settings → Network), completed from the environment as requests does
    (HTTPS_PROXY and the like, NO_PROXY); None: the environment's alone. The CA bundle of
    REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) is honoured as well. guard: the allowlist for loopback,
    link-local and metadata addresses (none by default); a refusal raises requests' ConnectionError.
    """
    route = _with_environment(request.url, proxies)
    check_target(request.url, guard, requests.utils.select_proxy(request.url, route) if route else None)
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=request.method,
        url=request.url,
        headers={**_DEFAULT_HEADERS, **request.headers},
        data=request.body,
    )
    response = _adapter(guard).send(
        prepared,
        timeout=timeout,
        proxies=route,
        verify=os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True,
    )
    # Reading the whole body hands the connection back to the pool (keep-alive), as a Session does.
    return Reply(response.status_code, dict(response.headers), response.text)


def _with_environment(url: str, proxies: Mapping[str, str | None] | None) -> dict[str, str]:
    """The proxies for url: the given ones, the environment's for the schemes they leave out (as requests)."""
    merged = dict(proxies or {})
    environment = tuple(os.environ.get(name) for name in _ENVIRONMENT)
    for scheme, address in _environment_proxies(url, merged.get("no_proxy"), environment).items():
        merged.setdefault(scheme, address)
    # A scheme set to None (a host on Herald's no-proxy list) goes direct, even if the environment has one.
    return {scheme: address for scheme, address in merged.items() if address is not None}


@functools.lru_cache(maxsize=512)
def _environment_proxies(url: str, no_proxy: str | None, environment: tuple) -> dict[str, str]:
    """The environment's proxies for url; cached per state of the proxy variables (`environment`)."""
    return requests.utils.get_environ_proxies(url, no_proxy=no_proxy)


def proxy_for(url: str, proxies: Mapping[str, str | None] | None) -> str:
    """The proxy a request to url goes through: from the given mapping, else from the environment; or ""."""
    if proxies is None:
        proxies = requests.utils.get_environ_proxies(url)
    return requests.utils.select_proxy(url, dict(proxies)) or ""


def _scrub_proxy(text: str, proxy: str) -> str:
    """The text without the proxy's password (an error message may quote the proxy's address)."""
    try:
        password = urlsplit(proxy).password
    except ValueError:
        return text
    return scrub(text, [password, quote(password, safe="")]) if password else text


def network_failure(
    error: requests.RequestException,
    url: str = "",
    *,
    kind: str = "",
    proxies: Mapping[str, str | None] | None = None,
) -> Outcome:
    """What a failure before any reply means, in plain words; all are temporary but a bad address.

    With the address, the robot's kind and the proxies used, the words name the outbound proxy or the
    intranet gateway (nginx) when one of them is where it failed.
    """
    proxy = proxy_for(url, proxies) if url else ""
    raw = _scrub_proxy(f"{type(error).__name__}: {error}", proxy)
    refusal = outbound.refusal_in(error)
    if refusal is not None:
        return outbound.refused_outcome(refusal, raw)
    host = urlsplit(url).hostname or "" if url else ""
    if isinstance(error, requests.exceptions.ProxyError):
        return proxy_failure(str(error), raw, proxy, host)
    if isinstance(error, requests.exceptions.SSLError):
        return _tls_failure(str(error), raw, proxy)
    if proxy and _cut_off(error):
        return Outcome(
            Status.RETRY,
            _l(
                "The outbound proxy (%(proxy)s) closed the connection before a whole answer came: proxies "
                "do that when they refuse a request, e.g. for a missing login (407).",
                proxy=_proxy_display(proxy),
            ),
            _l(
                "Press Test in System settings → Network with this address to see the proxy's own answer, "
                "and check the proxy's user name and password there."
            ),
            "proxy",
            raw,
        )
    gateway = gateway_address(kind, url) if url else None
    if gateway and not proxy:
        failure = _gateway_failure(error, raw, gateway)
        if failure is not None:
            return failure
    return _network_failure(error, raw)


def _tls_failure(text: str, raw: str, proxy: str) -> Outcome:
    if proxy:
        return Outcome(
            Status.FAILED,
            _l(
                "The secure connection through the proxy failed: the certificate that came back was not "
                "trusted, or TLS did not agree. A proxy that inspects TLS shows its own certificate."
            ),
            _l(
                "If your proxy inspects TLS, give Herald its CA: set REQUESTS_CA_BUNDLE to a file holding "
                "the system's CAs plus the proxy's, and restart Herald; or ask for the robot hosts to be "
                "left out of inspection."
            ),
            "tls",
            raw,
        )
    return Outcome(
        Status.FAILED,
        _l("The secure connection failed: the certificate was not trusted or TLS did not agree."),
        _l("Use https only where the server speaks TLS, and check the server's certificate."),
        "tls",
        raw,
    )


def proxy_failure(text: str, raw: str, proxy: str, host: str) -> Outcome:
    """Why the outbound proxy did not carry a request: refused, login, cannot reach the host, TLS, time."""
    where = _proxy_display(proxy)
    tunnel = TUNNEL_STATUS.search(text)
    if tunnel:
        return proxy_refusal(int(tunnel[1]), raw, host, has_login=bool(urlsplit(proxy).username))
    if "NameResolutionError" in text or "Name or service not known" in text or "name resolution" in text:
        return Outcome(
            Status.RETRY,
            _l("The outbound proxy's host name cannot be resolved (%(proxy)s).", proxy=where),
            _l("Check the proxy address in System settings → Network (or HTTPS_PROXY)."),
            "proxy",
            raw,
        )
    if "SSL" in text:
        return Outcome(
            Status.FAILED,
            _l("The secure connection to the proxy itself failed (%(proxy)s).", proxy=where),
            _l(
                "Most proxies speak plain http even for https sites: write the proxy address with http://. "
                "If yours does speak TLS, its certificate must be trusted (REQUESTS_CA_BUNDLE)."
            ),
            "proxy",
            raw,
        )
    if "timed out" in text.lower() or "Timeout" in text:
        fix = _l("Check the proxy's address and port, and that a firewall lets Herald's server reach it.")
        if proxy.lower().startswith("https://"):
            fix = _l(
                "The proxy address starts with https://, but most proxies speak plain http: try http://. "
                "Otherwise check the address and port."
            )
        return Outcome(
            Status.RETRY,
            _l("The outbound proxy (%(proxy)s) did not answer in time.", proxy=where),
            fix,
            "proxy",
            raw,
        )
    return Outcome(
        Status.RETRY,
        _l("The outbound proxy refused the connection: nothing answers at %(proxy)s.", proxy=where),
        _l(
            "Check the proxy address and port in System settings → Network (or HTTPS_PROXY), and that the "
            "proxy is running."
        ),
        "proxy",
        raw,
    )


def proxy_refusal(status: int, raw: str, host: str, has_login: bool) -> Outcome:
    """What the proxy's own answer to a request for host means (407, 403, 5xx ...)."""
    code = f"HTTP {status}"
    if status in (401, 407):
        return Outcome(
            Status.FAILED,
            _l("The proxy refused the user name and password (HTTP %(status)s).", status=status)
            if has_login
            else _l("The proxy asks for a user name and password (HTTP %(status)s).", status=status),
            _l("Enter the proxy's user name and password in System settings → Network, then Test."),
            code,
            raw,
        )
    if status == 403:
        return Outcome(
            Status.FAILED,
            _l("The proxy does not allow Herald to reach %(host)s (HTTP 403).", host=host),
            _l(
                "Ask the proxy's administrator to allow Herald's server to reach %(host)s on port 443 "
                "(its access rules, or the ports it lets CONNECT through).",
                host=host,
            ),
            code,
            raw,
        )
    if status >= 500:
        return Outcome(
            Status.RETRY,
            _l(
                "The proxy could not reach %(host)s (HTTP %(status)s from the proxy).",
                host=host,
                status=status,
            ),
            _l(
                "The proxy itself has no way to %(host)s: ask its administrator to check its name "
                "resolution, firewall or upstream proxy for that host. Herald tries again later.",
                host=host,
            ),
            code,
            raw,
        )
    return Outcome(
        Status.FAILED,
        _l("The proxy refused to connect to %(host)s (HTTP %(status)s).", host=host, status=status),
        _l("Check the proxy settings with Test in System settings → Network."),
        code,
        raw,
    )


def _proxy_display(proxy: str) -> str:
    """The proxy's address without its login, for a message."""
    try:
        parts = urlsplit(proxy)
    except ValueError:
        return "?"
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}" if parts.netloc else "?"


def _gateway_failure(error: requests.RequestException, raw: str, gateway: str) -> Outcome | None:
    """A failure to reach the intranet gateway (nginx) that stands for the provider."""
    text = str(error)
    if isinstance(error, requests.exceptions.Timeout):
        return Outcome(
            Status.RETRY,
            _l("The gateway at %(gateway)s did not answer in time.", gateway=gateway),
            _l(
                "Check that a firewall lets Herald's server reach the gateway's port. nginx's own timeouts "
                "are shorter than Herald's, so a slow provider would have come back as HTTP 504."
            ),
            "timeout",
            raw,
        )
    if not isinstance(error, requests.exceptions.ConnectionError):
        return None
    if _unresolved(text):
        return Outcome(
            Status.RETRY,
            _l("The gateway's host name in %(gateway)s cannot be resolved.", gateway=gateway),
            _l("Check the spelling of the gateway's name in the webhook address, or use its IP address."),
            "connection",
            raw,
        )
    return Outcome(
        Status.RETRY,
        _l(
            "The gateway at %(gateway)s refused the connection: the gateway is down or the address is wrong.",
            gateway=gateway,
        ),
        _l(
            "On the gateway host, check that nginx runs (systemctl status nginx) and listens on this port "
            "(the listen line in nginx.conf); check that the webhook address names that host and port."
        ),
        "connection",
        raw,
    )


def _cut_off(error: requests.RequestException) -> bool:
    """Whether the other side closed the connection mid-answer (a reset, or a reply cut short)."""
    if not isinstance(error, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        return False
    text = str(error)
    return "reset by peer" in text or "Connection aborted" in text or "RemoteDisconnected" in text


def _unresolved(text: str) -> bool:
    return "Name or service not known" in text or "NameResolutionError" in text or "getaddrinfo" in text


def _network_failure(error: requests.RequestException, raw: str) -> Outcome:
    """The generic reading of a failure before any reply."""
    if isinstance(error, requests.exceptions.Timeout):
        return Outcome(
            Status.RETRY,
            _l("The server did not answer in time."),
            _l("Herald will try again. If it keeps happening, check the network path to the address."),
            "timeout",
            raw,
        )
    if isinstance(error, requests.exceptions.ConnectionError):
        if _unresolved(str(error)):
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
