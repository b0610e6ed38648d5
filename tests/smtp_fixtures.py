"""Fixtures for the mail engine: real SMTP servers on loopback, a silent and a dead port, settings."""

import pytest

from tests import smtp_server as servers
from webapp.notifications import guard
from webapp.notifications.smtp import SmtpSettings

# The test servers listen on loopback, which the outbound guard refuses unless allowed.
LOOPBACK = guard.parse("127.0.0.0/8, ::1")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1."""
    return servers.make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def wrong_name_certificate(tmp_path_factory):
    """A self-signed certificate for another host name than the one Herald connects to."""
    return servers.make_certificate(tmp_path_factory.mktemp("tls-elsewhere"), ("smtp.elsewhere.test",))


@pytest.fixture
def ssl_server(certificate):
    """Implicit TLS with AUTH, like smtp.qq.com:465."""
    with servers.smtp_server("ssl", certificate) as server:
        yield server


@pytest.fixture
def starttls_server(certificate):
    """STARTTLS before AUTH, like smtp.qq.com:587."""
    with servers.smtp_server("starttls", certificate) as server:
        yield server


@pytest.fixture
def plain_server():
    """No TLS and no AUTH: an intranet relay."""
    with servers.smtp_server("plain") as server:
        yield server


@pytest.fixture
def silent_port():
    with servers.silent_port() as port:
        yield port


@pytest.fixture
def dead_port():
    return servers.dead_port()


@pytest.fixture
def settings_for(certificate):
    """Settings that work for a given server (its mode, its account, its CA), changed by keyword."""

    def make(server=None, **changes) -> SmtpSettings:
        values = {"host": servers.HOST, "timeout": 2, "ca_bundle": certificate.pem, "guard": LOOPBACK}
        if server is not None:
            values |= {"port": server.port, "security": "none" if server.mode == "plain" else server.mode}
            if server.account:
                values |= {"username": server.account[0], "password": server.account[1]}
        return SmtpSettings(**(values | changes))

    return make
