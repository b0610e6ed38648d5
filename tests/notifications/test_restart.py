"""Issue 11, points 1 and 2: a restarted server sends what is due with no visitor, and a server killed under
load repeats only what it had on its way.

Herald runs as the README hosts it: gunicorn with two workers (or `flask run`, what `make run` serves), on the
test's database (a SQLite file, then PostgreSQL), in a process group of its own. The webhook receivers and the
SMTP server count what arrives, by the identity each copy carries (X-Herald-Delivery, Message-ID).
"""

import socket
import struct
import threading
import time
from collections import Counter
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import PASSWORD
from tests.notifications import helpers
from tests.notifications.doors import Door
from tests.notifications.helpers import add_robot, deliveries, mail_members, outbox_left_behind, until
from tests.notifications.processes import environment, served
from webapp.notifications.delivery import OPEN

database = helpers.database  # the test's app on SQLite, then on PostgreSQL

WORKERS, THREADS = 2, 4  # gunicorn workers, delivery threads in each
LEASE = 5  # seconds: a dead server's claims come back soon


@pytest.fixture
def checkout(database):
    return helpers.team()


def _posted(receiver) -> Counter:
    """How many times each message (its X-Herald-Delivery) reached the receiver and was accepted."""
    return Counter(r.headers.get("X-Herald-Delivery") for r in receiver.requests if r.status == 200)


def _mailed(server) -> Counter:
    return Counter(mail.message["Message-ID"] for mail in server.received)


def _open_rows() -> int:
    return sum(1 for d in deliveries() if d.status in OPEN)


@pytest.mark.parametrize("kind", ["gunicorn", "flask run"])
def test_a_restarted_server_sends_what_is_due_with_no_visitor(
    database, checkout, plain_server, webhook_receiver, kind
):
    project, admin = checkout
    mail_members(project, plain_server)
    add_robot(project, "webhook", webhook_receiver.url_for(webhook_receiver.robot))
    outbox_left_behind(database, project, admin, 10, "Left due")
    rows = deliveries()
    assert len(rows) == 30 and {d.status for d in rows} == {"pending"}

    env = environment(database, HERALD_DISPATCH="pool")
    with served(env, "gunicorn" if kind == "gunicorn" else "flask") as server:
        # Nobody opens a page: the server sweeps on its own, at once (well within one sweep interval, 30 s).
        sent = until(lambda: _open_rows() == 0, timeout=25)
        assert sent, f"{_open_rows()} messages still waiting with no visitor:\n{server.output()}"

    assert len(_posted(webhook_receiver)) == 10 and set(_posted(webhook_receiver).values()) == {1}
    assert len(_mailed(plain_server)) == 20 and set(_mailed(plain_server).values()) == {1}
    assert [(d.status, d.attempts) for d in deliveries()] == [("sent", 1)] * 30


# Generous: on a busy machine (the suite's other processes) a worker may take seconds to answer a page.
PAGE_TIMEOUT = 60


class Saver:
    """A user saving cases in a row through the server's pages, until told to stop or the server dies."""

    def __init__(self, url: str, project_id: int, email: str) -> None:
        self.url, self.project_id, self.saved = url, project_id, []
        self.session = requests.Session()
        page = self.session.get(f"{url}/login", timeout=PAGE_TIMEOUT)
        self.token = _csrf(page.text)
        reply = self.session.post(
            f"{url}/login",
            data={"email": email, "password": PASSWORD, "csrf_token": self.token},
            allow_redirects=False,
            timeout=PAGE_TIMEOUT,
        )
        assert reply.status_code == 303, reply.text
        form = self.session.get(f"{url}/projects/{project_id}/cases/new", timeout=PAGE_TIMEOUT)
        self.token = _csrf(form.text)
        self.stop = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.stop.is_set():
            title = f"Burst case {number:04}"
            try:
                reply = self.session.post(
                    f"{self.url}/projects/{self.project_id}/cases/new",
                    data={"title": title, "priority": "P2", "csrf_token": self.token},
                    allow_redirects=False,
                    timeout=PAGE_TIMEOUT,
                )
            except requests.RequestException:
                return  # the server is gone
            if reply.status_code == 303:
                self.saved.append(title)
            number += 1


