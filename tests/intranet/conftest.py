"""Fixtures for the intranet tests: a real nginx gateway and a real forward proxy, stopped after each test."""

from urllib.parse import urlsplit

import pytest

# The browser fixtures (live server with CSRF on, Debian's Chromium), shared with tests/browser.
from tests.browser.conftest import browser, live_server, new_page, page  # noqa: F401
from tests.intranet.servers import Nginx, Tinyproxy
from webapp.extensions import db
from webapp.models import Robot
from webapp.notifications.gateway import Forward
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput

PROXY_LOGIN = ("herald", "pr0xy-s3cret")


@pytest.fixture
def gateway(tmp_path):
    """An nginx on a free loopback port, not started yet: `gateway.start(location_blocks)`."""
    server = Nginx(tmp_path / "nginx")
    yield server
    server.stop()


@pytest.fixture
def tinyproxy(tmp_path):
    """A running forward proxy that asks for no login."""
    proxy = Tinyproxy(tmp_path / "tinyproxy").start()
    yield proxy
    proxy.stop()


@pytest.fixture
def tinyproxy_with_login(tmp_path):
    """A running forward proxy that wants PROXY_LOGIN (407 without it)."""
    proxy = Tinyproxy(tmp_path / "tinyproxy-login", login=PROXY_LOGIN).start()
    yield proxy
    proxy.stop()


def to_emulator(forward: Forward, emulator_base_url: str, **directives: str) -> str:
    """Herald's location block with only the upstream moved from the provider (https) to an emulator (http).

    Keyword arguments replace the value of a directive, e.g. proxy_read_timeout="1s", or uncomment one
    of the block's commented lines when given as uncomment="deny all;".
    """
    folder = urlsplit(forward.upstream).path
    block = forward.location.replace(
        f"proxy_pass {forward.upstream};", f"proxy_pass {emulator_base_url.rstrip('/')}{folder};"
    )
    assert block != forward.location, "the generated block no longer has the proxy_pass this test adapts"
    uncomment = directives.pop("uncomment", None)
    if uncomment:
        assert f"# {uncomment}" in block
        block = block.replace(f"# {uncomment}", uncomment)
    for name, value in directives.items():
        lines = [line for line in block.splitlines() if line.strip().startswith(f"{name} ")]
        assert len(lines) == 1, f"the generated block has no single {name}"
        block = block.replace(lines[0], f"    {name} {value};")
    return block


def add_robot(project, kind: str, url: str, **fields) -> Robot:
    robot = Robot(project_id=project.id, kind=kind, name=f"{kind} group", webhook_url=url, **fields)
    db.session.add(robot)
    db.session.commit()
    return robot


def delete_a_case(project, actor, title: str = "Pay by card") -> None:
    """The seed's step 5.4: delete a functional case (created first), which notifies the robots."""
    case = case_service.create_case(project, actor, CaseInput(title=title, priority="P2"))
    case_service.delete_case(case, actor)
