"""Posting a robot's request: the exact bytes, one connection kept for many messages, no redirect followed."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp.notifications import guard, http
from webapp.notifications.channels.base import HttpRequest

LOOPBACK = guard.parse("127.0.0.1")  # the receiver listens there, which the guard refuses unless allowed


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open, as the providers' servers do

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        if self.path.endswith("/moved"):
            self.send_response(301)
            self.send_header("Location", "/elsewhere")
            reply = b""
        else:
            self.send_response(200)
            reply = b'{"code":0,"msg":"success"}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.connections, server.received = 0, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_messages_to_a_server_that_keeps_connections_open_share_one(receiver, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    body = '{"msg_type":"text","content":{"text":"用例已更新"}}'.encode()
    for _ in range(5):
        reply = http.post(
            HttpRequest("POST", url(receiver, "/hook/t0ken"), {"Content-Type": "application/json"}, body),
            guard=LOOPBACK,
        )
        assert reply.status_code == 200 and reply.text == '{"code":0,"msg":"success"}'

    assert receiver.connections == 1
    path, headers, received = receiver.received[0]
    assert path == "/hook/t0ken" and received == body  # the bytes as built (and signed), untouched
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"].startswith(
        "python-requests"
    )


def test_a_redirect_is_reported_not_followed(receiver):
    reply = http.post(HttpRequest("POST", url(receiver, "/hook/moved"), {}, b"{}"), guard=LOOPBACK)

    assert reply.status_code == 301 and reply.headers["Location"] == "/elsewhere"
    assert [path for path, _, _ in receiver.received] == ["/hook/moved"]
