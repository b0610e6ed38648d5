"""What a failure means when a robot's address is an intranet gateway (nginx) or traffic goes through an
outbound proxy: every case read as the user would, table by table."""

import pytest
import requests

from webapp.notifications import http
from webapp.notifications.channels import dingtalk, feishu, lark, registry, wecom
from webapp.notifications.channels.base import RobotSettings
from webapp.notifications.channels.registry import gateway_address
from webapp.notifications.outcome import Status

FEISHU_TOKEN = "0ba5e7c2-33f4-4b11-9c2b-6f0c8f1c2d3e"
GATEWAYS = {
    "feishu": (feishu, f"http://gw.intra:8080/feishu/open-apis/bot/v2/hook/{FEISHU_TOKEN}", "open.feishu.cn"),
    "lark": (lark, f"http://gw.intra:8080/lark/open-apis/bot/v2/hook/{FEISHU_TOKEN}", "open.larksuite.com"),
    "dingtalk": (
        dingtalk,
        "http://gw.intra:8080/dingtalk/robot/send?access_token=abc123",
        "oapi.dingtalk.com",
    ),
    "wecom": (wecom, "http://gw.intra:8080/wecom/cgi-bin/webhook/send?key=abc123", "qyapi.weixin.qq.com"),
}
OFFICIAL = {
    "feishu": f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
    "lark": f"https://open.larksuite.com/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=abc123",
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc123",
}
HTML = {"Content-Type": "text/html"}
JSON = {"Content-Type": "application/json"}


def nginx_page(status: int, reason: str) -> str:
    """An error page as nginx 1.22 writes it."""
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n"
        "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
    )


# (status, headers, body, expected status, words in the cause, words in the fix)
THROUGH_THE_GATEWAY = [
    (
        502,
        HTML,
        nginx_page(502, "Bad Gateway"),
        Status.RETRY,
        "could not reach {provider} (HTTP 502)",
        "{host}",
    ),
    (
        504,
        HTML,
        nginx_page(504, "Gateway Time-out"),
        Status.RETRY,
        "did not answer the gateway in time",
        "curl",
    ),
    (
        503,
        HTML,
        nginx_page(503, "Service Temporarily Unavailable"),
        Status.RETRY,
        "could not reach",
        "error.log",
    ),
    (502, {}, "", Status.RETRY, "could not reach {provider}", "{host}"),
    (
        404,
        HTML,
        nginx_page(404, "Not Found"),
        Status.FAILED,
        "location in nginx.conf does not match",
        "reload",
    ),
    (404, {}, "", Status.FAILED, "location in nginx.conf does not match", "Robots → nginx configuration"),
    (403, HTML, nginx_page(403, "Forbidden"), Status.FAILED, "refused Herald (HTTP 403)", "allow / deny"),
    (400, HTML, nginx_page(400, "Bad Request"), Status.FAILED, "could not reach", "{host}"),
    (200, HTML, "<html><body>Sign in to the web filter</body></html>", Status.FAILED, "a web page", "{host}"),
]


@pytest.mark.parametrize("kind", list(GATEWAYS))
@pytest.mark.parametrize(("status", "headers", "body", "expected", "cause", "fix"), THROUGH_THE_GATEWAY)
def test_the_gateways_own_replies_name_the_gateway(kind, status, headers, body, expected, cause, fix):
    channel, url, host = GATEWAYS[kind]
    settings = RobotSettings(kind=kind, webhook_url=url)
    outcome = registry.classify(kind, status, headers, body, settings=settings)
    provider = str(channel.CHANNEL.label)
    assert outcome.status is expected
    assert outcome.code == f"HTTP {status}"
    assert "gw.intra:8080" in str(outcome.cause)
    assert cause.format(provider=provider) in str(outcome.cause)
    assert fix.format(host=host) in str(outcome.fix)


def test_a_404_names_the_path_with_its_token_masked():
    settings = RobotSettings(kind="feishu", webhook_url=GATEWAYS["feishu"][1])
    outcome = registry.classify("feishu", 404, HTML, nginx_page(404, "Not Found"), settings=settings)
    assert "/feishu/open-apis/bot/v2/hook/0ba5****2d3e" in str(outcome.cause)
    assert FEISHU_TOKEN not in str(outcome.cause)


def test_the_providers_own_404_through_the_gateway_means_a_wrong_proxy_pass():
    settings = RobotSettings(kind="feishu", webhook_url=GATEWAYS["feishu"][1])
    outcome = registry.classify(
        "feishu", 404, JSON, '{"code":99991201,"msg":"resource not find"}', settings=settings
    )
    assert outcome.status is Status.FAILED
    assert "Feishu answered 404 through the gateway" in str(outcome.cause)
    assert "proxy_pass" in str(outcome.fix)


