"""The nginx forward Herald proposes: what it says, that nginx accepts it, that messages pass through it."""

import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from webapp.extensions import db
from webapp.models import Robot
from webapp.notifications import delivery
from webapp.notifications.gateway import GatewayError, nginx_forward, official_address

pytest_plugins = ["tests.emulators.fixtures"]

NGINX = "/usr/sbin/nginx"
OFFICIAL = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/8a0c7d1e-55b1-4f0a-9a57-1d2e3f4a5b6c",
    "lark": "https://open.larksuite.com/open-apis/bot/v2/hook/8a0c7d1e-55b1-4f0a-9a57-1d2e3f4a5b6c",
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=" + "ab12" * 16,
    "webhook": "https://hooks.example.com/ci/herald",
}
GATEWAY = "http://gateway.intra:8080"

needs_nginx = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")


# --- what the configuration says --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path", "upstream", "herald_url"),
    [
        (
            "wecom",
            "/wecom/cgi-bin/webhook/",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/",
            f"{GATEWAY}/wecom/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa",
        ),
        (
            "feishu",
            "/feishu/open-apis/bot/v2/hook/",
            "https://open.feishu.cn/open-apis/bot/v2/hook/",
            f"{GATEWAY}/feishu/open-apis/bot/v2/hook/8a0c7d1e-55b1-4f0a-9a57-1d2e3f4a5b6c",
        ),
        (
            "lark",
            "/lark/open-apis/bot/v2/hook/",
            "https://open.larksuite.com/open-apis/bot/v2/hook/",
            f"{GATEWAY}/lark/open-apis/bot/v2/hook/8a0c7d1e-55b1-4f0a-9a57-1d2e3f4a5b6c",
        ),
        (
            "dingtalk",
            "/dingtalk/robot/",
            "https://oapi.dingtalk.com/robot/",
            f"{GATEWAY}/dingtalk/robot/send?access_token={'ab12' * 16}",
        ),
        (
            "webhook",
            "/webhook/hooks.example.com/ci/",
            "https://hooks.example.com/ci/",
            f"{GATEWAY}/webhook/hooks.example.com/ci/herald",
        ),
    ],
)
def test_each_kind_is_forwarded_to_its_provider(app, kind, path, upstream, herald_url):
    forward = nginx_forward(kind, OFFICIAL[kind], GATEWAY)
    assert (forward.path, forward.upstream, forward.herald_url) == (path, upstream, herald_url)
    host = upstream.split("/")[2]
    block = forward.location
    assert f"location {path} {{" in block and f"    proxy_pass {upstream};" in block
    assert f"    proxy_set_header Host {host};" in block
    for directive in ("proxy_ssl_server_name on;", "proxy_http_version 1.1;", "proxy_ssl_verify on;"):
        assert directive in block
    assert "proxy_connect_timeout 4s;" in block and "proxy_read_timeout 5s;" in block
    assert "ab12ab12" not in block and "8a0c7d1e" not in block and "693a91f6" not in block  # no token


def test_a_gateway_with_a_path_of_its_own(app):
    forward = nginx_forward("feishu", OFFICIAL["feishu"], "https://gw.intra/herald-out/")
    assert forward.path == "/herald-out/feishu/open-apis/bot/v2/hook/"
    assert forward.herald_url.startswith("https://gw.intra/herald-out/feishu/open-apis/bot/v2/hook/8a0c")


def test_a_provider_on_plain_http_with_a_port(app):
    forward = nginx_forward("webhook", "http://ci.intra:8081", GATEWAY)
    assert forward.upstream == "http://ci.intra:8081/" and forward.host == "ci.intra:8081"
    assert forward.herald_url == f"{GATEWAY}/webhook/ci.intra/"
    assert "proxy_ssl" not in forward.location


@pytest.mark.parametrize(
    ("official", "gateway", "field", "words"),
    [
        (OFFICIAL["feishu"], "", "gateway_url", "http://"),
        (OFFICIAL["feishu"], "gateway.intra:8080", "gateway_url", "http://"),
        (OFFICIAL["feishu"], "http://gw.intra/?x=1", "gateway_url", "“?”"),
        (OFFICIAL["feishu"], "http://gw.intra:99999", "gateway_url", "port"),
        (OFFICIAL["feishu"], "http://user:pw@gw.intra", "gateway_url", "password"),
        (OFFICIAL["feishu"], "http://gw.intra/a;b", "gateway_url", "misread"),
        (OFFICIAL["feishu"], "http://gw.intra/a$host", "gateway_url", "misread"),
        (OFFICIAL["feishu"], "http://gw.intra/a{b}", "gateway_url", "misread"),
        ("ftp://open.feishu.cn/x", GATEWAY, "official_url", "http://"),
        ("https://open.feishu.cn/open-apis/im/v1/messages", GATEWAY, "official_url", "Feishu"),
        ("https://hooks.example.com/a b", GATEWAY, "official_url", "misread"),
        (f"{GATEWAY}/feishu/open-apis/bot/v2/hook/x", GATEWAY, "official_url", "gateway's own"),
    ],
)
def test_addresses_that_cannot_make_a_configuration(app, official, gateway, field, words):
    with pytest.raises(GatewayError) as refused:
        nginx_forward("feishu" if "feishu" in official else "webhook", official, gateway)
    assert refused.value.field == field and words in str(refused.value.message)


