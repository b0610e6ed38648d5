"""Bursts against the providers' real rate limits: 20 messages to one Feishu robot, 1,000 events to five."""

import time

from sqlalchemy import func, select

from benchmarks import harness
from benchmarks.harness import Result, Workspace
from webapp.extensions import db
from webapp.models import Case, Delivery, Project, User
from webapp.models.notifications import OPEN, DeliveryStatus
from webapp.notifications.events import case_snapshot, record_event
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput

BURST = 20
FEISHU_DEADLINE = 5.0  # Feishu takes 5 messages a second: 20 fit in 4 s
ROBOT_KINDS = ("feishu", "lark", "wecom", "dingtalk", "webhook")
EVENTS = 1000
EDIT = 50  # events per transaction: a bulk edit of 50 cases
# How long to wait for the big burst to drain: the per-minute windows (WeCom, DingTalk: 20 a minute) free up
# after 60 s, and the sweeper hands deferred messages back every 30 s.
DRAIN_LIMIT = 150.0


def _rows(app, project_ids) -> list[tuple[int, str, int | None, str]]:
    with app.app_context():
        return db.session.execute(
            select(Delivery.id, Delivery.status, Delivery.merged_into_id, Delivery.channel).where(
                Delivery.project_id.in_(list(project_ids))
            )
        ).all()


def _open(app, project_ids) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).where(Delivery.project_id.in_(list(project_ids)), Delivery.status.in_(OPEN))
        )


def _accounted(rows) -> tuple[int, int, int]:
    """(sent, merged into a sent digest, neither)."""
    sent = {i for i, status, _, _ in rows if status == DeliveryStatus.SENT}
    merged = sum(1 for _, status, into, _ in rows if status == DeliveryStatus.MERGED and into in sent)
    return len(sent), merged, len(rows) - len(sent) - merged


def _duplicates(texts: list[str], titles: list[str]) -> int:
    """Titles that reached the group in more than one message."""
    return sum(1 for title in titles if sum(1 for text in texts if title in text) > 1)


def _serving(app):
    """The app as a server runs it: its first request starts the sweeper that hands back deferred messages."""
    assert app.test_client().get("/login").status_code == 200
    return app


def feishu_twenty(workspace: Workspace, remote) -> Result:
    app = _serving(workspace.app("burst-20"))
    remote.emulator("burst20", "feishu")  # the real limits: 5 a second, 100 a minute
    with app.app_context():
        owner = harness.admin()
        project = harness.project("Checkout", owner)
        harness.robot(project.id, "feishu", remote.url("burst20"), "Feishu group")
        titles = [f"[F{i:03d}] Pay by card" for i in range(BURST)]
        started = time.perf_counter()
        for title in titles:
            case_service.create_case(project, owner, CaseInput(title=title))
        saved = time.perf_counter() - started
        project_id = project.id
    drained = harness.wait_until(lambda: _open(app, [project_id]) == 0, timeout=30, poll=0.01)
    seconds = time.perf_counter() - started
    harness.wait_until(lambda: harness.jobs(app) == 0, timeout=15)  # nothing in flight while counting
    sent, merged, lost = _accounted(_rows(app, [project_id]))
    limited = remote.rate_limited("burst20")
    texts = remote.texts("burst20")
    duplicates = _duplicates(texts, titles)
    met = drained is not None and seconds <= FEISHU_DEADLINE and limited == 0 and lost == 0 and not duplicates
    return Result(
        f"Burst of {BURST} to one Feishu robot: time until all delivered",
        seconds if drained is not None else float("inf"),
        target=FEISHU_DEADLINE,
        met=met,
        note=(
            f"saves took {saved:.2f} s; {sent} sent, {merged} merged into digests, "
            f"{lost} not delivered{' (still waiting after 30 s)' if lost else ''}; "
            f"{limited} rate-limit replies; {len(texts)} group messages; {duplicates} titles twice"
        ),
    )


