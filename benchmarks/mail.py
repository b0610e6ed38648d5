"""One event mailed to 200 people: Herald against one bare smtplib session, and Flask-Mail's default."""

import smtplib
import ssl
from email.message import EmailMessage

from flask import Flask
from flask_mail import Mail, Message

from benchmarks import harness, profiling
from benchmarks.harness import Result, Workspace, median, timed
from webapp.extensions import db
from webapp.models import Delivery, Project, User
from webapp.models.notifications import DeliveryStatus
from webapp.notifications.delivery import deliver
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput

ROUNDS = 5
RECIPIENTS = 200
SENDER = ("Herald", "herald@qq.example")


class Setup:
    def __init__(self, workspace: Workspace, remote) -> None:
        self.app = workspace.app("mail")
        self.remote = remote
        self.server = remote.smtp_server("mail", mode="ssl")
        with self.app.app_context():
            harness.mail_through(self.server)
            owner = harness.admin()
            self.actor_id = owner.id
            readers = harness.people(RECIPIENTS, "reader")
            # The actor is no member: exactly the 200 members get the mail.
            self.project_id = harness.project("Checkout", None, readers).id
            harness.mail_on(self.project_id, receivers=["members"])
        self.flask_mail = _flask_mail_default(self.server)
        self.context = ssl.create_default_context(cadata=self.server["ca_pem"])
        self.events = 0

    def plan(self) -> list[tuple[int, str, str, str, str]]:
        """A new event's mails, planned but not sent: (delivery id, to, subject, text, html)."""
        self.events += 1
        with self.app.app_context(), harness.collecting(self.app) as collected:
            project = db.session.get(Project, self.project_id)
            actor = db.session.get(User, self.actor_id)
            case_service.create_case(project, actor, CaseInput(title=f"Refund to card #{self.events}"))
        [batch] = collected.batches  # all mail in one job: one SMTP session
        with self.app.app_context():
            rows = [db.session.get(Delivery, i) for i in batch]
            return [(d.id, d.target, d.subject, d.body_text, d.body_html) for d in rows]

    def floor(self, planned) -> None:
        """One session, the same messages composed with the standard library and sent back to back."""
        account = self.server["account"]
        with smtplib.SMTP_SSL(self.server["host"], self.server["port"], context=self.context) as session:
            session.login(*account)
            for _, to, subject, text, html in planned:
                message = EmailMessage()
                message["Subject"], message["From"], message["To"] = subject, account[0], to
                message.set_content(text)
                message.add_alternative(html, subtype="html")
                session.send_message(message)

    def herald(self, planned) -> None:
        """The event's mail as a commit hands it on: one job to the pool, until every attempt is recorded."""
        self.app.extensions["herald.dispatcher"].submit([delivery_id for delivery_id, *_ in planned])
        assert harness.settle(self.app, timeout=120)

    def in_this_thread(self, planned) -> None:
        """The pool's work without threads (one claim, one session, one record): cProfile sees it all."""
        with self.app.app_context():
            deliver([delivery_id for delivery_id, *_ in planned])

    def one_session_each(self, planned) -> None:
        """Flask-Mail as its documentation shows it: mail.send(message), a new SMTP session per message."""
        app, mail = self.flask_mail
        with app.app_context():
            for _, to, subject, text, html in planned:
                mail.send(Message(subject=subject, recipients=[to], body=text, html=html, sender=SENDER))

    def all_sent(self, planned) -> bool:
        ids = [delivery_id for delivery_id, *_ in planned]
        return harness.count_status(self.app, ids, DeliveryStatus.SENT) == len(ids)


def _flask_mail_default(server: dict) -> tuple[Flask, Mail]:
    """A bare Flask app with Flask-Mail configured for the same server (implicit TLS, login)."""
    app = Flask("flask-mail-default")
    app.config.update(
        MAIL_SERVER=server["host"],
        MAIL_PORT=server["port"],
        MAIL_USE_SSL=True,
        MAIL_USERNAME=server["account"][0],
        MAIL_PASSWORD=server["account"][1],
    )
    return app, Mail(app)


def run(workspace: Workspace, remote) -> list[Result]:
    setup = Setup(workspace, remote)
    ways = {"floor": setup.floor, "herald": setup.herald, "flask_mail": setup.one_session_each}
    warm = setup.plan()
    for way in ways.values():
        way(warm[:5])
    setup.herald(warm)
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    unsent, sessions = 0, []
    for round_number in range(ROUNDS):
        planned = setup.plan()
        names = list(ways)
        names = names[round_number % 3 :] + names[: round_number % 3]
        for name in names:
            remote.mail_forget("mail")
            seconds[name].append(timed(lambda name=name, planned=planned: ways[name](planned)))
            if name == "herald":
                sessions.append(remote.mail_sessions("mail"))
        unsent += 0 if setup.all_sent(planned) else 1
    planned = setup.plan()
    total, parts = profiling.profile(lambda: setup.in_this_thread(planned))
    floor = median(seconds["floor"])
    herald_note = "all 200 sent" if not unsent else f"{unsent} rounds not all sent"
    herald_note += f" in {max(sessions)} SMTP session(s); profile per mail: " + profiling.describe(
        total, parts, per=len(planned)
    )
    return [
        Result(
            f"Mail to {RECIPIENTS}, floor: one smtplib session (implicit TLS)",
            floor,
            runs=seconds["floor"],
        ),
        Result(
            f"Mail to {RECIPIENTS}, Herald (one claim, one session, every mail recorded)",
            median(seconds["herald"]),
            floor=floor,
            floor_name="floor",
            target=1.1,
            runs=seconds["herald"],
            note=herald_note,
        ),
        Result(
            f"Mail to {RECIPIENTS}, Flask-Mail default (a session per message)",
            median(seconds["flask_mail"]),
            floor=floor,
            floor_name="floor",
            runs=seconds["flask_mail"],
        ),
    ]
