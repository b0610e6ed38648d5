"""The far ends, in a process of their own: provider emulators, an SMTP server, a robot that never answers.

They run apart from the benchmarked code so that their CPU time (and the GIL) is not billed to Herald, as
with real providers; the parent drives them through a pipe with small commands (`Remote`).
"""

import logging
import multiprocessing
import socket
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests import smtp_server
from tests.emulators import DingTalkEmulator, FeishuEmulator, WebhookReceiver, WeComEmulator

KINDS = {
    "feishu": FeishuEmulator,
    "lark": FeishuEmulator,
    "wecom": WeComEmulator,
    "dingtalk": DingTalkEmulator,
    "webhook": WebhookReceiver,
}
UNLIMITED = 10**9
# What each provider answers when a robot sends too fast.
RATE_LIMIT_CODES = ('"code":11232', '"code":9499', '"errcode":45009', '"errcode":130101')


def _slow(cls: type, delay: float) -> type:
    """The emulator, answering every request `delay` seconds late (the wait happens outside its lock)."""

    class Slow(cls):
        def _app(self, environ, start_response):
            time.sleep(delay)
            return super()._app(environ, start_response)

    return Slow


class SilentListener:
    """A port that accepts connections and never says a word, until hang_up()."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(connection)

    def hang_up(self) -> int:
        """Close every held connection (the client sees the server go away); returns how many."""
        with self._lock:
            held, self._held = self._held, []
        for connection in held:
            connection.close()
        return len(held)

    def close(self) -> None:
        self.hang_up()
        self._socket.close()


class Host:
    """What lives in the child process; each public method is a command."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.emulators: dict[str, Any] = {}
        self.robots: dict[str, Any] = {}
        self.smtp: dict[str, Any] = {}
        self.silent: dict[str, SilentListener] = {}
        self.certificate = smtp_server.make_certificate(
            Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )

    def emulator(self, name: str, kind: str, delay: float = 0.0, unlimited: bool = False) -> str:
        """Start an emulator of a kind; returns its base URL."""
        cls = _slow(KINDS[kind], delay) if delay else KINDS[kind]
        emulator = self.stack.enter_context(cls())
        if unlimited:
            emulator.per_second = UNLIMITED
            emulator.robot.per_minute = UNLIMITED
        self.emulators[name] = emulator
        self.robots[name] = (emulator, emulator.robot)
        return emulator.base_url

    def robot(self, emulator: str, name: str, unlimited: bool = False) -> str:
        """A further robot on an emulator; returns its webhook address."""
        source = self.emulators[emulator]
        robot = source.add_robot(per_minute=UNLIMITED) if unlimited else source.add_robot()
        self.robots[name] = (source, robot)
        return source.url_for(robot)

    def url(self, robot: str) -> str:
        """The webhook address of a robot (an emulator's name stands for its default robot)."""
        emulator, found = self.robots[robot]
        return emulator.url_for(found)

    def token(self, robot: str) -> str:
        return self.robots[robot][1].token

    def texts(self, robot: str) -> list[str]:
        """What the robot's group received, one text per accepted message."""
        return list(self.robots[robot][1].texts)

    def accepted(self, robot: str) -> int:
        return len(self.robots[robot][1].messages)

    def replies(self, emulator: str) -> list[tuple[int, str]]:
        """(HTTP status, reply body) of every request the emulator answered."""
        return [(r.status, r.reply) for r in list(self.emulators[emulator].requests)]

    def rate_limited(self, emulator: str) -> int:
        return sum(1 for _, reply in self.replies(emulator) if any(c in reply for c in RATE_LIMIT_CODES))

    def forget(self, emulator: str) -> None:
        """Drop what an emulator recorded (requests, messages, rate windows): a clean start."""
        source = self.emulators[emulator]
        source.requests.clear()
        for robot in source.robots.values():
            robot.messages.clear()
            robot.accepted_at.clear()
            robot.throttled_until = 0.0

    def smtp_server(self, name: str, mode: str = "ssl", delay: float = 0.0) -> dict:
        """Start an SMTP server (QQ-like: login over TLS); returns where it is and how to log in."""
        account = None if mode == "plain" else smtp_server.ACCOUNT
        handler = smtp_server.QQLikeHandler(account=account, stall_data=delay)
        server = self.stack.enter_context(smtp_server.smtp_server(mode, self.certificate, handler))
        self.smtp[name] = server
        return {
            "host": server.host,
            "port": server.port,
            "mode": mode,
            "account": account,
            "ca_pem": self.certificate.pem,
        }

    def mail_received(self, name: str) -> list[tuple[str, ...]]:
        """The recipients of every message the SMTP server took."""
        return [tuple(r.rcpt_tos) for r in list(self.smtp[name].received)]

    def mail_sessions(self, name: str) -> int:
        """How many SMTP sessions (client ports) delivered the messages taken so far."""
        return len({r.peer for r in list(self.smtp[name].received)})

    def mail_forget(self, name: str) -> None:
        self.smtp[name].received.clear()

    def silent_port(self, name: str) -> int:
        listener = SilentListener()
        self.stack.callback(listener.close)
        self.silent[name] = listener
        return listener.port

    def hang_up(self, name: str) -> int:
        return self.silent[name].hang_up()

    def hang_up_all(self) -> int:
        return sum(listener.hang_up() for listener in self.silent.values())


def _serve(connection) -> None:
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns of its own deprecated attribute
    with ExitStack() as stack:
        host = Host(stack)
        connection.send(("ready", None))
        while True:
            command, args, kwargs = connection.recv()
            if command == "stop":
                break
            try:
                connection.send(("ok", getattr(host, command)(*args, **kwargs)))
            except Exception as error:  # reported to the parent, which raises it there
                connection.send(("error", f"{type(error).__name__}: {error}"))
    connection.send(("ok", None))


class Remote:
    """The parent's handle on the child process: remote.emulator("feishu", "feishu") and so on."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="bench-servers", daemon=True)
        self._process.start()
        self._lock = threading.Lock()
        status, _ = self._connection.recv()
        assert status == "ready"

    def __getattr__(self, command: str):
        if command.startswith("_"):
            raise AttributeError(command)

        def call(*args, **kwargs):
            with self._lock:
                self._connection.send((command, args, kwargs))
                status, value = self._connection.recv()
            if status == "error":
                raise RuntimeError(f"benchmark server: {value}")
            return value

        return call

    def close(self) -> None:
        with self._lock:
            self._connection.send(("stop", (), {}))
            self._connection.recv()
        self._process.join(timeout=10)

    def __enter__(self) -> "Remote":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