@pytest.mark.parametrize("kind", list(OFFICIAL))
@pytest.mark.parametrize(("status", "headers", "body", "expected", "cause", "fix"), THROUGH_THE_GATEWAY)
def test_the_official_address_never_speaks_of_a_gateway_of_yours(
    kind, status, headers, body, expected, cause, fix
):
    outcome = registry.classify(
        kind, status, headers, body, settings=RobotSettings(kind=kind, webhook_url=OFFICIAL[kind])
    )
    assert "nginx.conf" not in f"{outcome.cause} {outcome.fix}"
    assert "The gateway at" not in str(outcome.cause)


def test_a_provider_error_in_json_through_the_gateway_stays_the_providers():
    settings = RobotSettings(kind="feishu", webhook_url=GATEWAYS["feishu"][1])
    outcome = registry.classify(
        "feishu", 200, JSON, '{"code":19024,"data":{},"msg":"Key Words Not Found"}', settings=settings
    )
    assert outcome.code == "19024"  # the gateway passed the reply on: nothing of the gateway's to explain
    outcome = registry.classify("feishu", 500, JSON, '{"code":0,"msg":"success"}', settings=settings)
    assert "The gateway at" not in str(outcome.cause) and outcome.status is Status.RETRY


@pytest.mark.parametrize(
    ("kind", "url", "gateway"),
    [
        ("feishu", "http://gw.intra:8080/feishu/open-apis/bot/v2/hook/x", "gw.intra:8080"),
        ("feishu", "http://user:pw@10.0.0.8/feishu/open-apis/bot/v2/hook/x", "10.0.0.8"),
        ("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/x", None),
        ("lark", "https://open.feishu.cn/open-apis/bot/v2/hook/x", None),  # a mix-up, not a gateway
        ("dingtalk", "https://OAPI.dingtalk.com/robot/send?access_token=x", None),
        ("webhook", "https://hooks.example.com/herald", None),  # a receiver of its own, no official host
        ("wecom", "not a url", None),
    ],
)
def test_what_counts_as_a_gateway(kind, url, gateway):
    assert gateway_address(kind, url) == gateway


def test_a_407_asks_for_the_proxy_login():
    outcome = registry.classify("wecom", 407, HTML, "<html>Proxy Authentication Required</html>")
    assert outcome.status is Status.FAILED
    assert "outbound proxy asks for a user name and password" in str(outcome.cause)
    assert "System settings → Network" in str(outcome.fix)


# --- failures before any reply ------------------------------------------------------------------------------

GATEWAY_URL = GATEWAYS["feishu"][1]
REFUSED = requests.exceptions.ConnectionError(
    "HTTPConnectionPool(host='gw.intra', port=8080): Max retries exceeded (Caused by NewConnectionError("
    "\"HTTPConnection(host='gw.intra', port=8080): Failed to establish a new connection: "
    '[Errno 111] Connection refused"))'
)
UNRESOLVED = requests.exceptions.ConnectionError(
    "HTTPConnectionPool(host='gw.intra', port=8080): Max retries exceeded (Caused by NameResolutionError("
    "\"<HTTPConnection(host='gw.intra', port=8080)>: Failed to resolve 'gw.intra' "
    '([Errno -2] Name or service not known)"))'
)
TIMED_OUT = requests.exceptions.ReadTimeout("HTTPConnectionPool(host='gw.intra', port=8080): Read timed out.")


@pytest.mark.parametrize(
    ("error", "status", "cause", "fix"),
    [
        (REFUSED, Status.RETRY, "the gateway is down or the address is wrong", "systemctl status nginx"),
        (
            UNRESOLVED,
            Status.RETRY,
            "The gateway's host name in gw.intra:8080 cannot be resolved",
            "IP address",
        ),
        (TIMED_OUT, Status.RETRY, "The gateway at gw.intra:8080 did not answer in time", "504"),
    ],
)
def test_failing_to_reach_the_gateway_names_it(error, status, cause, fix):
    outcome = http.network_failure(error, GATEWAY_URL, kind="feishu", proxies={})
    assert outcome.status is status
    assert cause in str(outcome.cause) and fix in str(outcome.fix)


@pytest.mark.parametrize("error", [REFUSED, UNRESOLVED, TIMED_OUT])
def test_failing_to_reach_the_provider_itself_does_not_speak_of_a_gateway(error):
    outcome = http.network_failure(error, OFFICIAL["feishu"], kind="feishu", proxies={})
    assert "gateway at" not in str(outcome.cause) and "gateway's" not in str(outcome.cause)


PROXY = "http://127.0.0.1:3128"
LOGGED_IN = "http://herald:pr0xy-s3cret@127.0.0.1:3128"


def proxy_error(reason: str) -> requests.exceptions.ProxyError:
    """A ProxyError worded as requests and urllib3 word it."""
    return requests.exceptions.ProxyError(
        "HTTPSConnectionPool(host='open.feishu.cn', port=443): Max retries exceeded with url: /x "
        f"(Caused by ProxyError('Unable to connect to proxy', {reason}))"
    )


