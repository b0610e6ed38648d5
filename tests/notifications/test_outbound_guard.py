"""The outbound guard: robots, webhooks, the proxy and the SMTP server never reach loopback, link-local or
metadata addresses unless an administrator allows them, decided on the address actually connected to."""

import ipaddress
import socket

import pytest
import requests
import urllib3.util.connection

from tests.notifications.helpers import add_robot
from tests.notifications.test_http_post import Receiver, url
from webapp.extensions import db
from webapp.models import Delivery
from webapp.notifications import guard, http
from webapp.notifications.channels.base import HttpRequest
from webapp.notifications.outcome import Status
from webapp.notifications.smtp import test_connection
from webapp.services import cases as case_service
from webapp.services import network as network_service
from webapp.services.cases import CaseInput

PUBLIC = "203.0.113.7"  # TEST-NET-3: an address the guard lets through (nothing answers there)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.10.20.30",
        "0.0.0.0",
        "169.254.169.254",
        "169.254.0.23",
        "100.100.100.200",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
    ],
)
def test_loopback_link_local_and_metadata_addresses_are_refused(address):
    assert guard.refused_address(ipaddress.ip_address(address))
    assert not guard.STRICT.allows(address, ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.9", "192.168.1.10", "fd12:3456::1", "100.64.0.1", "8.8.8.8", "2001:db8::1"],
)
def test_private_and_public_addresses_are_allowed(address):
    assert not guard.refused_address(ipaddress.ip_address(address))


def test_the_allowlist_takes_addresses_networks_names_and_domains():
    allowed = guard.parse("127.0.0.1, ::1\n169.254.10.0/24; gateway.local, .corp.example")
    assert allowed.allows("x", ipaddress.ip_address("127.0.0.1"))
    assert not allowed.allows("x", ipaddress.ip_address("127.0.0.2"))
    assert allowed.allows("x", ipaddress.ip_address("::1"))
    assert allowed.allows("x", ipaddress.ip_address("169.254.10.5"))
    assert not allowed.allows("x", ipaddress.ip_address("169.254.169.254"))
    assert allowed.allows("gateway.local", ipaddress.ip_address("127.0.0.5"))
    assert allowed.allows("nginx.corp.example", ipaddress.ip_address("127.0.0.5"))
    assert not allowed.allows("gateway.local.evil", ipaddress.ip_address("127.0.0.5"))
    assert guard.bad_entries("127.0.0.1:8080, *, http://x/, 10.0.0.0/8, host") == [
        "127.0.0.1:8080",
        "*",
        "http://x/",
    ]


@pytest.fixture
def receiver():
    from http.server import ThreadingHTTPServer
    from threading import Thread

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.connections, server.received = 0, []
    Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def connects(monkeypatch):
    """Every address a robot's post opens a socket to; none answers."""
    opened = []

    def create_connection(address, *args, **kwargs):
        opened.append(address[0])
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return opened


def _post(target: str, **kwargs):
    return http.post(HttpRequest("POST", target, {"Content-Type": "application/json"}, b"{}"), **kwargs)


def _refusal(error: pytest.ExceptionInfo) -> guard.Refusal:
    refusal = guard.refusal_in(error.value)
    assert refusal is not None, error.value
    return refusal


