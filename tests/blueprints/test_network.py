"""System settings → Network as an administrator sees it: the form, its errors, the secret, Test."""

import pytest

from tests.conftest import HTMX
from tests.smtp_server import dead_port
from webapp.models import NetworkSettings


def _form(**changes):
    data = {
        "proxy_url": "http://proxy.intra:3128",
        "proxy_username": "",
        "proxy_password": "",
        "no_proxy": "",
    }
    data.update(changes)
    return data


def test_only_administrators(member_client):
    assert member_client.get("/system/network").status_code == 403
    assert member_client.post("/system/network", data=_form()).status_code == 403


def test_the_page_says_what_applies_without_a_proxy(admin_client, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    page = admin_client.get("/system/network").get_data(as_text=True)
    assert "HTTPS_PROXY, HTTP_PROXY and NO_PROXY" in page
    assert "None of them is set" in page
    assert "E-mail is not proxied" in page
    for name in ("proxy_url", "proxy_username", "proxy_password", "no_proxy", "test_url"):
        assert f'<label for="{name}"' in page
    assert 'aria-current="page"' in page.split('href="/system/network"')[1][:40]  # the sidebar entry


def test_save_keeps_the_password_secret(admin_client):
    data = _form(proxy_username="herald", proxy_password="pr0xy-s3cret", no_proxy="gateway.intra\n10.0.0.0/8")
    response = admin_client.post("/system/network", data=data, follow_redirects=True)
    assert "Network settings are saved." in response.get_data(as_text=True)
    stored = NetworkSettings.query.one()
    assert (stored.proxy_url, stored.proxy_password) == ("http://proxy.intra:3128", "pr0xy-s3cret")
    assert stored.no_proxy == "gateway.intra, 10.0.0.0/8"
    page = admin_client.get("/system/network").get_data(as_text=True)
    assert "pr0xy-s3cret" not in page and "A password is set" in page
    # Saving again with the password field empty keeps it; the checkbox removes it.
    admin_client.post("/system/network", data=_form(proxy_username="herald"))
    assert NetworkSettings.query.one().proxy_password == "pr0xy-s3cret"
    admin_client.post("/system/network", data=_form(proxy_username="herald", clear_password="y"))
    assert NetworkSettings.query.one().proxy_password == ""


def test_emptying_the_address_goes_back_to_the_environment(admin_client):
    admin_client.post("/system/network", data=_form())
    admin_client.post("/system/network", data=_form(proxy_url=""))
    assert NetworkSettings.query.one().proxy_url == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("proxy_url", "proxy.intra:3128", "starting with http:// or https://"),
        ("proxy_url", "http://herald:pw@proxy.intra:3128", "in their own fields"),
        ("proxy_url", "http://proxy.intra:70000", "check the host and the port"),
        ("no_proxy", "gateway.intra, bad/host!", "These are not host names"),
        ("proxy_password", "only-a-password", "Enter the user name that goes with the password."),
    ],
)
def test_bad_input_is_shown_by_the_field_and_nothing_is_saved(admin_client, field, value, message):
    response = admin_client.post("/system/network", data=_form(**{field: value}))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert NetworkSettings.query.count() == 0


def test_test_needs_an_address(admin_client):
    body = admin_client.post("/system/network", data=_form(action="test"), headers=HTMX).get_data(
        as_text=True
    )
    assert "Fix these fields first" in body and "Enter the address to reach" in body


def test_test_refuses_an_address_that_is_not_one(admin_client):
    data = _form(action="test", test_url="open.feishu.cn")
    body = admin_client.post("/system/network", data=data, headers=HTMX).get_data(as_text=True)
    assert "Enter a full address starting with http:// or https://" in body


def test_test_without_javascript_renders_the_page(admin_client):
    port = dead_port()
    data = _form(action="test", proxy_url=f"http://127.0.0.1:{port}", test_url="https://open.feishu.cn/")
    body = admin_client.post("/system/network", data=data).get_data(as_text=True)
    assert "<html" in body and "Could not reach https://open.feishu.cn/" in body
    assert f"nothing answers at http://127.0.0.1:{port}" in body
    assert NetworkSettings.query.count() == 0  # testing saves nothing


def test_test_directly_when_no_proxy_is_set_anywhere(admin_client, feishu_emulator, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    data = _form(action="test", proxy_url="", test_url=f"{feishu_emulator.base_url}/")
    body = admin_client.post("/system/network", data=data, headers=HTMX).get_data(as_text=True)
    assert "directly: no proxy is set here or in the environment" in body
    assert "answered with HTTP 404: the way there works" in body


def test_test_masks_a_token_in_the_address(admin_client, feishu_emulator):
    url = feishu_emulator.url  # .../open-apis/bot/v2/hook/<token>
    data = _form(action="test", proxy_url="", no_proxy="", test_url=url)
    body = admin_client.post("/system/network", data=data, headers=HTMX).get_data(as_text=True)
    assert feishu_emulator.robot.token not in body