@pytest.mark.parametrize(
    ("reason", "proxy", "status", "code", "cause"),
    [
        (
            "OSError('Tunnel connection failed: 407 Proxy Authentication Required')",
            PROXY,
            Status.FAILED,
            "HTTP 407",
            "The proxy asks for a user name and password (HTTP 407)",
        ),
        (
            "OSError('Tunnel connection failed: 407 Proxy Authentication Required')",
            LOGGED_IN,
            Status.FAILED,
            "HTTP 407",
            "The proxy refused the user name and password (HTTP 407)",
        ),
        (
            "OSError('Tunnel connection failed: 401 Unauthorized')",
            LOGGED_IN,
            Status.FAILED,
            "HTTP 401",
            "refused the user name and password",
        ),
        (
            "OSError('Tunnel connection failed: 403 Forbidden')",
            PROXY,
            Status.FAILED,
            "HTTP 403",
            "The proxy does not allow Herald to reach open.feishu.cn",
        ),
        (
            "OSError('Tunnel connection failed: 502 Bad Gateway')",
            PROXY,
            Status.RETRY,
            "HTTP 502",
            "The proxy could not reach open.feishu.cn (HTTP 502 from the proxy)",
        ),
        (
            "OSError('Tunnel connection failed: 504 Gateway Timeout')",
            PROXY,
            Status.RETRY,
            "HTTP 504",
            "could not reach open.feishu.cn (HTTP 504",
        ),
        (
            "NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=3128): Failed to establish a new "
            'connection: [Errno 111] Connection refused")',
            LOGGED_IN,
            Status.RETRY,
            "proxy",
            "refused the connection: nothing answers at http://127.0.0.1:3128",
        ),
        (
            "NameResolutionError(\"<HTTPConnection(host='proxy.intra', port=3128)>: Failed to resolve\")",
            "http://proxy.intra:3128",
            Status.RETRY,
            "proxy",
            "host name cannot be resolved (http://proxy.intra:3128)",
        ),
        (
            "SSLError(SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number'))",
            "https://127.0.0.1:3128",
            Status.FAILED,
            "proxy",
            "The secure connection to the proxy itself failed",
        ),
        (
            "ReadTimeoutError(\"HTTPSConnectionPool(host='127.0.0.1', port=3128): Read timed out.\")",
            "https://127.0.0.1:3128",
            Status.RETRY,
            "proxy",
            "did not answer in time",
        ),
    ],
)
def test_proxy_failures_are_explained(reason, proxy, status, code, cause):
    proxies = {"http": proxy, "https": proxy}
    outcome = http.network_failure(
        proxy_error(reason), "https://open.feishu.cn/x", kind="feishu", proxies=proxies
    )
    assert (outcome.status, outcome.code) == (status, code)
    assert cause in str(outcome.cause)
    assert outcome.fix
    assert "pr0xy-s3cret" not in f"{outcome.cause} {outcome.fix} {outcome.raw}"


def test_an_https_proxy_that_does_not_answer_is_probably_plain_http():
    reason = "ReadTimeoutError(\"HTTPSConnectionPool(host='127.0.0.1', port=3128): Read timed out.\")"
    proxies = {"https": "https://127.0.0.1:3128"}
    outcome = http.network_failure(proxy_error(reason), "https://open.feishu.cn/x", proxies=proxies)
    assert "try http://" in str(outcome.fix)


def test_tls_through_a_proxy_points_at_an_inspecting_proxy():
    error = requests.exceptions.SSLError(
        "certificate verify failed: self-signed certificate in certificate chain"
    )
    through = http.network_failure(error, "https://open.feishu.cn/x", proxies={"https": PROXY})
    assert "through the proxy failed" in str(through.cause) and "REQUESTS_CA_BUNDLE" in str(through.fix)
    direct = http.network_failure(error, "https://open.feishu.cn/x", proxies={})
    assert "proxy" not in str(direct.cause)


def test_a_proxy_cutting_the_connection_short_is_named():
    error = requests.exceptions.ChunkedEncodingError(
        "(\"Connection broken: ConnectionResetError(104, 'Connection reset by peer')\", "
        "ConnectionResetError(104, 'Connection reset by peer'))"
    )
    outcome = http.network_failure(error, "http://hooks.example.com/x", proxies={"http": LOGGED_IN})
    assert outcome.status is Status.RETRY
    assert "closed the connection" in str(outcome.cause) and "http://127.0.0.1:3128" in str(outcome.cause)
    assert "pr0xy-s3cret" not in str(outcome.cause)


def test_the_proxy_password_is_scrubbed_from_the_raw_error():
    error = requests.exceptions.ConnectionError(f"could not use {LOGGED_IN} for https://open.feishu.cn/x")
    outcome = http.network_failure(error, "https://open.feishu.cn/x", proxies={"https": LOGGED_IN})
    assert "pr0xy-s3cret" not in outcome.raw
