"""SEED.md section 5 through a real nginx: Herald's own location blocks forward robot messages to the
provider emulators, and nginx's own failures come back with a hint that names the gateway.

(That nginx -t accepts the generated blocks is checked in tests/notifications/test_gateway.py.)"""

from urllib.parse import urlsplit

import pytest

from tests.intranet.conftest import add_robot, delete_a_case, to_emulator
from webapp.models import Delivery
from webapp.notifications.channels.base import CHANNELS
from webapp.notifications.gateway import nginx_forward

FEISHU_KEYWORD = "测试用例"


def official(kind: str, emulator) -> str:
    """The address the group's robot settings show: the provider's host, the emulator's robot path."""
    host = CHANNELS[kind].official_host
    parts = urlsplit(emulator.url)
    return parts._replace(scheme="https", netloc=host).geturl()


def through(gateway, kind: str, emulator, **directives) -> str:
    """Start the gateway with Herald's block for this robot; return the robot's address through it."""
    forward = nginx_forward(kind, official(kind, emulator), gateway.url)
    gateway.start(to_emulator(forward, emulator.base_url, **directives))
    return forward.herald_url


@pytest.mark.parametrize("kind", ["feishu", "lark"])
def test_seed_walk_5_4_deleting_a_case_reaches_the_group_through_nginx(
    app, project, admin, gateway, feishu_emulator, lark_emulator, kind
):
    emulator = feishu_emulator if kind == "feishu" else lark_emulator
    emulator.robot.keywords = [FEISHU_KEYWORD]
    emulator.robot.secret = "feishu-signing-secret"
    url = through(gateway, kind, emulator)
    assert url.startswith(f"{gateway.url}/{kind}/open-apis/bot/v2/hook/")
    add_robot(
        project,
        kind,
        url,
        keywords=[FEISHU_KEYWORD],
        secret="feishu-signing-secret",
        events=["case.deleted"],
    )

    delete_a_case(project, admin)

    # The emulator checked the body's signature and the keyword: the message passed through unchanged.
    [message] = emulator.messages
    assert FEISHU_KEYWORD in message.text and "Pay by card" in message.text
    [seen] = emulator.requests
    assert seen.path == f"/open-apis/bot/v2/hook/{emulator.robot.token}"
    assert seen.headers["Host"] == CHANNELS[kind].official_host  # set by the location block
    assert f"POST /{kind}/open-apis/bot/v2/hook/" in gateway.access
    delivery = Delivery.query.one()
    assert (delivery.status, delivery.code) == ("sent", "0")


def test_dingtalk_query_signature_survives_the_forward(app, project, admin, gateway, dingtalk_emulator):
    dingtalk_emulator.robot.keywords = ["Herald通知"]
    dingtalk_emulator.robot.secret = "SEC0123456789abcdef"
    url = through(gateway, "dingtalk", dingtalk_emulator)
    add_robot(
        project,
        "dingtalk",
        url,
        keywords=["Herald通知"],
        secret="SEC0123456789abcdef",
        events=["case.deleted"],
    )

    delete_a_case(project, admin)

    [message] = dingtalk_emulator.messages
    assert "Herald通知" in message.text
    [seen] = dingtalk_emulator.requests
    # The sign's "=" (and any "+" or "/") arrive percent-encoded, exactly once, as Herald sent them.
    assert "&sign=" in seen.query and seen.query.endswith("%3D")
    assert Delivery.query.one().status == "sent"


def test_wecom_through_nginx(app, project, admin, gateway, wecom_emulator):
    url = through(gateway, "wecom", wecom_emulator)
    add_robot(project, "wecom", url, events=["case.deleted"])

    delete_a_case(project, admin)

    [message] = wecom_emulator.messages
    assert "Pay by card" in message.text
    [seen] = wecom_emulator.requests
    assert seen.query == f"key={wecom_emulator.robot.token}"
    assert Delivery.query.one().status == "sent"


# --- nginx's own failures ---------------------------------------------------------------------------------


def test_provider_unreachable_from_the_gateway_is_a_502_retried_with_its_hint(
    app, project, admin, gateway, feishu_emulator
):
    url = through(gateway, "feishu", feishu_emulator)
    feishu_emulator.stop()  # the gateway's way to the provider is cut
    add_robot(project, "feishu", url, events=["case.deleted"])

    delete_a_case(project, admin)

    delivery = Delivery.query.one()
    assert (delivery.status, delivery.code) == ("retrying", "HTTP 502")
    assert f"The gateway at 127.0.0.1:{gateway.port} could not reach Feishu" in delivery.cause
    assert "curl" in delivery.fix and "open.feishu.cn" in delivery.fix
    assert "connect() failed" in gateway.errors


def test_a_location_that_does_not_match_the_path_is_a_404_with_its_hint(
    app, project, admin, gateway, wecom_emulator
):
    url = through(gateway, "wecom", wecom_emulator)
    # The operator left out the gateway's /wecom prefix when typing the address into Herald.
    mistyped = url.replace("/wecom/cgi-bin/", "/cgi-bin/")
    add_robot(project, "wecom", mistyped, events=["case.deleted"])

    delete_a_case(project, admin)

    assert wecom_emulator.requests == []
    delivery = Delivery.query.one()
    assert (delivery.status, delivery.code) == ("failed", "HTTP 404")
    assert (
        "the location in nginx.conf does not match the webhook path /cgi-bin/webhook/send" in delivery.cause
    )
    assert "nginx -s reload" in delivery.fix


def test_a_provider_too_slow_for_the_gateway_is_a_504_with_its_hint(
    app, project, admin, gateway, dingtalk_emulator, silent_port
):
    forward = nginx_forward("dingtalk", official("dingtalk", dingtalk_emulator), gateway.url)
    # Upstream: a port that takes the connection and never answers; nginx gives up after a second.
    gateway.start(to_emulator(forward, f"http://127.0.0.1:{silent_port}", proxy_read_timeout="1s"))
    add_robot(project, "dingtalk", forward.herald_url, events=["case.deleted"])

    delete_a_case(project, admin)

    delivery = Delivery.query.one()
    assert (delivery.status, delivery.code) == ("retrying", "HTTP 504")
    assert "could not reach DingTalk: it did not answer the gateway in time" in delivery.cause
    assert "timed out" in gateway.errors


def test_the_gateway_refusing_herald_by_its_allow_list_is_a_403_with_its_hint(
    app, project, admin, gateway, wecom_emulator
):
    url = through(gateway, "wecom", wecom_emulator, uncomment="deny all;")
    add_robot(project, "wecom", url, events=["case.deleted"])

    delete_a_case(project, admin)

    delivery = Delivery.query.one()
    assert (delivery.status, delivery.code) == ("failed", "HTTP 403")
    assert f"The gateway at 127.0.0.1:{gateway.port} refused Herald" in delivery.cause
    assert "allow" in delivery.fix


def test_a_gateway_that_is_down_is_named_in_the_hint(app, project, admin, gateway, feishu_emulator):
    forward = nginx_forward("feishu", official("feishu", feishu_emulator), gateway.url)  # never started
    add_robot(project, "feishu", forward.herald_url, events=["case.deleted"])

    delete_a_case(project, admin)

    delivery = Delivery.query.one()
    assert (delivery.status, delivery.code) == ("retrying", "connection")
    assert "the gateway is down or the address is wrong" in delivery.cause
    assert "systemctl status nginx" in delivery.fix
