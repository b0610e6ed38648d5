"""What one robot message costs Herald, against a bare pooled requests.Session and against Apprise."""

from datetime import UTC, datetime

import apprise
import requests
from apprise.plugins.feishu import NotifyFeishu

from benchmarks import harness, profiling
from benchmarks.harness import Result, Workspace, median, timed
from webapp.extensions import db
from webapp.models import Delivery, Project, Robot, User
from webapp.models.notifications import DeliveryStatus
from webapp.notifications.channels.registry import CHANNELS
from webapp.notifications.delivery import deliver, robot_message, robot_settings
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput

ROUNDS = 15
# One event goes to this many Feishu robots: one message each per round, so that no robot comes near
# its provider's rate limit and pacing never has to wait (waiting is measured in the burst benchmarks).
ROBOTS = 40


class Setup:
    def __init__(self, workspace: Workspace, remote, workers: int) -> None:
        self.app = workspace.app(f"robot-cost-{workers}", NOTIFICATIONS_WORKERS=workers)
        self.remote = remote
        base = remote.emulator("cost", "feishu", unlimited=True)
        with self.app.app_context():
            owner = harness.admin()
            self.actor_id = owner.id
            self.project_id = harness.project("Checkout", owner).id
            tokens = []
            for i in range(ROBOTS):
                url = remote.robot("cost", f"cost-{workers}-{i}", unlimited=True)
                harness.robot(self.project_id, "feishu", url, f"Feishu {i}")
                tokens.append(url.rsplit("/", 1)[1])
        self.apprise = [_apprise_feishu(token, base) for token in tokens]
        self.session = requests.Session()
        self.events = 0

    def plan(self) -> list[tuple[int, object, tuple[str, str]]]:
        """A new event's messages, planned but not sent: (delivery id, the request Herald builds, text)."""
        self.events += 1
        with self.app.app_context(), harness.collecting(self.app) as collected:
            project = db.session.get(Project, self.project_id)
            actor = db.session.get(User, self.actor_id)
            case_service.create_case(project, actor, CaseInput(title=f"Refund to card #{self.events}"))
        planned = []
        with self.app.app_context():
            for [delivery_id] in collected.batches:
                delivery = db.session.get(Delivery, delivery_id)
                robot = db.session.get(Robot, int(delivery.target))
                request = CHANNELS["feishu"].build_request(
                    robot_message(delivery), robot_settings(robot), datetime.now(UTC)
                )
                planned.append((delivery_id, request, (delivery.subject, delivery.body_text)))
        return planned

    def floor(self, planned) -> None:
        for _, request, _ in planned:
            reply = self.session.post(
                request.url, data=request.body, headers=dict(request.headers), timeout=10
            )
            assert reply.status_code == 200 and '"code":0' in reply.text, reply.text

    def herald(self, planned) -> None:
        """The event's messages as a commit hands them on: one job to the pool, until all are recorded."""
        self.app.extensions["herald.dispatcher"].submit([delivery_id for delivery_id, _, _ in planned])
        assert harness.settle(self.app, timeout=60)

    def in_this_thread(self, planned) -> None:
        """The pool's work without threads (one claim, the sends, one record): cProfile sees it all."""
        with self.app.app_context():
            deliver([delivery_id for delivery_id, _, _ in planned])

    def one_by_one(self, planned) -> None:
        """Each message as a retry goes: claimed, sent and recorded alone, in this thread (diagnostic)."""
        for delivery_id, _, _ in planned:
            with self.app.app_context():
                deliver([delivery_id])

    def with_apprise(self, planned) -> None:
        for plugin, (_, _, (title, body)) in zip(self.apprise, planned, strict=True):
            assert plugin.notify(body=body, title=title)

    def all_sent(self, planned) -> bool:
        ids = [delivery_id for delivery_id, _, _ in planned]
        return harness.count_status(self.app, ids, DeliveryStatus.SENT) == len(ids)


def _apprise_feishu(token: str, base_url: str) -> NotifyFeishu:
    """Apprise's own Feishu plugin, throttle off, posting to the emulator instead of open.feishu.cn."""
    plugin = apprise.Apprise.instantiate(f"feishu://{token}")
    assert isinstance(plugin, NotifyFeishu)
    # Its address is a class constant with Feishu's host (and a trailing slash the emulator's path refuses).
    plugin.notify_url = base_url + "/open-apis/bot/v2/hook/{token}"
    plugin.request_rate_per_sec = 0  # by default it sleeps 5.5 s between two messages
    return plugin


def run(workspace: Workspace, remote) -> list[Result]:
    setup, parallel = Setup(workspace, remote, workers=1), Setup(workspace, remote, workers=4)
    ways = {
        "floor": (setup, setup.floor),
        "herald": (setup, setup.herald),
        "herald-4": (parallel, parallel.herald),
        "one-by-one": (setup, setup.one_by_one),
        "apprise": (setup, setup.with_apprise),
    }
    for each in (setup, parallel):  # warm up every path once
        warm = each.plan()
        each.floor(warm), each.herald(warm), each.with_apprise(warm)
    per_message: dict[str, list[float]] = {name: [] for name in ways}
    unsent = 0
    for round_number in range(ROUNDS):
        names = list(ways)
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            owner, way = ways[name]
            planned = owner.plan()  # a new event each: every way sends messages never sent before
            per_message[name].append(timed(lambda way=way, planned=planned: way(planned)) / len(planned))
            if name.startswith("herald") or name == "one-by-one":
                unsent += 0 if owner.all_sent(planned) else 1
    planned = setup.plan()
    total, parts = profiling.profile(lambda: setup.in_this_thread(planned))
    breakdown = profiling.describe(total, parts, per=len(planned))
    floor = median(per_message["floor"])
    messages = ROUNDS * ROBOTS
    sent = "all sent" if not unsent else f"{unsent} rounds not all sent"
    return [
        Result(
            "Robot message, floor: pooled requests.Session",
            floor,
            runs=per_message["floor"],
            note=f"{messages} posts of Herald's Feishu payload, one after another",
        ),
        Result(
            "Robot message, Herald, one worker (claim, pace, build, post, classify, record)",
            median(per_message["herald"]),
            floor=floor,
            floor_name="floor",
            target=1.1,
            runs=per_message["herald"],
            note=f"{sent}; one event's {ROBOTS} messages handed to a pool of one worker, as a commit hands "
            "them on, until every attempt is recorded; profile per message (the same work in one thread): "
            + breakdown,
        ),
        Result(
            "Robot message, Herald, four workers (production default)",
            median(per_message["herald-4"]),
            floor=floor,
            floor_name="floor",
            runs=per_message["herald-4"],
            note="the same with the default pool: sends overlap, so this is time per message, not cost",
        ),
        Result(
            "Robot message, Herald, each message alone (as a retry goes)",
            median(per_message["one-by-one"]),
            floor=floor,
            floor_name="floor",
            runs=per_message["one-by-one"],
            note="deliver([id]) per message in this thread: its own claim, post and record transaction",
        ),
        Result(
            "Robot message, Apprise 2.2.0 Feishu plugin (throttle off)",
            median(per_message["apprise"]),
            floor=floor,
            floor_name="floor",
            runs=per_message["apprise"],
            note="its own text payload; requests.post without a pooled session",
        ),
    ]
