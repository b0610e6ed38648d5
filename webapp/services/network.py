"""System settings → Network: the outbound proxy for robot and webhook traffic, and its Test; the allowlist of
the outbound guard (loopback, link-local and metadata addresses Herald may reach all the same).

E-mail is not proxied: Herald talks SMTP to the organisation's server directly. Without a proxy address
here, requests honours the standard HTTPS_PROXY / HTTP_PROXY / NO_PROXY variables of Herald's process.
"""

import ipaddress
import os
import re
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import NetworkSettings
from webapp.notifications import guard as outbound
from webapp.notifications import http
from webapp.notifications.channels.masking import mask_url
from webapp.notifications.channels.replies import header, raw_reply
from webapp.notifications.outcome import Outcome, Status
from webapp.services import ServiceError, audit

FIELDS = ("proxy_url", "proxy_username", "no_proxy")
SAVED_FIELDS = (*FIELDS, "outbound_allow")
# A request to a host on the no-proxy list: no proxy at all, not even one from the environment.
DIRECT: dict[str, str | None] = {"http": None, "https": None, "all": None}
ENVIRONMENT = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
NO_PROXY_SPLIT = re.compile(r"[\s,;，；、]+")
NAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
REPLY_CHARS = 2000  # how much of the test reply the result box shows


@dataclass(frozen=True)
class ProxySettings:
    """The proxy as requests takes it; empty url: none set here (the environment decides)."""

    url: str = ""
    username: str = ""
    password: str = ""
    no_proxy: str = ""

    @property
    def address(self) -> str:
        """The proxy URL with its login, percent-encoded, as requests expects it."""
        if not self.url or not self.username:
            return self.url
        parts = urlsplit(self.url)
        login = quote(self.username, safe="")
        if self.password:
            login += ":" + quote(self.password, safe="")
        return parts._replace(netloc=f"{login}@{parts.netloc}").geturl()

    @property
    def shown(self) -> str:
        """The proxy for a page: its address and user name, never the password."""
        if not self.url or not self.username:
            return self.url
        parts = urlsplit(self.url)
        return parts._replace(netloc=f"{quote(self.username, safe='')}@{parts.netloc}").geturl()


@dataclass(frozen=True)
class Check:
    """The result of Test: the outcome, how long it took, and which way the request went."""

    outcome: Outcome
    seconds: float
    route: str
    url: str


def network_settings() -> NetworkSettings:
    """The stored Network settings, or empty unsaved ones (no proxy: the environment decides)."""
    return db.session.get(NetworkSettings, 1) or NetworkSettings(
        id=1, proxy_url="", proxy_username="", proxy_password="", no_proxy="", outbound_allow=""
    )


def save_network_settings(
    values: dict,
    new_password: str | None = None,
    clear_password: bool = False,
    by: audit.Actor | None = None,
) -> NetworkSettings:
    """Store the settings; the password changes only when a new one is given or clearing is asked for."""
    problem = proxy_url_problem(values.get("proxy_url", ""))
    if problem:
        raise ServiceError(problem, "proxy_url")
    bad = bad_no_proxy_entries(values.get("no_proxy", ""))
    if bad:
        raise ServiceError(no_proxy_message(bad), "no_proxy")
    problem = allowlist_problem(values.get("outbound_allow", ""))
    if problem:
        raise ServiceError(problem, "outbound_allow")
    settings = network_settings()
    allow = values.get("outbound_allow", settings.outbound_allow or "")
    problem = proxy_refused(values.get("proxy_url", settings.proxy_url), outbound_guard(allow))
    if problem:
        raise ServiceError(problem, "proxy_url")
    changed = [name for name in SAVED_FIELDS if name in values and getattr(settings, name) != values[name]]
    for name in SAVED_FIELDS:
        if name in values:
            setattr(settings, name, values[name])
    settings.proxy_url = normal_proxy_url(settings.proxy_url)
    settings.no_proxy = ", ".join(no_proxy_entries(settings.no_proxy))
    settings.outbound_allow = ", ".join(outbound.entries(settings.outbound_allow or ""))
    if clear_password or new_password:
        settings.proxy_password = "" if clear_password else new_password
        changed.append("proxy_password")
    db.session.add(settings)
    audit.record("settings.network", by, fields=changed)  # the names of what changed, never a value
    db.session.commit()
    return settings