def _bulk_edit(project: Project, actor: User, cases: list[Case]) -> None:
    """Raise the priority of many cases in one transaction: one case.updated event each."""
    for case in cases:
        before = case.priority
        case.priority = "P0" if before != "P0" else "P1"
        record_event(
            "case.updated",
            project,
            actor,
            case,
            case=case_snapshot(case),
            changes={"priority": [before, case.priority]},
        )
    db.session.commit()


def thousand(workspace: Workspace, remote) -> Result:
    app = _serving(workspace.app("burst-1000"))
    per_robot = EVENTS // len(ROBOT_KINDS)
    titles: dict[str, list[str]] = {}
    with app.app_context():
        owner = harness.admin()
        projects = {}
        for kind in ROBOT_KINDS:
            remote.emulator(f"burst-{kind}", kind)  # the real limits
            project = harness.project(f"Burst {kind}", owner)
            harness.robot(
                project.id, kind, remote.url(f"burst-{kind}"), f"{kind} group", events=["case.updated"]
            )
            titles[kind] = [f"[{kind}-{i:04d}] Refund flow" for i in range(per_robot)]
            db.session.add_all(
                Case(project_id=project.id, title=t, priority="P2", created_by_id=owner.id)
                for t in titles[kind]
            )
            db.session.commit()
            projects[kind] = project
        project_ids = [p.id for p in projects.values()]
        started = time.perf_counter()
        for chunk in range(0, per_robot, EDIT):  # the bulk edits of the five projects take turns
            for project in projects.values():
                cases = db.session.scalars(
                    select(Case)
                    .where(Case.project_id == project.id)
                    .order_by(Case.id)
                    .offset(chunk)
                    .limit(EDIT)
                ).all()
                _bulk_edit(project, db.session.get(User, owner.id), cases)
        saved = time.perf_counter() - started
    drained = harness.wait_until(lambda: _open(app, project_ids) == 0, timeout=DRAIN_LIMIT, poll=0.25)
    seconds = time.perf_counter() - started
    harness.wait_until(lambda: harness.jobs(app) == 0, timeout=15)  # nothing in flight while counting
    rows = _rows(app, project_ids)
    sent, merged, lost = _accounted(rows)
    limited_by = {kind: remote.rate_limited(f"burst-{kind}") for kind in ROBOT_KINDS}
    limited = sum(limited_by.values())
    duplicates, extra, digests = 0, 0, 0
    for kind in ROBOT_KINDS:
        texts = remote.texts(f"burst-{kind}")
        duplicates += _duplicates(texts, titles[kind])
        mine = [(status, into) for _, status, into, channel in rows if channel == kind]
        sent_here = sum(1 for status, _ in mine if status == DeliveryStatus.SENT)
        extra += max(0, len(texts) - sent_here)  # a group message no sent row accounts for: sent twice
        digests += len({into for status, into in mine if status == DeliveryStatus.MERGED})
    open_left = sum(1 for _, status, _, _ in rows if status in OPEN)
    met = drained is not None and lost == 0 and duplicates == 0 and extra == 0
    return Result(
        f"Burst of {EVENTS} events over {len(ROBOT_KINDS)} robots: time to drain",
        seconds if drained is not None else float("inf"),
        met=met,
        note=f"{len(rows)} messages: {sent} sent ({digests} digests), {merged} merged into them, "
        f"{lost} not delivered"
        + (f" ({open_left} still waiting after {DRAIN_LIMIT:.0f} s)" if lost else "")
        + f"; {duplicates} titles twice, {extra} extra group messages; {limited} rate-limit replies"
        + "".join(f" ({kind}: {count})" for kind, count in limited_by.items() if count)
        + "; "
        f"events saved in {saved:.1f} s ({EVENTS // EDIT} bulk edits of {EDIT})",
    )


def run(workspace: Workspace, remote) -> list[Result]:
    return [feishu_twenty(workspace, remote), thousand(workspace, remote)]
