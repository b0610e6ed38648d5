"""The case list of a project with 10,000 cases, against the same page of an empty project."""

import random
from datetime import timedelta

from benchmarks import harness
from benchmarks.harness import Result, Workspace, median, timed
from webapp.extensions import db
from webapp.models import Case
from webapp.models._types import utcnow

CASES = 10_000
ROUNDS = 5
REQUESTS = 8  # per page and round
MODULES = ("Login", "Checkout/Card", "Checkout/Wallet", "Search", "Profile", "Orders/Refund")
WORDS = ("pay", "refund", "login", "search", "address", "coupon", "wallet", "invoice", "cart", "stock")


def _cases(project_id: int, owner_id: int, maintainer_ids: list[int], count: int = CASES) -> None:
    """A project's cases (set-up only: inserted in one transaction, with no events)."""
    chance = random.Random(6)
    start = utcnow() - timedelta(days=400)
    rows = []
    for i in range(count):
        words = chance.sample(WORDS, 3)
        moment = start + timedelta(minutes=i * 57)
        rows.append(
            Case(
                project_id=project_id,
                title=f"{' '.join(words).capitalize()} case {i:05d}",
                module=chance.choice(MODULES),
                priority=chance.choice(("P0", "P1", "P2", "P3")),
                steps="1. Open the page\n2. Do the thing\n3. Look",
                expected="It works",
                tags=f",{words[0]},regression,",
                maintainer_id=chance.choice(maintainer_ids),
                created_by_id=owner_id,
                updated_by_id=owner_id,
                created_at=moment,
                updated_at=moment,
            )
        )
    db.session.add_all(rows)
    db.session.commit()


def run(workspace: Workspace, remote) -> list[Result]:
    app = workspace.app("case-list")
    with app.app_context():
        owner = harness.admin()
        members = harness.people(20, "tester")
        full = harness.project("Checkout", owner, members).id
        empty = harness.project("Empty", owner, members).id
        one_page = harness.project("One page", owner, members).id
        _cases(full, owner.id, [m.id for m in members])
        _cases(one_page, owner.id, [m.id for m in members], count=app.config["CASES_PER_PAGE"])
    client = app.test_client().login("bench.admin@example.com")
    pages = {
        "empty": f"/projects/{empty}/cases/",
        "one_page": f"/projects/{one_page}/cases/",
        "first": f"/projects/{full}/cases/",
        "deep": f"/projects/{full}/cases/?page=200",
        "search": f"/projects/{full}/cases/?q=refund+coupon",
        "fragment": f"/projects/{full}/cases/?q=refund&priority=P1",
    }

    def fetch(url: str, htmx: bool = False) -> None:
        response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
        assert response.status_code == 200, (url, response.status_code)

    for url in pages.values():  # warm up
        fetch(url)
    times: dict[str, list[float]] = {name: [] for name in pages}
    for round_number in range(ROUNDS):
        names = list(pages)
        names = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in names:
            runs = [
                timed(lambda name=name: fetch(pages[name], htmx=name == "fragment")) for _ in range(REQUESTS)
            ]
            times[name].append(median(runs))
    floor = median(times["empty"])

    def against_empty(name: str, label: str) -> Result:
        return Result(label, median(times[name]), floor=floor, floor_name="empty project", runs=times[name])

    return [
        Result(
            "Case list, empty project", floor, runs=times["empty"], note=f"{ROUNDS * REQUESTS} requests each"
        ),
        against_empty("one_page", "Case list, one page of cases (25)"),
        against_empty("first", f"Case list, {CASES:,} cases, first page"),
        against_empty("deep", f"Case list, {CASES:,} cases, page 200"),
        against_empty("search", f"Case list, {CASES:,} cases, search for two words"),
        against_empty("fragment", f"Case list, {CASES:,} cases, HTMX fragment: search + priority"),
    ]
