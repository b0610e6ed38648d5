"""The outbound proxy (System settings → Network) with a real forward proxy: robot messages go through it,
its refusals are explained, and Test tells an administrator what is wrong before anything is sent."""

import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from tests.conftest import HTMX
from tests.intranet.conftest import PROXY_LOGIN, add_robot
from tests.smtp_server import dead_port
from webapp.models import Delivery, DeliveryAttempt
from webapp.services import cases as case_service
from webapp.services import network as network_service
from webapp.services.cases import CaseInput


def notify(project, actor) -> Delivery:
    """Create a case, which sends the robot its message; the one delivery record."""
    case_service.create_case(project, actor, CaseInput(title="Pay by card", priority="P2"))
    return Delivery.query.one()


def use_proxy(url: str, login: tuple[str, str] | None = None, no_proxy: str = "") -> None:
    values = {"proxy_url": url, "proxy_username": login[0] if login else "", "no_proxy": no_proxy}
    network_service.save_network_settings(values, login[1] if login else None)


def via_proxy(received) -> bool:
    return "tinyproxy" in received.headers.get("Via", "")


# --- robot messages -----------------------------------------------------------------------------------------


def test_robot_messages_go_through_the_proxy(app, project, admin, tinyproxy, wecom_emulator):
    use_proxy(tinyproxy.url)
    add_robot(project, "wecom", wecom_emulator.url, events=["case.created"])

    delivery = notify(project, admin)

    assert delivery.status == "sent"
    [seen] = wecom_emulator.requests
    assert via_proxy(seen)
    assert f"POST {wecom_emulator.base_url}/cgi-bin/webhook/send?key=" in tinyproxy.requests[0]


def test_a_proxy_login_is_sent_and_never_recorded(
    app, project, admin, tinyproxy_with_login, dingtalk_emulator
):
    use_proxy(tinyproxy_with_login.url, PROXY_LOGIN)
    add_robot(project, "dingtalk", dingtalk_emulator.url, events=["case.created"])

    delivery = notify(project, admin)

    assert delivery.status == "sent" and via_proxy(dingtalk_emulator.requests[0])
    [attempt] = DeliveryAttempt.query.all()
    assert PROXY_LOGIN[1] not in attempt.request + attempt.reply


def test_a_proxy_that_wants_a_login_is_explained(app, project, admin, tinyproxy_with_login, wecom_emulator):
    use_proxy(tinyproxy_with_login.url)  # no user name and password
    # An https address, as every robot's is: the proxy refuses the CONNECT before any TLS.
    add_robot(project, "wecom", wecom_emulator.url.replace("http://", "https://"), events=["case.created"])

    delivery = notify(project, admin)

    assert wecom_emulator.requests == []
    assert (delivery.status, delivery.code) == ("failed", "HTTP 407")
    assert "The proxy asks for a user name and password (HTTP 407)" in delivery.cause
    assert "System settings → Network" in delivery.fix


def test_a_proxy_that_refuses_the_connection_is_explained(app, project, admin, feishu_emulator):
    port = dead_port()
    use_proxy(f"http://127.0.0.1:{port}")
    add_robot(project, "feishu", feishu_emulator.url, events=["case.created"])

    delivery = notify(project, admin)

    assert feishu_emulator.requests == []
    assert (delivery.status, delivery.code) == ("retrying", "proxy")
    assert f"The outbound proxy refused the connection: nothing answers at http://127.0.0.1:{port}" in (
        delivery.cause
    )


def test_hosts_on_the_no_proxy_list_are_reached_directly(app, project, admin, tinyproxy, wecom_emulator):
    use_proxy(tinyproxy.url, no_proxy="gateway.intra, 127.0.0.0/8")
    add_robot(project, "wecom", wecom_emulator.url, events=["case.created"])

    assert notify(project, admin).status == "sent"
    assert not via_proxy(wecom_emulator.requests[0]) and tinyproxy.requests == []


def test_without_a_setting_the_environment_proxy_is_honoured(
    app, project, admin, tinyproxy, wecom_emulator, monkeypatch, admin_client
):
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    add_robot(project, "wecom", wecom_emulator.url, events=["case.created"])

    assert notify(project, admin).status == "sent"
    assert via_proxy(wecom_emulator.requests[0])
    page = admin_client.get("/system/network").get_data(as_text=True)
    assert "HTTP_PROXY" in page and tinyproxy.url in page