def proxy_settings(
    values: dict | None = None, new_password: str | None = None, clear_password: bool = False
) -> ProxySettings:
    """The stored proxy overlaid with a form's unsaved values (a blank password keeps the stored one)."""
    stored = network_settings()
    merged = {name: getattr(stored, name) or "" for name in FIELDS}
    merged.update({k: v for k, v in (values or {}).items() if k in FIELDS})
    password = "" if clear_password else (new_password or stored.proxy_password or "")
    return ProxySettings(
        url=normal_proxy_url(merged["proxy_url"]),
        username=merged["proxy_username"].strip(),
        password=password,
        no_proxy=merged["no_proxy"],
    )


def proxies_for(url: str, settings: ProxySettings | None = None) -> dict[str, str | None] | None:
    """The proxies for a request to url: None (no proxy here: the environment's), DIRECT, or the proxy."""
    settings = settings if settings is not None else proxy_settings()
    if not settings.url:
        return None
    if bypassed(url, settings.no_proxy):
        return dict(DIRECT)
    return {"http": settings.address, "https": settings.address}


def outbound_guard(allow: str | None = None) -> outbound.Guard:
    """The outbound guard: HERALD_OUTBOUND_ALLOW's entries and the stored allowlist (or the given one)."""
    if allow is None:
        allow = network_settings().outbound_allow or ""
    configured = current_app.config.get("OUTBOUND_ALLOW", "") or ""
    return outbound.parse(f"{configured}, {allow}")


def configured_allowance() -> list[str]:
    """The entries HERALD_OUTBOUND_ALLOW adds, for the page."""
    return outbound.entries(current_app.config.get("OUTBOUND_ALLOW", "") or "")


# --- checking what an administrator types ----------------------------------------------------------------


def allowlist_problem(text: str | None) -> str | None:
    """What is wrong with an allowlist as typed; None when every entry is one the guard understands."""
    bad = outbound.bad_entries(text or "")
    return allow_message(bad) if bad else None


def allow_message(bad: list[str]) -> str:
    return str(
        _l(
            "These are not IP addresses, networks, host names or .domains: %(entries)s. "
            "Write e.g. 127.0.0.1, 127.0.0.0/8, gateway.intra, .corp.example.com (no ports, no *).",
            entries=", ".join(bad),
        )
    )


def proxy_refused(url: str, guard: outbound.Guard) -> str | None:
    """The message for a proxy address that is an IP address the guard refuses, or None."""
    try:
        host = urlsplit(normal_proxy_url(url)).hostname or ""
    except ValueError:
        return None
    return outbound.literal_problem(host, guard)


def normal_proxy_url(url: str) -> str:
    """The proxy address without spaces or a trailing slash."""
    return (url or "").strip().rstrip("/")


def proxy_url_problem(url: str) -> str | None:
    """Why a proxy address cannot be used, or None (an empty one is fine: no proxy)."""
    url = normal_proxy_url(url)
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number or out of range
    except ValueError:
        return str(_l("This address cannot be read: check the host and the port."))
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return str(
            _l("Enter the proxy's address starting with http:// or https://, e.g. http://proxy.intra:3128.")
        )
    if "@" in parts.netloc:
        return str(_l("Enter the user name and password in their own fields, not in the address."))
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return str(_l("Enter only the proxy's scheme, host and port, e.g. http://proxy.intra:3128."))
    return None


def no_proxy_entries(text: str) -> list[str]:
    """The entries of a no-proxy list, separated by commas, semicolons, spaces or new lines."""
    return [entry for entry in NO_PROXY_SPLIT.split((text or "").strip().lower()) if entry]


def bad_no_proxy_entries(text: str) -> list[str]:
    """The entries that are neither a host, a domain, an IP address, a network (CIDR) nor "*"."""
    return [entry for entry in no_proxy_entries(text) if _parse_entry(entry) is None]


def no_proxy_message(bad: list[str]) -> str:
    return str(
        _l(
            "These are not host names, domains, IP addresses or networks: %(entries)s. "
            "Write e.g. gateway.intra, .corp.example.com, 10.0.0.0/8.",
            entries=", ".join(bad),
        )
    )


def _parse_entry(entry: str):
    """("any",), ("net", network, port) or ("name", domain, port); None for an entry that cannot be read."""
    if entry == "*":
        return ("any",)
    host, port = entry, None
    if host.startswith("["):  # [::1] or [::1]:8080
        host, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif host.count(":") == 1:
        host, port = host.split(":")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    port = int(port) if port else None
    try:
        return ("net", ipaddress.ip_network(host, strict=False), port)
    except ValueError:
        pass
    domain = host.removeprefix("*.").lstrip(".")
    return ("name", domain, port) if NAME.match(domain) else None