def test_a_robot_on_loopback_is_refused_without_a_connection(receiver, monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with pytest.raises(requests.ConnectionError) as error:
        _post(url(receiver, "/hook/t0ken"))
    assert _refusal(error).address == "127.0.0.1"
    assert receiver.connections == 0
    outcome = http.network_failure(error.value, url(receiver, "/hook/t0ken"), kind="webhook")
    assert outcome.status is Status.FAILED and outcome.code == "guard"
    assert "System settings → Network" in str(outcome.fix) and "127.0.0.1" in str(outcome.fix)

    reply = _post(url(receiver, "/hook/t0ken"), guard=guard.parse("127.0.0.0/8"))  # allowed: it goes
    assert reply.status_code == 200 and receiver.connections == 1


def test_the_metadata_address_is_refused_before_any_connection(connects):
    for target in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/meta-data/"):
        with pytest.raises(requests.ConnectionError) as error:
            _post(target)
        assert _refusal(error).host in ("169.254.169.254", "[fd00:ec2::254]", "fd00:ec2::254")
    # Through a proxy, which would make the connection itself: refused by the address as written.
    with pytest.raises(requests.ConnectionError) as error:
        _post("http://169.254.169.254/", proxies={"http": f"http://{PUBLIC}:3128"})
    assert _refusal(error).address == "169.254.169.254"
    assert connects == []


def test_a_proxy_on_loopback_is_refused_and_through_a_proxy_localhost_is_too(connects):
    with pytest.raises(requests.ConnectionError) as error:
        _post("https://open.feishu.cn/open-apis/bot/v2/hook/x", proxies={"https": "http://127.0.0.1:3128"})
    assert _refusal(error).address == "127.0.0.1"
    with pytest.raises(requests.ConnectionError) as error:
        _post("http://localhost:6379/", proxies={"http": f"http://{PUBLIC}:3128"})
    assert _refusal(error).host == "localhost"
    for shorthand in ("127.1", "0x7f.0.0.1", "2130706433"):  # what a proxy's resolver reads as 127.0.0.1
        with pytest.raises(requests.ConnectionError) as error:
            _post(f"http://{shorthand}:6379/", proxies={"http": f"http://{PUBLIC}:3128"})
        assert _refusal(error).address == "127.0.0.1"
    assert connects == []


def test_each_connection_goes_only_to_the_address_that_was_checked(connects, monkeypatch):
    """DNS rebinding: the name answers a public address, then loopback. The connection is made to the address
    the guard checked, from the same lookup; the next connection's lookup is checked again."""
    answers = [[PUBLIC], ["127.0.0.1"], ["127.0.0.1", PUBLIC]]
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        addresses = answers.pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    target = "http://rebind.test:8080/hook/t0ken"
    with pytest.raises(requests.ConnectionError) as error:  # the public address: nothing answers there
        _post(target)
    assert guard.refusal_in(error.value) is None
    with pytest.raises(requests.ConnectionError) as error:  # now loopback: refused
        _post(target)
    assert _refusal(error) == guard.Refusal("rebind.test", "127.0.0.1")
    with pytest.raises(requests.ConnectionError):  # both: only the public one is tried
        _post(target)
    assert connects == [PUBLIC, PUBLIC]


def test_redirects_are_not_followed_to_an_internal_address(receiver):
    reply = _post(url(receiver, "/hook/moved"), guard=guard.parse("127.0.0.1"))
    assert reply.status_code == 301 and [path for path, _, _ in receiver.received] == ["/hook/moved"]


# --- through delivery, with the test configuration's allowance taken away ---------------------------------


@pytest.fixture
def guarded(app):
    """The production default: no loopback allowed by the configuration."""
    app.config["OUTBOUND_ALLOW"] = ""
    return app


def _send(project, admin, title="Pay by card") -> Delivery:
    case_service.create_case(project, admin, CaseInput(title=title))
    db.session.expire_all()
    return db.session.scalars(db.select(Delivery).order_by(Delivery.id.desc())).first()


def test_a_robot_on_loopback_fails_for_good_with_the_way_to_allow_it(
    guarded, project, admin, feishu_emulator
):
    add_robot(project, "feishu", feishu_emulator.url)
    delivery = _send(project, admin)
    assert delivery.status == "failed" and delivery.code == "guard"
    assert "127.0.0.1" in delivery.cause and "System settings → Network" in delivery.fix
    assert feishu_emulator.requests == []


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.0/8"])
def test_an_allowlisted_loopback_address_is_reached(guarded, project, admin, feishu_emulator, entry):
    network_service.save_network_settings({"outbound_allow": entry})
    add_robot(project, "feishu", feishu_emulator.url)
    delivery = _send(project, admin)
    assert delivery.status == "sent", delivery.cause
    assert len(feishu_emulator.messages) == 1


def test_localhost_is_refused_when_sent_and_allowed_by_name(guarded, project, admin, webhook_receiver):
    address = webhook_receiver.url.replace("127.0.0.1", "localhost")
    add_robot(project, "webhook", address)
    delivery = _send(project, admin)
    assert delivery.status == "failed" and delivery.code == "guard"
    assert "localhost" in delivery.cause and "localhost" in delivery.fix
    assert "System settings → Network" in delivery.fix
    assert webhook_receiver.requests == []

    network_service.save_network_settings({"outbound_allow": "localhost"})
    assert _send(project, admin, "Refund").status == "sent"
    assert len(webhook_receiver.requests) == 1


def test_smtp_to_loopback_is_refused_unless_allowed(app, settings_for, plain_server):
    outcome = test_connection(settings_for(plain_server, guard=guard.STRICT))
    assert outcome.status is Status.FAILED and outcome.code == "guard"
    assert "System settings → Network" in str(outcome.fix)
    assert test_connection(settings_for(plain_server, guard=guard.parse("127.0.0.1"))).ok
    # By name, too: the name is resolved once, and the address it gave is the one checked and connected to.
    outcome = test_connection(settings_for(plain_server, host="localhost", guard=guard.STRICT))
    assert outcome.code == "guard" and "localhost" in str(outcome.cause)
