"""Saving a case through the real route, with channels that take 300 ms (or forever) against none at all."""

import time
import uuid

from benchmarks import harness, profiling
from benchmarks.harness import Result, Workspace, median, timed
from webapp.extensions import db

ROUNDS = 8
SAVES = 8  # per scenario and round
DELAY = 0.3  # every far end answers this late
ROBOTS = ("feishu", "dingtalk", "wecom")


class Scenario:
    """One app (its own database, dispatcher pool and sweeper) with a project set up one way."""

    hold = False  # True: the save's messages are planned but handed to no worker (a diagnostic)

    def __init__(self, workspace: Workspace, name: str, **overrides) -> None:
        self.name = name
        self.app = workspace.app(f"save-{name}", **overrides)
        with self.app.app_context():
            owner = harness.admin()
            self.maintainer, *self.followers = harness.people(3, "member")
            self.project = harness.project("Checkout", owner, [self.maintainer, *self.followers])
            self.project_id = self.project.id
            self.people = (self.maintainer.id, [u.id for u in self.followers])
            db.session.expunge_all()
        self.client = self.app.test_client().login("bench.admin@example.com")
        self.url = f"/projects/{self.project_id}/cases/new"
        self.client.form_token(self.url)
        self.count = 0

    def save(self) -> float:
        """POST the new-case form; the seconds until the 303 came back (then closed, as a server does)."""
        self.count += 1
        maintainer, followers = self.people
        data = {
            "title": f"Pay by card #{self.count}",
            "module": "Payments/Card",
            "priority": "P1",
            "steps": "1. Add an item\n2. Pay by card",
            "expected": "The order is paid",
            "tags": "smoke, payments",
            "maintainer_id": str(maintainer),
            "follower_ids": [str(uid) for uid in followers],
            "csrf_token": self.client.csrf_token,
        }
        response = None

        def post():
            nonlocal response
            response = self.client.post(self.url, data=data)

        if self.hold:
            with harness.collecting(self.app):
                seconds = timed(post)
        else:
            seconds = timed(post)
        # A WSGI server closes the response after its last byte, and Herald hands the save's messages to the
        # workers then; Werkzeug's test client leaves that to its caller. The user has the page at this point.
        response.close()
        assert response.status_code == 303, (self.name, response.status_code)
        return seconds

    def settle(self) -> None:
        """Wait until the pool is idle (sent, or waiting for a pacing slot): each save stands alone."""
        harness.wait_until(lambda: harness.jobs(self.app) == 0 and not _busy(self.app), timeout=5)


def _busy(app) -> bool:
    """Whether the dispatcher still has work beside its pool's queue (attempts not yet written, for one)."""
    busy = getattr(app.extensions["herald.dispatcher"], "busy", 0)
    return bool(busy() if callable(busy) else busy)


class HungScenario(Scenario):
    """One robot whose server accepts the connection and never answers."""

    def __init__(self, workspace: Workspace, remote) -> None:
        super().__init__(workspace, "hung")
        self.remote = remote
        port = remote.silent_port("hung")
        with self.app.app_context():
            harness.robot(
                self.project_id,
                "feishu",
                f"http://127.0.0.1:{port}/open-apis/bot/v2/hook/{uuid.uuid4()}",
                "Hung",
            )

    def settle(self) -> None:
        """Nothing to wait for: the robot never answers (its worker waits out the read timeout)."""

    def release(self) -> None:
        """After a batch: hang up on every waiting worker so the next batch starts with a free pool."""

        def free() -> bool:
            self.remote.hang_up("hung")
            return harness.jobs(self.app) == 0

        harness.wait_until(free, timeout=60, poll=0.05)


def _channels(scenario: Scenario, remote, server: dict) -> Scenario:
    """Mail to the maintainer and two followers, and three robots, each far end answering 300 ms late."""
    with scenario.app.app_context():
        harness.mail_through(server)
        harness.mail_on(scenario.project_id)
        for kind in ROBOTS:
            harness.robot(scenario.project_id, kind, remote.url(f"save-{kind}"), kind.title())
    return scenario


def _scenarios(workspace: Workspace, remote) -> list[Scenario]:
    server = remote.smtp_server("save", mode="ssl", delay=DELAY)
    for kind in ROBOTS:
        remote.emulator(f"save-{kind}", kind, delay=DELAY, unlimited=True)
    busy = _channels(Scenario(workspace, "busy"), remote, server)
    # The same save with its messages kept from the workers (and the sweeper off, so they are never sent):
    # what planning costs inside the request, apart from the workers running beside it.
    held = _channels(Scenario(workspace, "held", NOTIFICATIONS_SWEEP_SECONDS=86400), remote, server)
    held.hold = True
    return [Scenario(workspace, "quiet"), busy, HungScenario(workspace, remote), held]


def run(workspace: Workspace, remote) -> list[Result]:
    scenarios = _scenarios(workspace, remote)
    hung = scenarios[2]
    for scenario in scenarios:  # warm up: templates compiled, connections opened, sweeper started
        scenario.save()
        scenario.settle()
    hung.release()
    rounds: dict[str, list[float]] = {s.name: [] for s in scenarios}
    for round_number in range(ROUNDS):
        # The scenarios take turns save by save, in a different order each round, so that a change in the
        # machine's load during a round weighs on all of them alike.
        shift = round_number % len(scenarios)
        order = scenarios[shift:] + scenarios[:shift]
        times: dict[str, list[float]] = {s.name: [] for s in scenarios}
        for _ in range(SAVES):
            for scenario in order:
                times[scenario.name].append(scenario.save())
                scenario.settle()
                time.sleep(0.02)
            hung.release()
        for name, values in times.items():
            rounds[name].append(median(values))
    delivered = (
        remote.accepted("save-feishu"),
        remote.accepted("save-dingtalk"),
        remote.accepted("save-wecom"),
    )
    mails = len(remote.mail_received("save"))
    saves = 1 + ROUNDS * SAVES
    busy = scenarios[1]
    # The request thread only (cProfile follows the thread that starts it), not the waits between saves.
    total, parts = profiling.profile(*[busy.save] * 5, between=busy.settle)
    breakdown = profiling.describe(total, parts, per=5)
    floor = median(rounds["quiet"])
    return [
        Result("Save a case, no channel", floor, runs=rounds["quiet"], note=f"{saves} saves"),
        Result(
            "Save a case, mail + 3 robots (300 ms each)",
            median(rounds["busy"]),
            floor=floor,
            floor_name="no channel",
            target=1.2,
            runs=rounds["busy"],
            note=f"robots got {'/'.join(map(str, delivered))} of {saves} each (WeCom and DingTalk take 20 a "
            f"minute: the rest wait for the window or go into digests); {mails} mails for 3 × {saves}; "
            f"profile of the request per save: {breakdown}",
        ),
        Result(
            "Save a case, 1 robot that never answers",
            median(rounds["hung"]),
            floor=floor,
            floor_name="no channel",
            target=1.2,
            runs=rounds["hung"],
        ),
        Result(
            "Save a case, mail + 3 robots planned but not sent (diagnostic)",
            median(rounds["held"]),
            floor=floor,
            floor_name="no channel",
            runs=rounds["held"],
            note="the outbox rows are written in the save's transaction; no worker runs beside the request",
        ),
    ]
