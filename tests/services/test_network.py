"""Network settings: the proxy address and no-proxy rules, the password kept apart, what requests is given."""

import pytest

from webapp.extensions import db
from webapp.models import NetworkSettings
from webapp.services import ServiceError
from webapp.services import network as network_service
from webapp.services.network import DIRECT, ProxySettings, bypassed, proxies_for, proxy_url_problem


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", None),
        ("http://proxy.intra:3128", None),
        ("https://proxy.intra:8443/", None),
        ("http://10.0.0.7:8080", None),
        ("http://[fd00::7]:3128", None),
        ("proxy.intra:3128", "starting with http:// or https://"),
        ("socks5://proxy.intra:1080", "starting with http:// or https://"),
        ("http://proxy.intra:99999", "check the host and the port"),
        ("http://proxy.intra:port", "check the host and the port"),
        ("http://user:secret@proxy.intra:3128", "in their own fields"),
        ("http://proxy.intra:3128/pac?x=1", "only the proxy's scheme, host and port"),
    ],
)
def test_proxy_addresses(url, problem):
    found = proxy_url_problem(url)
    assert (found is None) if problem is None else (problem in found)


NO_PROXY = (
    "gateway.intra, .corp.example.com; *.lab.example.org 10.0.0.0/8\n192.168.1.5 hooks.example.net:8443 [::1]"
)


@pytest.mark.parametrize(
    ("url", "direct"),
    [
        ("http://gateway.intra:8080/feishu/open-apis/bot/v2/hook/x", True),
        ("http://GATEWAY.intra/x", True),
        ("http://other-gateway.intra/x", False),
        ("https://corp.example.com/x", True),
        ("https://nginx.corp.example.com/x", True),
        ("https://notcorp.example.com/x", False),
        ("https://a.lab.example.org/x", True),
        ("http://10.20.30.40:8080/x", True),
        ("http://11.0.0.1/x", False),
        ("http://192.168.1.5/x", True),
        ("http://192.168.1.6/x", False),
        ("https://hooks.example.net:8443/x", True),
        ("https://hooks.example.net/x", False),  # the entry names port 8443 only
        ("http://[::1]:5000/x", True),
        ("https://open.feishu.cn/open-apis/bot/v2/hook/x", False),
    ],
)
def test_the_no_proxy_list(url, direct):
    assert bypassed(url, NO_PROXY) is direct


def test_a_star_sends_everything_direct():
    assert bypassed("https://oapi.dingtalk.com/robot/send", "*")


@pytest.mark.parametrize("entry", ["host!", "http://gateway.intra", "host:0", "a..b", "10.0.0.0/33"])
def test_unreadable_no_proxy_entries_are_named(entry):
    assert network_service.bad_no_proxy_entries(f"gateway.intra, {entry}") == [entry.lower()]


def test_the_login_is_percent_encoded_into_the_address_and_only_the_user_shown():
    proxy = ProxySettings(url="http://proxy.intra:3128", username="dom\\herald", password="p@ss:w/rd")
    assert proxy.address == "http://dom%5Cherald:p%40ss%3Aw%2Frd@proxy.intra:3128"
    assert proxy.shown == "http://dom%5Cherald@proxy.intra:3128"


def test_proxies_for_a_request(app):
    assert proxies_for("https://open.feishu.cn/x") is None  # nothing set: requests reads the environment
    network_service.save_network_settings(
        {"proxy_url": "http://proxy.intra:3128/", "no_proxy": "gateway.intra"}
    )
    assert proxies_for("https://open.feishu.cn/x") == {
        "http": "http://proxy.intra:3128",
        "https": "http://proxy.intra:3128",
    }
    assert proxies_for("http://gateway.intra:8080/x") == DIRECT


def test_the_password_is_set_replaced_kept_and_cleared(app):
    values = {"proxy_url": "http://proxy.intra:3128", "proxy_username": "herald"}
    network_service.save_network_settings(values, "first")
    network_service.save_network_settings(values, None)
    assert network_service.network_settings().proxy_password == "first"
    network_service.save_network_settings(values, "second")
    assert network_service.network_settings().proxy_password == "second"
    assert proxies_for("https://x.example")["https"] == "http://herald:second@proxy.intra:3128"
    network_service.save_network_settings(values, clear_password=True)
    assert network_service.network_settings().proxy_password == ""
    assert NetworkSettings.query.count() == 1


def test_the_password_is_encrypted_at_rest(app):
    network_service.save_network_settings(
        {"proxy_url": "http://proxy.intra:3128", "proxy_username": "h"}, "s3cret"
    )
    raw = db.session.execute(db.text("select proxy_password from network_settings")).scalar()
    assert raw and "s3cret" not in raw


def test_unsaved_values_overlay_the_stored_ones_for_a_test(app):
    network_service.save_network_settings(
        {"proxy_url": "http://proxy.intra:3128", "proxy_username": "h"}, "pw"
    )
    merged = network_service.proxy_settings({"proxy_url": "http://other.intra:8080"})
    assert (merged.url, merged.username, merged.password) == ("http://other.intra:8080", "h", "pw")
    assert network_service.proxy_settings({}, clear_password=True).password == ""


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"proxy_url": "proxy.intra:3128"}, "proxy_url"),
        ({"no_proxy": "gateway.intra, not a host!"}, "no_proxy"),
    ],
)
def test_saving_bad_values_is_refused(app, values, field):
    with pytest.raises(ServiceError) as refused:
        network_service.save_network_settings(values)
    assert refused.value.field == field
    assert NetworkSettings.query.count() == 0


def test_the_environment_is_shown_with_passwords_masked(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://herald:s3cret-pass@proxy.intra:3128")
    monkeypatch.setenv("no_proxy", "localhost,.intra")
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert network_service.environment_proxies() == [
        ("HTTPS_PROXY", "http://herald:****@proxy.intra:3128"),
        ("NO_PROXY", "localhost,.intra"),
    ]
