"""The outbound guard: no connection to loopback, link-local or cloud-metadata addresses unless allowed.

Robots, webhooks, the outbound proxy and the SMTP server are set by administrators, and what a robot's address
answers is shown in the delivery log. Without a guard, an address such as http://169.254.169.254/ would turn
Herald into a reader of its own server's and cloud's internals. The check is made on each address a connection
is actually opened to, after name resolution (http.py and smtp.py connect only to an address that passed), so
a name that resolves differently from one moment to the next cannot slip past it.

Private networks (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: Herald lives in intranets, and an nginx
gateway commonly sits there. What the guard refuses is allowed again by an entry of the allowlist (System
settings → Network, and HERALD_OUTBOUND_ALLOW): an IP address, a network (CIDR), a host name, or a domain
written with a leading dot.
"""

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from webapp.notifications.outcome import Outcome, Status

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The server itself, its link, and the clouds' instance-metadata services.
REFUSED_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this host": a connection to 0.0.0.0 reaches the server itself
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local: 169.254.169.254 (AWS, Azure, GCP, Huawei), 169.254.0.23 (Tencent)
        "100.100.100.200/32",  # Alibaba Cloud's metadata service
        "::/128",
        "::1/128",
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS's metadata service over IPv6
    )
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.ip_network("::/96")
# Names that mean the machine itself wherever they are resolved (through a proxy: on the proxy's machine).
LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata.google.internal")
SPLIT = re.compile(r"[\s,;，；、]+")
NAME = re.compile(r"^(?:\*?\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")


def refused_address(address: Address) -> bool:
    """Whether an address is one the guard keeps out of reach (IPv4 written inside IPv6 included)."""
    if address.version == 6:
        inner = _embedded_ipv4(address)
        if inner is not None and refused_address(inner):
            return True
    return any(address in network for network in REFUSED_NETWORKS)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _COMPATIBLE or any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def literal(host: str) -> Address | None:
    """The IP address a host is written as, or None for a name."""
    if not host or not (host[0].isdigit() or ":" in host or host[0] == "["):
        return None  # a name, told apart without the cost of a failed parse (once per message)
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:  # the forms the C library reads as IPv4 too, which a proxy may: 127.1, 0x7f.0.0.1, 2130706433
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


@dataclass(frozen=True)
class Refusal:
    """What the guard refused: the host as written, and the address it leads to."""

    host: str
    address: str


class AddressRefused(OSError):
    """A connection the guard refused; raised before anything is sent to the address."""

    def __init__(self, refusal: Refusal):
        where = refusal.host if refusal.host == refusal.address else f"{refusal.host} ({refusal.address})"
        super().__init__(
            f"Herald's outbound guard refused {where}: a loopback, link-local or cloud metadata address"
        )
        self.refusal = refusal


@dataclass(frozen=True)
class Guard:
    """The allowlist: networks whose addresses may be reached, and host names (".domain": its sub-domains)."""

    networks: tuple[Network, ...] = ()
    names: tuple[str, ...] = ()

    def name_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".").strip("[]")
        return any(host == name or (name.startswith(".") and host.endswith(name)) for name in self.names)

    def allows(self, host: str, address: Address) -> bool:
        """Whether a connection to address, found for host, may be opened."""
        if not refused_address(address):
            return True
        return any(address in network for network in self.networks) or self.name_allowed(host)

    def addresses(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[str]:
        """The addresses host resolves to that may be connected to, in the resolver's order.

        Raises socket.gaierror when the name does not resolve, AddressRefused when every address is refused.
        """
        found = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        allowed = []
        for *_, sockaddr in found:
            if self.allows(host, ipaddress.ip_address(sockaddr[0])):
                allowed.append(sockaddr[0])
        if not allowed:
            raise AddressRefused(Refusal(host, found[0][4][0] if found else host))
        return list(dict.fromkeys(allowed))

    def target_refusal(self, host: str, proxied: bool) -> Refusal | None:
        """Why a request's host is refused before any connection: a refused IP literal; through a proxy
        (which resolves names itself) also a name that means the proxy's own machine."""
        address = literal(host)
        if address is not None:
            return None if self.allows(host, address) else Refusal(host, str(address))
        name = host.lower().rstrip(".")
        if proxied and (name in LOCAL_NAMES or name.endswith(".localhost")) and not self.name_allowed(name):
            return Refusal(host, name)
        return None


STRICT = Guard()


def entries(text: str) -> list[str]:
    """The entries of an allowlist, separated by commas, semicolons, spaces or new lines."""
    return [entry for entry in SPLIT.split((text or "").strip().lower()) if entry]


def bad_entries(text: str) -> list[str]:
    """The entries that are neither an IP address, a network (CIDR), a host name nor a .domain."""
    return [entry for entry in entries(text) if _parse(entry) is None]


def _parse(entry: str) -> Network | str | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        pass
    if not NAME.match(entry):
        return None
    return "." + entry.lstrip("*.") if entry.startswith((".", "*.")) else entry


@functools.lru_cache(maxsize=64)
def parse(text: str) -> Guard:
    """The guard for an allowlist (unreadable entries left out); the same text gives the same guard."""
    parsed = [value for value in map(_parse, entries(text)) if value is not None]
    return Guard(
        networks=tuple(value for value in parsed if not isinstance(value, str)),
        names=tuple(value for value in parsed if isinstance(value, str)),
    )


def refusal_in(error: BaseException | None, depth: int = 0) -> Refusal | None:
    """The guard's refusal behind an error, however the HTTP or SMTP library wrapped it."""
    if error is None or depth > 8:
        return None
    refusal = getattr(error, "refusal", None)
    if isinstance(refusal, Refusal):
        return refusal
    inner = [getattr(error, "reason", None), error.__cause__, error.__context__]
    inner += [arg for arg in getattr(error, "args", ()) if isinstance(arg, BaseException)]
    for candidate in inner:
        if isinstance(candidate, BaseException) and candidate is not error:
            found = refusal_in(candidate, depth + 1)
            if found is not None:
                return found
    return None


def refused_outcome(refusal: Refusal, raw: str = "") -> Outcome:
    """Failed for good: the address leads inside Herald's own server or cloud, and nobody allowed it."""
    if refusal.host == refusal.address:
        cause = _l(
            "Herald does not connect to %(address)s: it is a loopback, link-local or cloud metadata address "
            "(a service on Herald's own server or its cloud), refused unless an administrator allows it.",
            address=refusal.address,
        )
    else:
        cause = _l(
            "Herald does not connect to %(host)s: it leads to %(address)s, a loopback, link-local or cloud "
            "metadata address (a service on Herald's own server or its cloud), refused unless an "
            "administrator allows it.",
            host=refusal.host,
            address=refusal.address,
        )
    fix = _l(
        "If this is where it should go (say an nginx gateway on Herald's own server), an administrator "
        "adds %(entry)s to Allowed internal addresses in System settings → Network; otherwise correct the "
        "address.",
        entry=refusal.host.strip("[]"),
    )
    return Outcome(Status.FAILED, cause, fix, "guard", raw or str(AddressRefused(refusal)))


def literal_problem(host: str, guard: Guard) -> str | None:
    """The message next to a field whose host is an IP address the guard refuses, or None."""
    address = literal(host or "")
    if address is None or guard.allows(host, address):
        return None
    return str(
        _l(
            "Herald does not connect to %(address)s: it is a loopback, link-local or cloud metadata address. "
            "If this is intended (say an nginx gateway on Herald's own server), allow it first under Allowed "
            "internal addresses in System settings → Network.",
            address=str(address),
        )
    )
