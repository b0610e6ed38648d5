"""Herald in other processes on the test's database: a server that saves a case (and is killed), the cron
command, and app processes whose sweeper ticks (the children run `python -m tests.notifications.processes`);
and a throwaway PostgreSQL server for the same tests on PostgreSQL.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from glob import glob
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]


def environment(app: Flask, **settings: str) -> dict[str, str]:
    """The environment of a Herald process on the same database and secret key as the test's app."""
    return os.environ | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "HERALD_INSTANCE_PATH": app.instance_path,
        "NO_PROXY": "127.0.0.1,localhost",
        # The production configuration refuses loopback: the test's receivers are there.
        "HERALD_OUTBOUND_ALLOW": app.config["OUTBOUND_ALLOW"],
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


def cron(env: dict[str, str]) -> str:
    """Run `flask notifications deliver` once, as cron would; returns what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "notifications", "deliver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def start(env: dict[str, str], *args: object) -> subprocess.Popen:
    """Start a child process of this module (see main())."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.notifications.processes", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Server:
    """Herald served on a loopback port by a real server (gunicorn, or `flask run`), in a process group of its
    own so that the whole of it can be killed at once."""

    def __init__(self, env: dict[str, str], kind: str = "gunicorn", workers: int = 2) -> None:
        from tests.smtp_server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (closed by served(), after the server)
        if kind == "gunicorn":
            command = [
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "wsgi:app",
            ]
        else:
            command = ["-m", "flask", "--app", "wsgi", "run", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL to every process of the server at once, as a crash or `kill -9` of the group does."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """End the server as an operator does (SIGTERM: gunicorn's workers finish what they hold)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def wait_up(self, timeout: float = 60) -> None:
        """Wait until the server answers a page (a request: only for tests that may make one)."""
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/login", timeout=30).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or too busy to answer
                time.sleep(0.1)
        raise AssertionError(f"the server never answered:\n{self.output()}")


@contextmanager
def served(env: dict[str, str], kind: str = "gunicorn", workers: int = 2) -> Iterator[Server]:
    server = Server(env, kind, workers)
    try:
        yield server
    finally:
        server.stop()
        server.log.close()


def postgres_binary(name: str) -> str | None:
    """Debian's PostgreSQL program `name` (initdb, pg_ctl), or None when PostgreSQL is not installed."""
    found = shutil.which(name) or sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of its own on a loopback port, gone afterwards; yields an empty database's URL."""
    from psycopg import connect

    from tests.smtp_server import free_port

    # PostgreSQL refuses to run as root: as root, run it as the postgres user, in a folder it owns.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="herald-pg-"))
    if as_postgres:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_postgres, postgres_binary("pg_ctl"), "-D", str(data)]
    quiet = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(
            [*as_postgres, postgres_binary("initdb"), "-D", data, "-A", "trust", "-U", "postgres"], **quiet
        )
        subprocess.run([*pg_ctl, "-o", options, "-l", str(folder / "log"), "-w", "start"], **quiet)
        try:
            with connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as connection:
                connection.execute("CREATE DATABASE herald")
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/herald"
        finally:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], **quiet)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_case(project_id: int, actor_id: int, title: str) -> None:
    """A server process: save a case, then go on running (delivering) until killed."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Project, User
    from webapp.services import cases as case_service
    from webapp.services.cases import CaseInput

    app = create_app()
    with app.app_context():
        project, actor = db.session.get(Project, project_id), db.session.get(User, actor_id)
        case_service.create_case(project, actor, CaseInput(title=title))
    print("committed", flush=True)
    if os.environ.get("HERALD_TEST_THEN") == "exit":
        return  # the process ends now, its messages still on their way: as a server stopped on purpose does
    threading.Event().wait()


def serve(tick: float, timeout: float) -> None:
    """An app process whose sweeper ticks every `tick` seconds, until no message is open any more."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Delivery
    from webapp.notifications.delivery import OPEN

    app = create_app(NOTIFICATIONS_SWEEP_SECONDS=tick)
    dispatcher = app.extensions["herald.dispatcher"]
    dispatcher.start_sweeper()
    deadline, left = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        with app.app_context():
            left = db.session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.in_(OPEN))
            )
        if not left:
            break
        time.sleep(0.1)
    dispatcher.shutdown()
    print(f"open: {left}", flush=True)
    sys.exit(1 if left else 0)


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "save":
        save_case(int(args[0]), int(args[1]), args[2])
    elif command == "serve":
        serve(float(args[0]), float(args[1]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
