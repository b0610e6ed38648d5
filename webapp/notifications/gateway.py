"""The nginx forward of SEED.md section 5: the location block for a robot and the address Herald posts to."""

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels import urls
from webapp.notifications.channels.registry import CHANNELS, KINDS

# Where each provider's robot API lives, as its channel declares: the gateway forwards only this folder, not
# the provider's whole API.
API_FOLDERS = {kind: channel.api_folder for kind, channel in CHANNELS.items() if channel.api_folder}
# Shorter than Herald's own timeouts (connect 5 s, read 10 s), so that a slow provider comes back as nginx's
# 504, which Herald explains as "the gateway could not reach the provider", rather than as a bare timeout.
CONNECT_TIMEOUT = 4
READ_TIMEOUT = 5
# Debian and Ubuntu keep the system's trusted CAs here (RHEL, CentOS: /etc/pki/tls/certs/ca-bundle.crt).
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What may appear in a path written into nginx.conf unquoted: no spaces, ";", braces, quotes or "$".
SAFE_PATH = re.compile(r"^[A-Za-z0-9._~%/:@+,=!*()-]*$")
HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])$")


class GatewayError(ValueError):
    """An address the configuration cannot be made from; `field` is "official_url" or "gateway_url"."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Forward:
    """What an operator needs: the block for nginx.conf and the address for the robot's webhook field."""

    location: str  # the nginx `location` block, ready to paste inside a server { }
    herald_url: str  # the gateway's address for this robot, token included (show it masked)
    path: str  # the location's path on the gateway, e.g. /feishu/open-apis/bot/v2/hook/
    upstream: str  # where nginx forwards to, e.g. https://open.feishu.cn/open-apis/bot/v2/hook/
    host: str  # the provider's host name, sent as Host and as TLS server name


def nginx_forward(kind: str, official_url: str, gateway_url: str) -> Forward:
    """The location block forwarding this kind of robot to its provider, and the address through it."""
    if kind not in KINDS:
        raise GatewayError(_l("Unknown kind of robot."), "official_url")
    official = _parse(official_url, "official_url")
    gateway = _parse(gateway_url, "gateway_url")
    if gateway.query or gateway.fragment:
        raise GatewayError(_l("Enter the gateway's address without “?” or “#”."), "gateway_url")
    if gateway.netloc.lower() == official.netloc.lower():
        raise GatewayError(
            _l("This is the gateway's own address: enter the robot's official address from the group."),
            "official_url",
        )
    folder = _api_folder(kind, official)
    path = f"{gateway.path.rstrip('/')}{_prefix(kind, official)}{folder}"
    host = _host_header(official)
    upstream = urlunsplit((official.scheme.lower(), host, folder, "", ""))
    herald_path = f"{gateway.path.rstrip('/')}{_prefix(kind, official)}{official.path or '/'}"
    herald_url = urlunsplit((gateway.scheme.lower(), gateway.netloc, herald_path, official.query, ""))
    block = _location_block(kind, path, upstream, host, official.scheme.lower() == "https")
    return Forward(location=block, herald_url=herald_url, path=path, upstream=upstream, host=host)


def official_address(kind: str, url: str) -> str | None:
    """The provider's own address behind a robot's webhook field, which may hold a gateway's address already.

    A robot API's path survives a forward made by nginx_forward, so the official address can be rebuilt from
    it; a generic webhook has no official host, so its address is taken as the target itself.
    """
    if kind not in KINDS:
        return None
    if (read := urls.split(url)) is None:
        return None
    parts, hostname = read
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return None
    channel = CHANNELS[kind]
    if not channel.official_hosts or hostname in channel.official_hosts:
        return urlunsplit(parts._replace(fragment=""))
    start = parts.path.find(API_FOLDERS[kind])
    if start < 0:
        return None
    host = channel.official_host
    return urlunsplit(("https", host, parts.path[start:], parts.query, ""))


def _parse(url: str, field: str) -> SplitResult:
    url = (url or "").strip()
    if not url:
        raise GatewayError(_l("Enter an address starting with http:// or https://."), field)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        raise GatewayError(_l("This address cannot be read: check the host and port."), field) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise GatewayError(_l("Enter an address starting with http:// or https://."), field)
    host = parts.netloc.rsplit("@", 1)[-1]
    if port is not None:
        host = host[: -len(f":{port}")]
    if "@" in parts.netloc or not HOST.match(host):
        raise GatewayError(_l("Enter a host name or IP address without user name or password."), field)
    if not SAFE_PATH.match(parts.path):
        raise GatewayError(
            _l("The path holds characters nginx would misread (spaces, “;”, braces, quotes or “$”)."), field
        )
    return parts


def _api_folder(kind: str, official: SplitResult) -> str:
    """The folder of the address that the gateway forwards: the robot API's, or a generic webhook's own."""
    folder = API_FOLDERS.get(kind)
    if folder is None:
        return official.path[: official.path.rfind("/") + 1] or "/"
    if not official.path.startswith(folder):
        raise GatewayError(
            _l(
                "This is not a %(provider)s robot address: it should look like %(example)s.",
                provider=CHANNELS[kind].label,
                example=CHANNELS[kind].example_url,
            ),
            "official_url",
        )
    return folder


def _prefix(kind: str, official: SplitResult) -> str:
    """The gateway's path for one provider: /feishu, /dingtalk, ...; generic webhooks one per host."""
    if not CHANNELS[kind].official_hosts:  # a generic webhook: no provider, one forward per receiver host
        return f"/{kind}/{official.hostname}"
    return f"/{kind}"


def _host_header(official: SplitResult) -> str:
    """The provider's host as it expects it in the Host header: the port only when it is not the default."""
    host = official.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    default = 443 if official.scheme.lower() == "https" else 80
    return host if official.port in (None, default) else f"{host}:{official.port}"


def _location_block(kind: str, path: str, upstream: str, host: str, tls: bool) -> str:
    lines = [
        f"# Herald → {CHANNELS[kind].label} robots",
        f"location {path} {{",
        "    # Let only Herald's server use this forward: uncomment, with its address.",
        "    # allow 10.0.0.5;",
        "    # deny all;",
        f"    proxy_pass {upstream};",
        "    proxy_http_version 1.1;",
        f"    proxy_set_header Host {host};",
        f"    proxy_connect_timeout {CONNECT_TIMEOUT}s;",
        f"    proxy_send_timeout {READ_TIMEOUT}s;",
        f"    proxy_read_timeout {READ_TIMEOUT}s;",
        "    proxy_redirect off;",
    ]
    if tls:
        lines += [
            "    # TLS to the provider: send its name (SNI) and check its certificate.",
            "    proxy_ssl_server_name on;",
            "    proxy_ssl_verify on;",
            "    proxy_ssl_verify_depth 3;",
            f"    proxy_ssl_trusted_certificate {CA_BUNDLE};",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"