def _csrf(page: str) -> str:
    marker = 'name="csrf_token" type="hidden" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_a_server_killed_under_load_repeats_only_what_was_on_its_way(
    database, checkout, plain_server, webhook_receiver
):
    project, admin = checkout
    mail_members(project, plain_server)
    add_robot(project, "webhook", webhook_receiver.url_for(webhook_receiver.robot))
    Door(webhook_receiver).delay = 0.02  # a provider a little slower than loopback: sends overlap the kill
    env = environment(
        database,
        HERALD_DISPATCH="pool",
        HERALD_DELIVERY_WORKERS=str(THREADS),
        HERALD_DELIVERY_LEASE_SECONDS=str(LEASE),
    )

    with served(env, workers=WORKERS) as server:
        server.wait_up()
        saver = Saver(server.url, project.id, admin.email)
        thread = threading.Thread(target=saver.run)
        thread.start()
        # Kill in the thick of it: messages arriving, more being saved.
        arrived = until(lambda: len(webhook_receiver.requests) >= 30, timeout=60)
        server.kill()
        saver.stop.set()
        thread.join(timeout=30)
        assert arrived, server.output()
    before = deliveries()
    on_its_way = [d.id for d in before if d.status in OPEN and d.sending_at is not None]
    assert before and any(d.status in OPEN for d in before), "the kill came after everything was sent"

    with served(env, workers=WORKERS) as server:
        drained = until(lambda: _open_rows() == 0, timeout=LEASE + 60)
        assert drained, f"{_open_rows()} messages never went out after the restart:\n{server.output()}"

    rows = deliveries()
    saved = len({d.event_id for d in rows})
    assert saved >= len(saver.saved) > 0  # a save whose response the kill cut off may be saved too
    posted, mailed = _posted(webhook_receiver), _mailed(plain_server)
    webhook_ids = {str(d.id) for d in rows if d.channel == "webhook"}
    # Nothing lost: every message of every save reached its receiver.
    assert set(posted) == webhook_ids and len(webhook_ids) == saved
    assert len(mailed) == 2 * saved
    # Repeated: only what was on its way at the kill, at most one per delivery thread; each is in the log.
    repeated = [key for key, count in (posted + mailed).items() if count > 1]
    assert len(repeated) <= WORKERS * THREADS
    assert all(count <= 2 for count in (posted + mailed).values())
    interrupted = {d.id for d in rows if any(a.status == "interrupted" for a in d.attempt_log)}
    assert interrupted == set(on_its_way)
    assert len(repeated) <= len(interrupted)
    assert {d.status for d in rows} == {"sent"}
    print(
        f"saved {saved}, messages {len(rows)}, lost 0, repeated {len(repeated)}, "
        f"on their way at the kill {len(on_its_way)}"
    )


def _save_and_reset(saver: Saver, title: str, after: float) -> None:
    """Post a save as a browser would, then drop the connection `after` seconds later (a reload, a closed
    tab): a reset while the server is answering."""
    body = urlencode({"title": title, "priority": "P2", "csrf_token": saver.token}).encode()
    cookies = "; ".join(f"{c.name}={c.value}" for c in saver.session.cookies)
    host, port = saver.url.removeprefix("http://").split(":")
    head = (
        f"POST /projects/{saver.project_id}/cases/new HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Cookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(head + body)
        time.sleep(after)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_save_whose_client_drops_the_connection_is_sent_promptly(database, checkout, webhook_receiver):
    project, admin = checkout
    add_robot(project, "webhook", webhook_receiver.url_for(webhook_receiver.robot))
    env = environment(database, HERALD_DISPATCH="pool")
    with served(env, "flask") as server:
        server.wait_up()
        saver = Saver(server.url, project.id, admin.email)
        # The development server skips closing the response when the reset comes while it answers (about
        # 8 to 20 ms after the request, here): the moment the save's messages are normally handed on.
        delays = [0.006 + 0.002 * step for step in range(12)]
        for n, after in enumerate(delays):
            _save_and_reset(saver, f"Dropped {n}", after)
            started = time.monotonic()
            arrived = until(lambda n=n: len(webhook_receiver.messages) == n + 1, timeout=25)
            waited = time.monotonic() - started
            assert arrived, f"the save's message never went out:\n{server.output()}"
            assert waited < 5, f"the message of a save dropped after {after} s took {waited:.1f} s"
    texts = [m.text for m in webhook_receiver.messages]
    assert len(texts) == len(delays) and all(f"Dropped {n}" in text for n, text in enumerate(texts))