def test_a_change_of_the_environment_applies_to_the_next_message(
    app, project, admin, tinyproxy, wecom_emulator, monkeypatch
):
    for name in ("NO_PROXY", "HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    add_robot(project, "wecom", wecom_emulator.url, events=["case.created"])

    def send() -> str:
        case_service.create_case(project, admin, CaseInput(title="Pay by card", priority="P2"))
        return Delivery.query.order_by(Delivery.id.desc()).first().status

    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    assert send() == "sent"
    monkeypatch.delenv("HTTP_PROXY")
    assert send() == "sent"
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert send() == "sent"

    first, second, third = wecom_emulator.requests
    assert via_proxy(first) and not via_proxy(second) and not via_proxy(third)
    assert len(tinyproxy.requests) == 1


def test_the_setting_overrides_the_environment(app, project, admin, tinyproxy, wecom_emulator, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    use_proxy(tinyproxy.url)
    add_robot(project, "wecom", wecom_emulator.url, events=["case.created"])

    assert notify(project, admin).status == "sent"
    assert via_proxy(wecom_emulator.requests[0])


# --- Test, as the administrator uses it ---------------------------------------------------------------------


def run_test(client, url: str, proxy_url: str, **fields) -> str:
    """Press Test on System settings → Network with these unsaved values; the result box's text."""
    data = {"proxy_url": proxy_url, "test_url": url, "action": "test", **fields}
    response = client.post("/system/network", data=data, headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="network-result"')
    return body


def test_test_reaches_an_address_through_the_proxy(admin_client, tinyproxy, feishu_emulator):
    body = run_test(admin_client, f"{feishu_emulator.base_url}/", tinyproxy.url)
    assert "Reached" in body and f"through the proxy {tinyproxy.url}" in body
    assert "answered with HTTP 404: the way there works" in body
    assert via_proxy(feishu_emulator.requests[0])
    assert network_service.network_settings().proxy_url == ""  # testing saves nothing


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_test_explains_a_proxy_login_required(admin_client, tinyproxy_with_login, feishu_emulator, scheme):
    # http: the proxy answers 407 itself; https: it refuses the CONNECT with 407.
    url = f"{scheme}://127.0.0.1:{feishu_emulator.base_url.rsplit(':', 1)[1]}/"
    body = run_test(admin_client, url, tinyproxy_with_login.url)
    assert "Could not reach" in body
    assert "The proxy asks for a user name and password (HTTP 407)" in body


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_test_explains_a_wrong_proxy_password(admin_client, tinyproxy_with_login, feishu_emulator, scheme):
    url = f"{scheme}://127.0.0.1:{feishu_emulator.base_url.rsplit(':', 1)[1]}/"
    body = run_test(
        admin_client, url, tinyproxy_with_login.url, proxy_username="herald", proxy_password="wrong"
    )
    assert "The proxy refused the user name and password" in body
    assert "wrong" not in body.split("The reply")[0]  # the password typed is not shown back


def test_test_with_the_right_login_gets_through(admin_client, tinyproxy_with_login, feishu_emulator):
    body = run_test(
        admin_client,
        f"{feishu_emulator.base_url}/",
        tinyproxy_with_login.url,
        proxy_username=PROXY_LOGIN[0],
        proxy_password=PROXY_LOGIN[1],
    )
    assert "the way there works" in body
    assert f"through the proxy http://{PROXY_LOGIN[0]}@127.0.0.1:{tinyproxy_with_login.port}" in body
    assert PROXY_LOGIN[1] not in body


def test_test_explains_a_refused_proxy(admin_client):
    port = dead_port()
    body = run_test(admin_client, "https://open.feishu.cn/", f"http://127.0.0.1:{port}")
    assert f"The outbound proxy refused the connection: nothing answers at http://127.0.0.1:{port}" in body


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_test_explains_a_proxy_that_cannot_reach_the_host(admin_client, tinyproxy, scheme):
    body = run_test(admin_client, f"{scheme}://127.0.0.1:{dead_port()}/", tinyproxy.url)
    assert "The proxy could not reach 127.0.0.1 (HTTP 500 from the proxy)" in body


@pytest.fixture
def tls_site(certificate):
    """An https site with a certificate of its own CA, like one a TLS-inspecting proxy would present."""
    server = make_server(
        "127.0.0.1", 0, Response("hello", content_type="text/plain"), ssl_context=certificate.server_context()
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.port}/"
    server.shutdown()
    server.server_close()


def test_test_explains_tls_through_the_proxy_and_the_fix_works(
    admin_client, tinyproxy, tls_site, certificate, monkeypatch
):
    body = run_test(admin_client, tls_site, tinyproxy.url)
    assert "The secure connection through the proxy failed" in body
    assert "REQUESTS_CA_BUNDLE" in body
    # The fix it gives: trust the CA, through the standard variable.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert_path))
    body = run_test(admin_client, tls_site, tinyproxy.url)
    assert "answered with HTTP 200: the way there works" in body


def test_test_of_a_host_on_the_no_proxy_list_goes_direct(admin_client, tinyproxy, feishu_emulator):
    body = run_test(admin_client, f"{feishu_emulator.base_url}/", tinyproxy.url, no_proxy="127.0.0.1")
    assert "directly: 127.0.0.1 is on the no-proxy list" in body
    assert tinyproxy.requests == [] and not via_proxy(feishu_emulator.requests[0])