def test_the_official_address_behind_a_robots_field(app):
    assert official_address("feishu", OFFICIAL["feishu"]) == OFFICIAL["feishu"]
    through = nginx_forward("dingtalk", OFFICIAL["dingtalk"], GATEWAY).herald_url
    assert official_address("dingtalk", through) == OFFICIAL["dingtalk"]
    assert official_address("webhook", "http://ci.intra/hook") == "http://ci.intra/hook"
    assert official_address("wecom", "http://gw.intra/other/path?key=k") is None
    assert official_address("wecom", "not an address") is None
    assert official_address("msteams", OFFICIAL["feishu"]) is None


# --- nginx accepts it -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_conf(folder: Path, blocks: list[str], upstreams: list[str], port: int) -> Path:
    """A minimal nginx.conf whose one server holds the blocks; every path inside the folder."""
    for i, block in enumerate(blocks):
        (folder / f"herald-{i}.conf").write_text(block, encoding="utf-8")
    # Naming an upstream after the provider's host lets nginx check the block without resolving it by DNS.
    named = "".join(f"    upstream {host} {{ server 127.0.0.1:9; }}\n" for host in upstreams)
    temp = "".join(
        f"    {name}_temp_path {folder}/{name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"pid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log;\n"
        "events {}\n"
        "http {\n"
        "    access_log off;\n"
        f"{temp}{named}"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        + "".join(f"        include {folder}/herald-{i}.conf;\n" for i in range(len(blocks)))
        + "    }\n}\n",
        encoding="utf-8",
    )
    return conf


def nginx_test(conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(conf.parent)], capture_output=True, text=True, timeout=30
    )


@needs_nginx
def test_nginx_accepts_the_blocks_of_every_kind_together(app, tmp_path):
    forwards = [nginx_forward(kind, url, GATEWAY) for kind, url in OFFICIAL.items()]
    conf = write_conf(tmp_path, [f.location for f in forwards], [f.host for f in forwards], free_port())
    result = nginx_test(conf)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@needs_nginx
def test_nginx_refuses_a_broken_block_so_the_check_means_something(app, tmp_path):
    forward = nginx_forward("feishu", OFFICIAL["feishu"], GATEWAY)
    broken = forward.location.replace("proxy_http_version 1.1;", "proxy_http_version 1.1")
    conf = write_conf(tmp_path, [broken], [forward.host], free_port())
    assert nginx_test(conf).returncode != 0


# --- messages pass through it -----------------------------------------------------------------------------


@pytest.fixture
def gateway_for(tmp_path):
    """Start a real nginx serving the given blocks on a loopback port; yields a starter, stops it after."""
    processes = []

    def start(blocks: list[str]) -> str:
        port = free_port()
        conf = write_conf(tmp_path, blocks, [], port)
        conf.write_text("daemon off;\nmaster_process off;\n" + conf.read_text())
        process = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        processes.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if process.poll() is not None:
                    pytest.fail(process.stderr.read().decode())
                time.sleep(0.05)
        pytest.fail("nginx did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def _robot_through(project, kind, url, **fields) -> Robot:
    robot = Robot(project_id=project.id, kind=kind, name=f"{kind} via nginx", webhook_url=url, **fields)
    db.session.add(robot)
    db.session.commit()
    return robot


@needs_nginx
@pytest.mark.parametrize("kind", ["feishu", "dingtalk", "wecom"])
def test_a_signed_message_with_its_keyword_passes_through_nginx(app, project, request, gateway_for, kind):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    secret = "SEC0123456789abcdef" if kind != "wecom" else ""
    keywords = ["测试用例"] if kind != "wecom" else []
    emulator.robot.secret, emulator.robot.keywords = secret, keywords
    # The emulator stands where the provider is; the block is Herald's own, pointing at it over http.
    forward = nginx_forward(kind, emulator.url, "http://placeholder.intra")
    base = gateway_for([forward.location])
    address = forward.herald_url.replace("http://placeholder.intra", base)
    robot = _robot_through(project, kind, address, keywords=keywords, secret=secret)
    record = delivery.send_test_message(robot, "测试用例 through the gateway", "Hello from the intranet")
    assert record.status == "sent", (record.cause, record.reply)
    [message] = emulator.messages
    assert "Hello from the intranet" in message.text
    [received] = emulator.requests
    assert received.path == urlsplit(emulator.url).path  # the provider sees its own path, prefix gone