def bypassed(url: str, no_proxy: str) -> bool:
    """Whether a request to url goes direct: its host is on the list, or within a domain or network on it."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    for entry in no_proxy_entries(no_proxy):
        rule = _parse_entry(entry)
        if rule is not None and _matches(rule, host, port):
            return True
    return False


def _matches(rule: tuple, host: str, port: int) -> bool:
    if rule[0] == "any":
        return True
    kind, target, wanted_port = rule
    if wanted_port is not None and wanted_port != port:
        return False
    if kind == "net":
        try:
            return ipaddress.ip_address(host) in target
        except ValueError:
            return False
    return host == target or host.endswith("." + target)


def environment_proxies() -> list[tuple[str, str]]:
    """The proxy variables Herald's process sees (passwords masked): they apply while none is set here."""
    found = []
    for name in ENVIRONMENT:
        value = os.environ.get(name) or os.environ.get(name.lower())
        if value:
            found.append((name, value if name == "NO_PROXY" else mask_url(value)))
    return found


# --- Test --------------------------------------------------------------------------------------------------


def test_url_problem(url: str) -> str | None:
    """Why an address cannot be tried, or None."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return str(_l("This address cannot be read."))
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return str(
            _l("Enter a full address starting with http:// or https://, e.g. https://open.feishu.cn/.")
        )
    return None


test_url_problem.__test__ = False  # not a pytest test, though its name says so


def test_proxy(values: dict, new_password: str | None, url: str, clear_password: bool = False) -> Check:
    """Reach url the way a robot message would go, with these (maybe unsaved) settings; nothing is saved."""
    settings = proxy_settings(values, new_password, clear_password)
    guard = outbound_guard(values.get("outbound_allow"))
    url = url.strip()
    route = proxies_for(url, settings)
    proxy = http.proxy_for(url, route)
    timeout = (
        current_app.config.get("ROBOT_CONNECT_TIMEOUT", 5),
        current_app.config.get("ROBOT_READ_TIMEOUT", 10),
    )
    started = time.monotonic()
    try:
        http.check_target(url, guard, proxy)
        with http.guarded_session(guard) as session:
            response = session.get(url, proxies=route, timeout=timeout, allow_redirects=False, stream=True)
            text = _some_text(response)
    except requests.RequestException as error:
        outcome = http.network_failure(error, url, proxies=route)
    else:
        outcome = _reached(response, text, url, proxy, settings)
    return Check(outcome, time.monotonic() - started, _route(url, settings, proxy), mask_url(url))


test_proxy.__test__ = False


def _some_text(response: requests.Response) -> str:
    """The start of the reply: enough to explain it, without downloading a whole page."""
    with response:
        data = response.raw.read(REPLY_CHARS * 4, decode_content=True) or b""
    return data.decode(response.encoding or "utf-8", errors="replace")[:REPLY_CHARS]


def _reached(
    response: requests.Response, text: str, url: str, proxy: str, settings: ProxySettings
) -> Outcome:
    """An HTTP reply: the proxy's own refusal (407, 403, 5xx made by the proxy), or the host's answer."""
    status, headers = response.status_code, response.headers
    secrets = [s for s in (settings.password, quote(settings.password, safe="")) if s]
    raw = raw_reply(status, text, secrets)
    host = urlsplit(url).hostname or ""
    # What a proxy says itself carries no Via header (a reply it forwards does) or names its error.
    own = proxy and (not header(headers, "Via") or header(headers, "X-Squid-Error"))
    if status == 407 or (own and (status in (401, 403) or status >= 500)):
        return http.proxy_refusal(status, raw, host, has_login=bool(urlsplit(proxy).username))
    return Outcome(
        Status.SENT,
        _l("%(host)s answered with HTTP %(status)s: the way there works.", host=host, status=status),
        _l(
            "Any answer from the host shows that Herald reaches it; whether a robot accepts a message is "
            "checked with Send test message on the robot."
        ),
        f"HTTP {status}",
        raw,
    )


def _route(url: str, settings: ProxySettings, proxy: str) -> str:
    """Which way the test went, in words."""
    host = urlsplit(url).hostname or ""
    if settings.url and not proxy:
        return str(_l("directly: %(host)s is on the no-proxy list", host=host))
    if settings.url:
        return str(_l("through the proxy %(proxy)s", proxy=settings.shown))
    if proxy:
        return str(
            _l("through %(proxy)s, from the environment (HTTPS_PROXY / HTTP_PROXY)", proxy=mask_url(proxy))
        )
    return str(_l("directly: no proxy is set here or in the environment"))
